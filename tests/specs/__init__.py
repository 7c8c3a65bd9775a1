"""Specifications in process, on both backends."""
