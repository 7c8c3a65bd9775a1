"""Reconciliation as pure comparisons: an aggregate against the read-model rows said to mirror it.

Each discrepancy is data: {"check", "key", "expected", "actual"}; none means they agree. The
loading of the aggregates and the rows is infrastructure's (infrastructure/readmodels/
reconcile.py); what counts as agreeing is here, where it can be read and tested alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from domain.accounts import Account
from domain.core.postings import INSURANCE_FUND, cash_account, margin_account
from domain.cycles import Cycle
from domain.insurance_fund import InsuranceFund
from projections.rows import plain

Discrepancy = dict[str, Any]
ZERO = Decimal(0)


def differ(check: str, key: str, expected: object, actual: object) -> Iterator[Discrepancy]:
    """A discrepancy when the two differ; amounts compare as numbers and print as strings."""
    if expected != actual:
        if isinstance(expected, Decimal):
            expected = plain(expected)
        if isinstance(actual, Decimal):
            actual = plain(actual)
        yield {"check": check, "key": key, "expected": expected, "actual": actual}


def missing_row(check: str, key: str) -> Discrepancy:
    return {"check": check, "key": key, "expected": "a row", "actual": None}


def zero_sum(ledger: Mapping[str, Decimal]) -> Iterator[Discrepancy]:
    """Double entry: the balances of all ledger accounts add up to zero."""
    yield from differ("zero sum", "all ledger accounts", ZERO, sum(ledger.values(), ZERO))


def account_discrepancies(
    account: Account, row: Mapping[str, Any], ledger: Mapping[str, Decimal]
) -> Iterator[Discrepancy]:
    """The account's balance row and its two ledger accounts against the aggregate."""
    expected = {
        "cash": account.cash,
        "margin": account.margin,
        "withheld": account.withheld,
        "available": account.available,
    }
    for field, value in expected.items():
        yield from differ(f"balance {field}", account.account, value, Decimal(row[field]))
    cash = ledger.get(cash_account(account.account), ZERO)
    yield from differ("ledger cash", account.account, account.cash, cash)
    margin = ledger.get(margin_account(account.account), ZERO)
    yield from differ("ledger margin", account.account, account.margin, margin)


def fund_discrepancies(
    fund: InsuranceFund | None,
    fund_rows: Iterable[Mapping[str, Any]],
    ledger: Mapping[str, Decimal],
) -> Iterator[Discrepancy]:
    """The fund's history rows (oldest first) and its ledger account against the aggregate."""
    rows = list(fund_rows)
    if fund is None:
        yield from differ("insurance fund history", "rows", 0, len(rows))
        return
    balance = fund.balance
    last = Decimal(rows[-1]["balance_after"]) if rows else ZERO
    total = sum((Decimal(r["amount"]) for r in rows), ZERO)
    yield from differ("insurance fund history balance_after", "last row", balance, last)
    yield from differ("insurance fund history amounts", "sum", balance, total)
    in_ledger = ledger.get(INSURANCE_FUND, ZERO)
    yield from differ("ledger insurance_fund", INSURANCE_FUND, balance, in_ledger)


def cycle_discrepancies(
    cycle: Cycle, row: Mapping[str, Any], participant_rows: list[list[Any]]
) -> Iterator[Discrepancy]:
    """The cycle's row and its participants' rows ([rank, account, contract, profit, share],
    in rank order) against the aggregate."""
    status = "settled" if cycle.settled else "open"
    yield from differ("cycle status", cycle.cycle, status, row["status"])
    yield from differ("cycle deficit", cycle.cycle, cycle.deficit, Decimal(row["deficit"]))
    yield from differ("cycle refunded", cycle.cycle, cycle.refunded, Decimal(row["refunded"]))
    if cycle.settlement is not None:
        digest = (row["summary"] or {}).get("digest")
        yield from differ("cycle digest", cycle.cycle, cycle.settlement["digest"], digest)
    expected = [
        [p["rank"], p["account"], p["contract"], p["profit"], p["share"]]
        for p in cycle.participants
    ]
    yield from differ("cycle participants", cycle.cycle, expected, participant_rows)
