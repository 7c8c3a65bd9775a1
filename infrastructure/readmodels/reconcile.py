"""`lossledger reconcile`: every read model checked against the aggregates and the zero-sum rule.

This module loads the aggregates from the event store and the rows from the read models'
tables; the comparisons are projections/reconcile.py. Each discrepancy is data: {"check",
"key", "expected", "actual"}; none means the books agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from sqlalchemy import select

from domain.core.errors import ensure, present
from domain.core.ids import INSURANCE_FUND_ID
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
from projections.reconcile import (
    Discrepancy,
    account_discrepancies,
    cycle_discrepancies,
    differ,
    fund_discrepancies,
    missing_row,
    zero_sum,
)

MAX_LISTED = 10**9


def _created(models: ReadModels, topic: str) -> list[UUID]:
    notifications = models.ledger.recorder.select_notifications(
        start=1, limit=MAX_LISTED, topics=[topic]
    )
    return [UUID(str(n.originator_id)) for n in notifications]


def reconcile(models: ReadModels) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    found += differ("read models caught up", "tracking", models.log_position(), models.position())
    with models.engine.connect() as connection:
        rows = {r["account_id"]: dict(r) for r in connection.execute(select(balances)).mappings()}
        ledger = {
            r.ledger_account: Decimal(r.balance)
            for r in connection.execute(select(ledger_balances))
        }
        in_order = select(insurance_fund_history).order_by(insurance_fund_history.c.notification_id)
        fund_rows = [dict(r) for r in connection.execute(in_order).mappings()]
        cycle_rows = {r["cycle_id"]: dict(r) for r in connection.execute(select(cycles)).mappings()}
        by_rank = select(participants).order_by(participants.c.cycle, participants.c.rank)
        participant_rows = connection.execute(by_rank).mappings().all()
    found += zero_sum(ledger)
    found += _accounts(models, rows, ledger)
    found += fund_discrepancies(_fund(models), fund_rows, ledger)
    found += _cycles(models, cycle_rows, participant_rows)
    return found


def _accounts(
    models: ReadModels, rows: dict[str, dict[str, Any]], ledger: dict[str, Decimal]
) -> Iterator[Discrepancy]:
    seen = set()
    for account_id in _created(models, "domain.accounts:Account.Opened"):
        account = present(models.ledger.account(account_id), "an Account.Opened opens an Account")
        key = str(account_id)
        seen.add(key)
        row = rows.get(key)
        if row is None:
            yield missing_row("balance row", account.account)
        else:
            yield from account_discrepancies(account, row, ledger)
    for key in sorted(set(rows) - seen):
        yield {
            "check": "balance row",
            "key": rows[key]["account"],
            "expected": None,
            "actual": "a row without an account",
        }


def _fund(models: ReadModels) -> InsuranceFund | None:
    try:
        fund: InsuranceFund = models.ledger.repository.get(INSURANCE_FUND_ID)
    except AggregateNotFoundError:
        return None
    ensure(isinstance(fund, InsuranceFund), "the insurance fund id names the fund")
    return fund


def _cycles(
    models: ReadModels, cycle_rows: dict[str, dict[str, Any]], participant_rows: Any
) -> Iterator[Discrepancy]:
    by_cycle: dict[str, list[list[Any]]] = {}
    for row in participant_rows:
        shared = [row["rank"], row["account"], row["contract"]]
        by_cycle.setdefault(row["cycle"], []).append(
            [*shared, Decimal(row["profit"]), Decimal(row["share"])]
        )
    for cycle_id in _created(models, "domain.cycles:Cycle.Opened"):
        cycle: Cycle = models.ledger.repository.get(cycle_id)
        ensure(isinstance(cycle, Cycle), "a Cycle.Opened event opens a Cycle")
        row = cycle_rows.get(str(cycle_id))
        if row is None:
            yield missing_row("cycle row", cycle.cycle)
        else:
            yield from cycle_discrepancies(cycle, row, by_cycle.get(cycle.cycle, []))
