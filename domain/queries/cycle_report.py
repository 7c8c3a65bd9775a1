"""Reading a cycle: the `cycle show` document of SPEC 7, from the cycle's recorded settlement."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.core.errors import LedgerError
from domain.core.ids import cycle_id
from domain.core.money import fmt, fmt_plain
from domain.cycles import Cycle
from domain.handlers.settlement import cycle_accounts
from domain.ledger import LossLedger

AMOUNT_FIELDS = (
    "deficit",
    "fund_balance_before",
    "fund_drawn",
    "fund_balance_after",
    "to_share",
    "total_profit",
    "selected_profit",
    "collected",
    "uncovered",
)


class UnknownCycleError(LedgerError):
    """Raised when a cycle id names no cycle."""


class CycleNotSettledError(LedgerError):
    """Raised when a settlement is asked of a cycle that is still open."""


def load_cycle(ledger: LossLedger, name: str) -> Cycle:
    cycle = ledger.unit.find(cycle_id(name), Cycle)
    if cycle is None:
        raise UnknownCycleError(f"cycle {name} was never opened")
    return cycle


def cycle_document(ledger: LossLedger, name: str) -> dict[str, Any]:
    """The `cycle show` document (SPEC 7): the digest input plus the settlement's figures."""
    cycle = load_cycle(ledger, name)
    policy = ledger.unit.policy(cycle.policy_version)
    quantum = policy.quantum
    document: dict[str, Any] = {
        "cycle": cycle.cycle,
        "status": "settled" if cycle.settled else "open",
        "policy": policy.to_json(),
        "opening_marks": {c: fmt_plain(p) for c, p in sorted(cycle.opening_marks.items())},
        "accounts": cycle_accounts(ledger.unit, cycle),
        "takeovers": cycle.takeovers,
    }
    if cycle.settlement is None:
        document["deficit"] = fmt(cycle.deficit, quantum)
        return document
    summary = cycle.settlement
    document.update({key: fmt(Decimal(summary[key]), quantum) for key in AMOUNT_FIELDS})
    document.update(
        settlement_marks={c: fmt_plain(p) for c, p in sorted(cycle.marks.items())},
        rate=summary["rate"],
        cutoff_count=summary["cutoff_count"],
        extended=summary["extended"],
        digest=summary["digest"],
        refunded=fmt(cycle.refunded, quantum),
        refunds=[
            {
                "command": r["command"],
                "amount": fmt(Decimal(r["amount"]), quantum),
                "reason": r["reason"],
                "at": r["at"],
            }
            for r in cycle.refunds
        ],
        participants=[
            {
                "rank": p["rank"],
                "account": p["account"],
                "contract": p["contract"],
                "profit": fmt(Decimal(p["profit"]), quantum),
                "share": fmt(Decimal(p["share"]), quantum),
            }
            for p in cycle.participants
        ],
    )
    return document
