"""Persistence settings, runners, the command line."""
