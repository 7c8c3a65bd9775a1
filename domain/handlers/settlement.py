"""Cycle commands: open a cycle, and settle it through the loss waterfall (SPEC 5)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.accounts import Account
from domain.commands.models import OpenCycle, SettleCycle
from domain.core.errors import CycleNotOpenError, NoOpenCycleError, present
from domain.core.ids import account_id, cycle_id
from domain.core.limits import require_participants_within_limit
from domain.core.money import ZERO, book, fmt, require_positive
from domain.core.policy import Policy
from domain.core.positions import Position, pnl
from domain.core.postings import CLEARING, INSURANCE_FUND, PLATFORM, posting
from domain.core.socialization import Candidate, Waterfall, digest, digest_document, share_loss
from domain.cycles import Cycle
from domain.handlers.marking import mark_carried_positions, settle_account
from domain.handlers.unit_of_work import UnitOfWork


def _checked_marks(marks: dict[str, Decimal]) -> dict[str, Decimal]:
    return {
        contract: require_positive(price, f"marks.{contract}") for contract, price in marks.items()
    }


def _load_accounts(uow: UnitOfWork, names: list[str]) -> list[Account]:
    return [
        present(uow.find(account_id(name), Account), f"account {name} exists") for name in names
    ]


def _open_contracts(accounts: list[Account]) -> set[str]:
    return {
        contract
        for account in accounts
        for contract, record in account.positions.items()
        if Decimal(record["size"]) > 0
    }


def open_cycle(uow: UnitOfWork, command: OpenCycle, at: str) -> None:
    registry = uow.registry()
    registry.require_can_open(command.cycle)
    marks = _checked_marks(command.marks)
    previous = registry.last_cycle
    carried_names: list[str] = []
    if previous is not None:
        carried_names = present(uow.find(cycle_id(previous), Cycle), "last cycle").carried_accounts
    carried = _load_accounts(uow, carried_names)
    Cycle.require_marks(marks, _open_contracts(carried), f"opening cycle {command.cycle}")
    policy = registry.policy
    cycle = Cycle(
        cycle=command.cycle,
        marks=marks,
        policy_version=policy.version,
        carried_accounts=carried_names,
        at=at,
    )
    for account in carried:
        mark_carried_positions(account, command.cycle, marks, policy.quantum, at)
    registry.record_cycle_opened(cycle=command.cycle, at=at)
    uow.touch(cycle, registry, *carried)


def _require_settleable(uow: UnitOfWork, name: str) -> Cycle:
    open_name = uow.registry().open_cycle
    cycle = uow.find(cycle_id(name), Cycle)
    if cycle is None:
        raise CycleNotOpenError(f"cycle {name} was never opened")
    if cycle.settled:
        raise CycleNotOpenError(f"cycle {name} is already settled")
    if open_name != name:
        raise NoOpenCycleError(f"cycle {name} is not the open cycle")
    return cycle


def _booking(contract: str, position: Position, unrealized: Decimal) -> dict[str, Any]:
    """One position record's booking at settlement (SPEC 5 steps 1 and 5). A liquidated
    position's profit is booked, never ranked. A position opened after a liquidation in the
    contract is ranked with its own profit; the liquidated one's realized PnL is booked beside
    that profit (`realized_liquidated`), not in it."""
    if position.liquidated:
        profit = position.realized + unrealized
        return {
            "contract": contract,
            "unrealized": unrealized,
            "profit": profit,
            "liquidated": True,
        }
    profit = position.realized_ranked + unrealized
    row = {"contract": contract, "unrealized": unrealized, "profit": profit, "liquidated": False}
    if position.realized_liquidated:
        row["realized_liquidated"] = position.realized_liquidated
    return row


def cycle_profits(
    accounts: list[Account], marks: dict[str, Decimal], quantum: Decimal
) -> tuple[list[Candidate], dict[str, list[dict[str, Any]]]]:
    """Step 1 of SPEC 5: every position's cycle profit, and the bookings per account; the
    candidates for the ranking are the bookings of positions not liquidated."""
    candidates: list[Candidate] = []
    bookings: dict[str, list[dict[str, Any]]] = {}
    for account in accounts:
        rows = []
        for contract in sorted(account.positions):
            position = Position.from_record(account.positions[contract])
            unrealized = book(ZERO, quantum)
            if position.is_open:
                unrealized = book(
                    pnl(position.side, position.size, position.reference, marks[contract]), quantum
                )
            row = _booking(contract, position, unrealized)
            rows.append(row)
            if not row["liquidated"]:
                candidates.append((account.account, contract, row["profit"]))
        bookings[account.account] = rows
    return candidates, bookings


def settle_cycle(uow: UnitOfWork, command: SettleCycle, at: str) -> None:
    cycle = _require_settleable(uow, command.cycle)
    policy = uow.policy(cycle.policy_version)
    marks = _checked_marks(command.marks)
    accounts = _load_accounts(uow, sorted(cycle.accounts))
    Cycle.require_marks(marks, _open_contracts(accounts), f"settling cycle {cycle.cycle}")
    candidates, bookings = cycle_profits(accounts, marks, policy.quantum)
    # Pins everything stored before this settlement (the unit of work was flushed first);
    # read before any event is recorded, so that a failure here changes nothing.
    anchor = uow.chain_anchor()
    existing_fund = uow.existing_insurance_fund()
    waterfall = share_loss(
        cycle.deficit, existing_fund.balance if existing_fund else ZERO, candidates, policy
    )
    require_participants_within_limit(len(waterfall.participants), cycle.cycle)
    fund = uow.insurance_fund(at)
    fund.record_draw(
        cycle=cycle.cycle,
        amount=waterfall.fund_drawn,
        balance_before=waterfall.fund_balance_before,
        balance_after=waterfall.fund_balance_after,
        postings=[posting(INSURANCE_FUND, CLEARING, waterfall.fund_drawn, "fund_draw")]
        if waterfall.fund_drawn
        else [],
        at=at,
    )
    shares: dict[str, list[dict[str, Any]]] = {}
    for participant in waterfall.participants:
        cycle.record_loss_shared(
            account=participant.account,
            contract=participant.contract,
            profit=participant.profit,
            rank=participant.rank,
            share=participant.share,
            at=at,
        )
        shares.setdefault(participant.account, []).append(
            {"contract": participant.contract, "rank": participant.rank, "share": participant.share}
        )
    if waterfall.uncovered > 0:
        cycle.record_deficit_uncovered(
            amount=waterfall.uncovered,
            postings=[posting(PLATFORM, CLEARING, waterfall.uncovered, "uncovered_loss")],
            at=at,
        )
    carried = [
        account.account
        for account in accounts
        if settle_account(
            account,
            cycle.cycle,
            marks,
            bookings[account.account],
            shares.get(account.account, []),
            at,
        )
    ]
    summary = settlement_summary(cycle.cycle, waterfall, policy)
    summary["chain_anchor"] = anchor
    cycle.record_settled(
        marks=dict(sorted(marks.items())), summary=summary, carried_accounts=carried, at=at
    )
    uow.registry().record_cycle_settled(cycle=cycle.cycle, at=at)
    uow.touch(cycle, fund, uow.registry(), *accounts)


def settlement_summary(cycle: str, waterfall: Waterfall, policy: Policy) -> dict[str, Any]:
    """The settlement's figures as recorded in `Cycle.Settled` (participants are LossShared)."""
    quantum = policy.quantum
    return {
        "deficit": waterfall.deficit,
        "fund_balance_before": waterfall.fund_balance_before,
        "fund_drawn": waterfall.fund_drawn,
        "fund_balance_after": waterfall.fund_balance_after,
        "to_share": waterfall.to_share,
        "total_profit": waterfall.total_profit,
        "selected_profit": waterfall.selected_profit,
        "collected": waterfall.collected,
        "uncovered": waterfall.uncovered,
        "rate": fmt(waterfall.rate, quantum),
        "cutoff_count": waterfall.cutoff_count,
        "extended": waterfall.extended,
        "participant_count": len(waterfall.participants),
        "digest": digest(digest_document(cycle, waterfall, quantum)),
    }
