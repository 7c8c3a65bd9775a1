"""An account's settlement of a cycle as the record holds it: its booking rows and its shares.

For a cycle that records its settlement in chunks, these are the account's rows of the chunk
event (cited as `event:version#row`); for a cycle settled with an event per account, that
event's `bookings` and `shares`. Both read the same: per position the booked PnL, the cycle
profit and whether it was liquidated; per share its rank, amount and where it was taken from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.accounts import Account
from domain.core.ids import account_id, cycle_id, event_ref
from domain.core.settlement_rows import (
    B_CONTRACT,
    B_LIQUIDATED,
    B_PROFIT,
    B_REALIZED_LIQUIDATED,
    B_UNREALIZED,
    S_CONTRACT,
    S_FROM_CASH,
    S_FROM_MARGIN,
    S_RANK,
    S_SHARE,
    decode_amount,
)
from domain.cycles import Cycle
from domain.ledger import LossLedger
from domain.queries.cycle_report import UnknownCycleError


@dataclass(frozen=True)
class AccountSettlement:
    bookings: list[dict[str, Any]]
    shares: list[dict[str, Any]]
    references: list[str]  # the rows (or the event) the figures are read from


def account_settlement(ledger: LossLedger, cycle: str, account: str) -> AccountSettlement | None:
    """The account's settlement of the cycle; None when it booked nothing in it."""
    found = ledger.unit.find(cycle_id(cycle), Cycle)
    if found is None:
        raise UnknownCycleError(f"cycle {cycle} was never opened")
    if not found.chunks:
        events = ledger.repository.event_store.get(account_id(account))
        event = next(
            (e for e in events if isinstance(e, Account.CycleSettled) and e.cycle == cycle),  # type: ignore[attr-defined]
            None,
        )
        if event is None:
            return None
        return AccountSettlement(list(event.bookings), list(event.shares), [event_ref(event)])
    if not ledger.unit.has_rows(found, account):
        return None
    rows = ledger.unit.rows_of(found, account)
    bookings, shares, q = rows.rows, rows.shares, rows.quantum
    booked = []
    for row in bookings:
        booking = {
            "contract": row[B_CONTRACT],
            "unrealized": decode_amount(row[B_UNREALIZED], q),
            "profit": decode_amount(row[B_PROFIT], q),
            "liquidated": row[B_LIQUIDATED],
        }
        if not row[B_LIQUIDATED] and decode_amount(row[B_REALIZED_LIQUIDATED], q):
            booking["realized_liquidated"] = decode_amount(row[B_REALIZED_LIQUIDATED], q)
        booked.append(booking)
    taken = [
        {
            "contract": row[S_CONTRACT],
            "rank": row[S_RANK],
            "share": decode_amount(row[S_SHARE], q),
            "from_cash": decode_amount(row[S_FROM_CASH], q),
            "from_margin": decode_amount(row[S_FROM_MARGIN], q),
        }
        for row in shares
    ]
    return AccountSettlement(booked, taken, bookings.references + shares.references)
