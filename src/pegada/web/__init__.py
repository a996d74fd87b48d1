"""Pages for people: the API docs now, the dashboard later."""
