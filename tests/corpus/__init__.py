"""Corpora of command lines the specifications feed to the ledger."""
