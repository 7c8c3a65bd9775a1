"""The read models' SQL tables, the runner that keeps them, their queries and reconciliation."""
