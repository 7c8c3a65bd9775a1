"""Specifications through real processes: the CLI, servers, kills."""
