"""Specifications of pure functions and values: no database, no file store, no process."""
