"""Refunds of a cycle's shares (SPEC 8): compensating events, never edits.

A refund returns an amount, up to what the cycle collected and not yet refunded, to the
cycle's participants pro rata to their shares, rounded as the shares were (floor, then the
remaining quanta to the largest remainders, ties to the better-ranked). A later refund is pro
rata to what each participant has still to get back, so that no one ever gets back more than
its share, however the quanta fell before. The money comes from the
`platform` (the venue that recovered it) into the participants' cash.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any

from domain.commands.models import RefundCycle
from domain.core.errors import CycleNotOpenError, LedgerError, ensure
from domain.core.ids import cycle_id
from domain.core.money import ZERO, fmt_plain, ledger_context, require_quanta
from domain.core.postings import PLATFORM, cash_account, posting
from domain.core.socialization import allocate
from domain.cycles import Cycle
from domain.handlers.trading import require_account
from domain.handlers.unit_of_work import UnitOfWork


class RefundExceedsSharedError(LedgerError):
    """Raised when a refund would return more than the cycle collected and has not refunded."""


def refund_allocations(
    remaining: list[Decimal], amount: Decimal, quantum: Decimal
) -> list[Decimal]:
    """Each participant's part of `amount`, pro rata to what it still has to get back (its
    share less what earlier refunds returned), with the shares' rounding."""
    outstanding = sum(remaining, ZERO)
    ensure(0 < amount <= outstanding, "a refund is positive and within what is outstanding")
    with localcontext(ledger_context()):
        exact = [amount * part / outstanding for part in remaining]
    parts = allocate(exact, amount, quantum)
    for part, left in zip(parts, remaining, strict=True):
        ensure(0 <= part <= left, "no participant gets back more than its share")
    return parts


def outstanding_shares(cycle: Cycle) -> list[Decimal]:
    """Per participant, in rank order: its share less what refunds returned so far."""
    returned: dict[int, Decimal] = {}
    for refund in cycle.refunds:
        for allocation in refund["allocations"]:
            rank = int(allocation["rank"])
            returned[rank] = returned.get(rank, ZERO) + Decimal(allocation["amount"])
    return [Decimal(p["share"]) - returned.get(int(p["rank"]), ZERO) for p in cycle.participants]


def refund_cycle(uow: UnitOfWork, command: RefundCycle, at: str) -> None:
    cycle = uow.find(cycle_id(command.cycle), Cycle)
    if cycle is None:
        raise CycleNotOpenError(f"cycle {command.cycle} was never opened")
    if cycle.settlement is None:
        raise CycleNotOpenError(f"cycle {command.cycle} is not settled: nothing to refund")
    policy = uow.policy(cycle.policy_version)
    amount = require_quanta(command.amount, policy.quantum, "amount")
    refundable = Decimal(cycle.settlement["collected"]) - cycle.refunded
    if amount > refundable:
        raise RefundExceedsSharedError(
            f"refund of {fmt_plain(amount)} exceeds the {fmt_plain(refundable)} that cycle "
            f"{command.cycle} collected and has not refunded"
        )
    parts = refund_allocations(outstanding_shares(cycle), amount, policy.quantum)
    allocations = [
        {"rank": p["rank"], "account": p["account"], "contract": p["contract"], "amount": part}
        for p, part in zip(cycle.participants, parts, strict=True)
    ]
    by_account: dict[str, list[dict[str, Any]]] = {}
    for allocation in allocations:
        if allocation["amount"] > 0:
            by_account.setdefault(allocation["account"], []).append(allocation)
    accounts = {name: require_account(uow, name) for name in sorted(by_account)}
    cycle.record_refunded(
        amount=amount,
        reason=command.reason,
        command=command.id,
        allocations=allocations,
        refunded_after=cycle.refunded + amount,
        at=at,
    )
    for name, account in accounts.items():
        rows = by_account[name]
        account.record_refund(
            cycle=cycle.cycle,
            refunds=rows,
            reason=command.reason,
            cash_after=account.cash + sum((row["amount"] for row in rows), ZERO),
            postings=[
                posting(PLATFORM, cash_account(name), row["amount"], "refund", row["contract"])
                for row in rows
            ],
            at=at,
        )
    uow.touch(cycle, *accounts.values())
