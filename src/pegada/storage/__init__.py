"""Storage: the engine, the schema, migrations and repositories — the only place with SQL."""
