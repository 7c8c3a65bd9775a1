"""Double entry: every balance change is a posting from one ledger account to another.

A posting moves `amount` out of `debit_account` into `credit_account`, so the sum of all
balances is zero after every event by construction. Events carry their postings.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from domain.core.errors import ensure

INSURANCE_FUND = "insurance_fund"
CLEARING = "clearing"
PLATFORM = "platform"
EXTERNAL = "external"

# A posting as stored in an event: [debit_account, credit_account, amount, kind], and a fifth
# element, the contract, where the money belongs to one position (settlement bookings, shares).
Posting = list[object]


def cash_account(account: str) -> str:
    """The trader's free balance."""
    return f"trader:{account}"


def margin_account(account: str) -> str:
    """The trader's margin set aside in positions (isolated margin)."""
    return f"margin:{account}"


def posting(
    debit_account: str, credit_account: str, amount: Decimal, kind: str, contract: str | None = None
) -> Posting:
    """A posting of a non-negative amount; a negative flow is turned around."""
    if amount < 0:
        debit_account, credit_account, amount = credit_account, debit_account, -amount
    ensure(debit_account != credit_account, "a posting moves money between two accounts")
    entry: Posting = [debit_account, credit_account, amount, kind]
    return [*entry, contract] if contract else entry


def postings_without_zero(postings: Iterable[Posting]) -> list[Posting]:
    return [entry for entry in postings if entry[2] != 0]
