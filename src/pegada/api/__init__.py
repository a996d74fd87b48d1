"""HTTP API: thin handlers (parse → one domain call → reply) and the error mapping."""
