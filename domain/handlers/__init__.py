"""The use cases: each command checked, then recorded on its aggregates through the unit of work."""
