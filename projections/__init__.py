"""Read models as pure folds over the ledger's events."""
