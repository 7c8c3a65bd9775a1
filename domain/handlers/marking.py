"""Mark-to-market at cycle boundaries: PnL is booked into the position's isolated margin.

A settlement (and the opening of the next cycle, for a carried position whose opening mark
differs from the last settlement mark) books each open position's unrealized PnL from
`clearing` into `margin:<account>`, and moves its reference to the mark. The bankruptcy price,
measured from the reference with the margin so booked, does not move. A margin driven below
zero (a position past its bankruptcy price that was not liquidated) is made whole from the
account's cash, so the position never holds negative margin.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.accounts import Account
from domain.core.money import ZERO, book
from domain.core.positions import Position, unrealized_pnl
from domain.core.postings import (
    CLEARING,
    Posting,
    cash_account,
    margin_account,
    posting,
    postings_without_zero,
)


def book_into_margin(
    account: str, contract: str, position: Position, amount: Decimal
) -> tuple[Position, list[Posting], Decimal]:
    """(position with the amount in its margin, postings, cash taken to keep margin >= 0)."""
    postings = [posting(CLEARING, margin_account(account), amount, "settlement_pnl", contract)]
    margin = position.margin + amount
    from_cash = ZERO
    if margin < 0:
        from_cash = -margin
        postings.append(
            posting(
                cash_account(account), margin_account(account), from_cash, "margin_posted", contract
            )
        )
        margin = ZERO
    return position.with_changes(margin=margin), postings, from_cash


def mark_carried_positions(
    account: Account, cycle: str, marks: dict[str, Decimal], quantum: Decimal, at: str
) -> None:
    """At `open_cycle`: a carried position's reference becomes the opening mark (SPEC 2)."""
    positions = dict(account.positions)
    postings: list[Posting] = []
    from_cash_total = ZERO
    for contract, record in sorted(account.positions.items()):
        position = Position.from_record(record)
        if not position.is_open:
            continue
        gap = book(unrealized_pnl(position, marks[contract]), quantum)
        position, entries, from_cash = book_into_margin(account.account, contract, position, gap)
        postings += entries
        from_cash_total += from_cash
        positions[contract] = position.with_changes(reference=marks[contract]).to_record()
    account.record_carried_positions_marked(
        cycle=cycle,
        marks={c: marks[c] for c in sorted(positions) if c in marks},
        positions=positions,
        cash_after=account.cash - from_cash_total,
        postings=postings_without_zero(postings),
        at=at,
    )


def share_sources(share: Decimal, realized: Decimal) -> tuple[Decimal, Decimal]:
    """(from cash, from margin): the withheld realized profit pays first, the rest comes out
    of the profit just booked into the margin. Both are covered because share <= profit."""
    from_cash = min(share, max(ZERO, realized))
    return from_cash, share - from_cash


def settle_account(
    account: Account,
    cycle: str,
    marks: dict[str, Decimal],
    bookings: list[dict[str, Any]],
    shares: list[dict[str, Any]],
    at: str,
) -> bool:
    """Book the account's cycle profits and shares; True when it carries an open position."""
    name = account.account
    share_by_contract = {row["contract"]: row for row in shares}
    postings: list[Posting] = []
    positions: dict[str, dict[str, Any]] = {}
    cash_after = account.cash
    share_rows = []
    for row in bookings:
        position = Position.from_record(account.positions[row["contract"]])
        if position.is_open:
            position, entries, from_cash = book_into_margin(
                name, row["contract"], position, row["unrealized"]
            )
            postings += entries
            cash_after -= from_cash
        share_row = share_by_contract.get(row["contract"])
        if share_row is not None:
            # the profit the share was measured on pays it: a liquidated position's
            # realized PnL is no part of it
            from_cash, from_margin = share_sources(share_row["share"], position.realized_ranked)
            contract = row["contract"]
            postings.append(
                posting(cash_account(name), CLEARING, from_cash, "socialized_loss", contract)
            )
            postings.append(
                posting(margin_account(name), CLEARING, from_margin, "socialized_loss", contract)
            )
            cash_after -= from_cash
            position = position.with_changes(margin=position.margin - from_margin)
            share_rows.append({**share_row, "from_cash": from_cash, "from_margin": from_margin})
        if position.is_open:
            positions[row["contract"]] = position.with_changes(
                reference=marks[row["contract"]],
                realized=ZERO,
                liquidated=False,
                realized_liquidated=ZERO,
            ).to_record()
    account.record_cycle_settled(
        cycle=cycle,
        bookings=bookings,
        shares=share_rows,
        positions=positions,
        cash_after=cash_after,
        postings=postings_without_zero(postings),
        at=at,
    )
    return bool(positions)
