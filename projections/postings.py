"""Balances as a pure fold of the postings the events carry."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any


def postings_of(event: Any) -> list[list[Any]]:
    return list(getattr(event, "postings", None) or [])


def balances_from_events(events: Iterable[Any]) -> dict[str, Decimal]:
    """Every ledger account's balance after the given events."""
    balances: dict[str, Decimal] = defaultdict(Decimal)
    for event in events:
        for debit_account, credit_account, amount, *_kind_and_contract in postings_of(event):
            balances[debit_account] -= amount
            balances[credit_account] += amount
    return dict(balances)
