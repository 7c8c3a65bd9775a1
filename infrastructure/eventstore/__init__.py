"""The event store: database URLs, the hash-chained recorders of SQLite and PostgreSQL."""
