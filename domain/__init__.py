"""The business of socialized loss: no I/O, no clock, no database."""
