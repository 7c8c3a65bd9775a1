"""`lossledger reconcile`: every read model checked against the aggregates and the zero-sum rule.

Each discrepancy is data: {"check", "key", "expected", "actual"}; none means the books agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import select

from domain.accounts import Account
from domain.core.errors import ensure
from domain.core.ids import INSURANCE_FUND_ID
from domain.core.postings import INSURANCE_FUND, cash_account, margin_account
from domain.cycles import Cycle
from domain.insurance_fund import InsuranceFund
from infrastructure.readmodels.runner import ReadModels
from infrastructure.readmodels.tables import (
    balances,
    cycles,
    insurance_fund_history,
    ledger_balances,
    participants,
)
from projections.rows import plain

Discrepancy = dict[str, Any]
MAX_LISTED = 10**9


def _differ(check: str, key: str, expected: object, actual: object) -> Iterator[Discrepancy]:
    """A discrepancy when the two differ; amounts compare as numbers and print as strings."""
    if expected != actual:
        if isinstance(expected, Decimal):
            expected = plain(expected)
        if isinstance(actual, Decimal):
            actual = plain(actual)
        yield {"check": check, "key": key, "expected": expected, "actual": actual}


def _created(models: ReadModels, topic: str) -> list[UUID]:
    notifications = models.ledger.recorder.select_notifications(
        start=1, limit=MAX_LISTED, topics=[topic]
    )
    return [UUID(str(n.originator_id)) for n in notifications]


def reconcile(models: ReadModels) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    found += _differ("read models caught up", "tracking", models.log_position(), models.position())
    with models.engine.connect() as connection:
        rows = {r["account_id"]: dict(r) for r in connection.execute(select(balances)).mappings()}
        ledger = {
            r.ledger_account: Decimal(r.balance)
            for r in connection.execute(select(ledger_balances))
        }
        fund_rows = (
            connection.execute(
                select(insurance_fund_history).order_by(insurance_fund_history.c.notification_id)
            )
            .mappings()
            .all()
        )
        cycle_rows = {r["cycle_id"]: dict(r) for r in connection.execute(select(cycles)).mappings()}
        participant_rows = (
            connection.execute(
                select(participants).order_by(participants.c.cycle, participants.c.rank)
            )
            .mappings()
            .all()
        )
    found += _differ(
        "zero sum", "all ledger accounts", Decimal(0), sum(ledger.values(), Decimal(0))
    )
    found += _accounts(models, rows, ledger)
    found += _fund(models, fund_rows, ledger)
    found += _cycles(models, cycle_rows, participant_rows)
    return found


def _accounts(
    models: ReadModels, rows: dict[str, dict[str, Any]], ledger: dict[str, Decimal]
) -> Iterator[Discrepancy]:
    seen = set()
    for account_id in _created(models, "domain.accounts:Account.Opened"):
        account: Account = models.ledger.repository.get(account_id)
        ensure(isinstance(account, Account), "an Account.Opened event opens an Account")
        key = str(account_id)
        seen.add(key)
        row = rows.get(key)
        if row is None:
            yield {
                "check": "balance row",
                "key": account.account,
                "expected": "a row",
                "actual": None,
            }
            continue
        expected = {
            "cash": account.cash,
            "margin": account.margin,
            "withheld": account.withheld,
            "available": account.available,
        }
        for field, value in expected.items():
            yield from _differ(f"balance {field}", account.account, (value), (Decimal(row[field])))
        yield from _differ(
            "ledger cash",
            account.account,
            (account.cash),
            (ledger.get(cash_account(account.account), Decimal(0))),
        )
        yield from _differ(
            "ledger margin",
            account.account,
            (account.margin),
            (ledger.get(margin_account(account.account), Decimal(0))),
        )
    for key in sorted(set(rows) - seen):
        yield {
            "check": "balance row",
            "key": rows[key]["account"],
            "expected": None,
            "actual": "a row without an account",
        }


def _fund(models: ReadModels, fund_rows: Any, ledger: dict[str, Decimal]) -> Iterator[Discrepancy]:
    try:
        fund: InsuranceFund = models.ledger.repository.get(INSURANCE_FUND_ID)
    except Exception:
        yield from _differ("insurance fund history", "rows", 0, len(fund_rows))
        return
    ensure(isinstance(fund, InsuranceFund), "the insurance fund id names the fund")
    balance = fund.balance
    last = (Decimal(fund_rows[-1]["balance_after"])) if fund_rows else Decimal(0)
    total = sum((Decimal(r["amount"]) for r in fund_rows), Decimal(0))
    yield from _differ("insurance fund history balance_after", "last row", balance, last)
    yield from _differ("insurance fund history amounts", "sum", balance, total)
    yield from _differ(
        "ledger insurance_fund",
        INSURANCE_FUND,
        balance,
        (ledger.get(INSURANCE_FUND, Decimal(0))),
    )


def _cycles(
    models: ReadModels, cycle_rows: dict[str, dict[str, Any]], participant_rows: Any
) -> Iterator[Discrepancy]:
    by_cycle: dict[str, list[Any]] = {}
    for row in participant_rows:
        by_cycle.setdefault(row["cycle"], []).append(
            [
                row["rank"],
                row["account"],
                row["contract"],
                Decimal(row["profit"]),
                Decimal(row["share"]),
            ]
        )
    for cycle_id in _created(models, "domain.cycles:Cycle.Opened"):
        cycle: Cycle = models.ledger.repository.get(cycle_id)
        ensure(isinstance(cycle, Cycle), "a Cycle.Opened event opens a Cycle")
        row = cycle_rows.get(str(cycle_id))
        if row is None:
            yield {"check": "cycle row", "key": cycle.cycle, "expected": "a row", "actual": None}
            continue
        yield from _differ(
            "cycle status", cycle.cycle, "settled" if cycle.settled else "open", row["status"]
        )
        yield from _differ("cycle deficit", cycle.cycle, (cycle.deficit), (Decimal(row["deficit"])))
        yield from _differ("cycle refunded", cycle.cycle, cycle.refunded, Decimal(row["refunded"]))
        if cycle.settlement is not None:
            yield from _differ(
                "cycle digest",
                cycle.cycle,
                cycle.settlement["digest"],
                (row["summary"] or {}).get("digest"),
            )
        expected = [
            [p["rank"], p["account"], p["contract"], p["profit"], p["share"]]
            for p in cycle.participants
        ]
        yield from _differ(
            "cycle participants", cycle.cycle, expected, by_cycle.get(cycle.cycle, [])
        )
