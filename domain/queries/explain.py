"""`lossledger explain ACCOUNT --cycle ID`: why an account bore what it bore, step by step.

Every figure is recomputed from the recorded events (as `cycle replay` does) and every step
cites the events it rests on, as `aggregate-id:version`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.core.book import record as stored_record
from domain.core.errors import LedgerError
from domain.core.ids import account_id, event_ref
from domain.core.money import ZERO, fmt, fmt_plain, round_down
from domain.core.positions import Position
from domain.core.socialization import Waterfall, rank_candidates
from domain.handlers.settlement import cycle_profits
from domain.ledger import LossLedger
from domain.queries.replay import SettlementInputs, settlement_inputs


class NotAParticipantError(LedgerError):
    """Raised when an account held nothing in the cycle it is asked about."""


def _account_events(ledger: LossLedger, account: str, cycle: str) -> list[Any]:
    events = ledger.repository.event_store.get(account_id(account))
    return [e for e in events if getattr(e, "cycle", None) == cycle]


def explain(ledger: LossLedger, account: str, cycle: str) -> dict[str, Any]:
    inputs = settlement_inputs(ledger, cycle, account)
    if account not in inputs.book:
        raise NotAParticipantError(
            f"account {account} held no position in cycle {cycle}: it bore nothing"
        )
    waterfall = inputs.recompute()
    q = inputs.policy.quantum
    own_events = _account_events(ledger, account, cycle)
    candidates, bookings = cycle_profits(inputs.book, inputs.settled.marks, q)
    ranked = rank_candidates(candidates)
    steps = _cycle_steps(inputs, waterfall)
    positions = []
    for booking in bookings[account]:
        record = stored_record(inputs.book[account][booking["contract"]], q)
        position_steps, row = _position(
            inputs, waterfall, ranked, account, booking, record, own_events
        )
        steps += position_steps
        positions.append(row)
    total = sum((Decimal(row["share"]) for row in positions), ZERO)
    steps.append(
        _step(
            f"In all, account {account} bore {fmt(total, q)} in cycle {cycle}.",
            inputs.settled_refs.get(account, []),
        )
    )
    refunds = [e for e in own_events if type(e).__name__ == "RefundReceived"]
    for refund in refunds:
        amount = sum((Decimal(r["amount"]) for r in refund.refunds), ZERO)
        steps.append(
            _step(
                f"Later the cycle refunded {fmt(amount, q)} of it to the account "
                f"({refund.reason}).",
                [event_ref(refund)],
            )
        )
    return {
        "account": account,
        "cycle": cycle,
        "participated": any(row["rank"] is not None and row["selected"] for row in positions),
        "share": fmt(total, q),
        "positions": positions,
        "steps": steps,
    }


def _step(text: str, events: list[str]) -> dict[str, Any]:
    return {"text": text, "events": events}


def _cycle_steps(inputs: SettlementInputs, waterfall: Waterfall) -> list[dict[str, Any]]:
    q, policy = inputs.policy.quantum, inputs.policy
    steps = [
        _step(
            f"The cycle's deficit was {fmt(waterfall.deficit, q)}: the takeover losses of "
            f"{len(inputs.takeovers)} liquidation fill(s) below the bankruptcy price.",
            [event_ref(e) for e in inputs.takeovers],
        )
    ]
    available = max(ZERO, waterfall.fund_balance_before - policy.fund_floor)
    rule = (
        f"min(round_down({fmt(waterfall.deficit, q)} x {fmt_plain(policy.fund_share)}), "
        f"{fmt(available, q)} available above the floor)"
        if policy.fund_mode == "share"
        else f"min({fmt(waterfall.deficit, q)}, {fmt(available, q)} available above the floor)"
    )
    steps.append(
        _step(
            f"The insurance fund bore {fmt(waterfall.fund_drawn, q)} = {rule}, leaving "
            f"{fmt(waterfall.to_share, q)} to share.",
            [event_ref(inputs.fund_drawn)],
        )
    )
    threshold = policy.profit_cutoff * waterfall.total_profit
    count = len(waterfall.participants)
    text = (
        f"All profitable positions together made {fmt(waterfall.total_profit, q)}. The "
        f"selection takes the most profitable down to {fmt_plain(policy.profit_cutoff)} x "
        f"{fmt(waterfall.total_profit, q)} = {fmt_plain(threshold)}, reached at rank "
        f"{waterfall.cutoff_count}."
    )
    if waterfall.extended:
        text += (
            f" Their profit could not cover the {fmt(waterfall.to_share, q)} to share, so the "
            f"selection was extended to rank {count}."
        )
    if waterfall.to_share == 0:
        text = "Nothing was left to share, so no position bore anything."
    steps.append(
        _step(
            text + (f" Selected profit: {fmt(waterfall.selected_profit, q)}." if count else ""),
            [event_ref(inputs.settled)],
        )
    )
    if count:
        steps.append(
            _step(
                f"Collected from the selection: {fmt(waterfall.collected, q)}; uncovered, booked "
                f"to the platform: {fmt(waterfall.uncovered, q)}.",
                [event_ref(inputs.settled)],
            )
        )
    return steps


def _last_liquidation(events: list[Any]) -> int | None:
    """The index of the last `PositionLiquidated` among a contract's events, if any."""
    found = None
    for index, event in enumerate(events):
        if type(event).__name__ == "PositionLiquidated":
            found = index
    return found


def _liquidation_step(
    contract: str, position: Position, events: list[Any], q: Decimal
) -> dict[str, Any]:
    """The liquidated position before the one the record now holds: booked, never ranked;
    cites its events, up to its liquidation."""
    return _step(
        f"{contract}: the position liquidated in the cycle is not ranked and bears nothing; "
        f"its {fmt(position.realized_liquidated, q)} realized by closes before the liquidation "
        "is booked, and is no part of the profit of the position opened afterwards, which is "
        "a new position ranked with its own profit from its entry price.",
        [event_ref(e) for e in events],
    )


def _profit_text(
    booking: dict[str, Any], position: Position, mark: Decimal, after: bool, q: Decimal
) -> str:
    """How the position's cycle profit was made: realized by closes + size x move to the mark."""
    contract, profit, unrealized = booking["contract"], booking["profit"], booking["unrealized"]
    return (
        f"{contract}: the {position.side} of {fmt_plain(position.size)}"
        f"{' opened afterwards' if after else ''} made {fmt(profit, q)} in the cycle = "
        f"{fmt(profit - unrealized, q)} realized by closes + {fmt_plain(position.size)} x "
        f"({fmt_plain(mark)} - {fmt_plain(position.reference)})"
        f"{'' if position.side == 'long' else ' x -1'} = {fmt(unrealized, q)} to the "
        "settlement mark."
    )


def _position(
    inputs: SettlementInputs,
    waterfall: Waterfall,
    ranked: list[tuple[str, str, Decimal]],
    account: str,
    booking: dict[str, Any],
    record: dict[str, Any],
    own_events: list[Any],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    q = inputs.policy.quantum
    contract, profit, unrealized = booking["contract"], booking["profit"], booking["unrealized"]
    position = Position.from_record(record)
    mark = Decimal(inputs.settled.marks.get(contract, position.reference))
    events = [e for e in own_events if getattr(e, "contract", None) == contract]
    # a record not liquidated after a liquidation in its contract holds a new position, whose
    # steps cite the events after the liquidation
    liquidated_at = _last_liquidation(events)
    after, steps = False, []
    if liquidated_at is not None and not position.liquidated:
        after = True
        steps.append(_liquidation_step(contract, position, events[: liquidated_at + 1], q))
        events = events[liquidated_at + 1 :]
    cited = [event_ref(e) for e in events]
    steps.append(_step(_profit_text(booking, position, mark, after, q), cited))
    row: dict[str, Any] = {
        "contract": contract,
        "side": position.side,
        "profit": fmt(profit, q),
        "realized": fmt(profit - unrealized, q),  # the realized PnL in the profit
        "unrealized": fmt(unrealized, q),
        "liquidated": position.liquidated,
        "rank": None,
        "selected": False,
        "share": fmt(ZERO, q),
    }
    if after:
        row["realized_liquidated"] = fmt(position.realized_liquidated, q)
    if position.liquidated:
        steps.append(
            _step(
                f"{contract}: the position was liquidated in the cycle, so it is "
                "not ranked and bears nothing.",
                cited,
            )
        )
        return steps, row
    if profit <= 0:
        steps.append(_step(f"{contract}: no profit, so it is not ranked and bears nothing.", cited))
        return steps, row
    rank = next(i for i, c in enumerate(ranked, start=1) if c[0] == account and c[1] == contract)
    row["rank"] = rank
    participant = next((p for p in waterfall.participants if p.rank == rank), None)
    if participant is None:
        steps.append(
            _step(
                f"{contract}: ranked {rank} of {len(ranked)}, below the selection "
                f"(which stopped at rank {len(waterfall.participants)}): it bears nothing.",
                cited,
            )
        )
        return steps, row
    heading = f"{contract}: ranked {rank} of {len(ranked)}, selected."
    cited = [inputs.loss_shared[(account, contract)], *cited]
    step, selected = _share_step(inputs, waterfall, profit, participant.share, heading, cited)
    steps.append(step)
    row.update(selected)
    return steps, row


def _share_step(
    inputs: SettlementInputs,
    waterfall: Waterfall,
    profit: Decimal,
    share: Decimal,
    heading: str,
    cited: list[str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """How a selected position's share was computed and rounded, and its row's figures."""
    q = inputs.policy.quantum
    exact, formula = _exact_share(inputs, waterfall, profit)
    floor = round_down(exact, q)
    extra = share - floor
    remainder = (
        f", plus one remainder quantum ({fmt(extra, q)}) for one of the largest "
        "discarded remainders"
        if extra
        else ", no remainder quantum"
    )
    text = (
        f"{heading} Share = {formula} = {fmt_plain(exact)}; rounded down to {fmt(floor, q)}"
        f"{remainder}: {fmt(share, q)}."
    )
    figures = {
        "selected": True,
        "share": fmt(share, q),
        "exact_share": fmt_plain(exact),
        "rounded_down": fmt(floor, q),
        "remainder_quantum": extra > 0,
    }
    return _step(text, cited), figures


def _exact_share(
    inputs: SettlementInputs, waterfall: Waterfall, profit: Decimal
) -> tuple[Decimal, str]:
    q = inputs.policy.quantum
    if inputs.policy.denominator == "all":
        shared = min(waterfall.to_share, waterfall.total_profit)
        return (
            shared * profit / waterfall.total_profit,
            f"{fmt(shared, q)} x {fmt(profit, q)} / {fmt(waterfall.total_profit, q)}",
        )
    return (
        waterfall.collected * profit / waterfall.selected_profit,
        f"{fmt(waterfall.collected, q)} x {fmt(profit, q)} / {fmt(waterfall.selected_profit, q)}",
    )
