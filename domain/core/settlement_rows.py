"""The rows a cycle records at its boundaries, in chunks: what each account's positions booked.

A settlement records one booking row per position record of the cycle and one LossShared row
per participant; the opening of a cycle records one opening row per carried position. The
rows are cut into chunk events of the cycle (domain/cycles.py) at account boundaries, each
chunk's rows in (account, contract) order, so that an account's rows are found by bisection.
An account's balances after a boundary follow from its rows alone: they are applied to the
account when it is next loaded (domain/handlers/unit_of_work.py), and the read models apply
them a chunk at a time.

Amounts are whole numbers of the cycle's quantum, as ints: every amount is booked at the
quantum, and the quantum cannot change once money is booked (`Registry.MoneyFirstBooked`); a
booking that met another raises (`Quanta`, domain/core/book.py). A plain decimal string is
read too: a participant row upcast from a store written before chunks holds its amounts so.
Prices and sizes are plain decimal strings. docs/events.md lists every column.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

from domain.core.money import ZERO
from domain.core.postings import (
    CLEARING,
    Posting,
    cash_account,
    margin_account,
    posting,
    postings_without_zero,
)

CHUNK_ROWS = 10_000  # booking (or opening) rows a chunk event holds, at most one account more

# Booking row: one position record of the cycle at settlement.
B_ACCOUNT, B_CONTRACT, B_SIDE, B_SIZE, B_ENTRY, B_REFERENCE = range(6)
B_REALIZED, B_REALIZED_LIQUIDATED, B_LIQUIDATED, B_UNREALIZED, B_PROFIT = range(6, 11)
B_MARGIN_BEFORE, B_MARGIN_POSTED, B_MARGIN_AFTER = range(11, 14)
BOOKING_COLUMNS = (
    "account",
    "contract",
    "side",
    "size",
    "entry",
    "reference",
    "realized",
    "realized_liquidated",
    "liquidated",
    "unrealized",
    "profit",
    "margin_before",
    "margin_posted",
    "margin_after",
)
# LossShared row: one participant, with where its share was taken from.
S_ACCOUNT, S_CONTRACT, S_PROFIT, S_RANK, S_SHARE, S_FROM_CASH, S_FROM_MARGIN = range(7)
SHARE_COLUMNS = ("account", "contract", "profit", "rank", "share", "from_cash", "from_margin")
# Opening row: one carried position at the opening mark of the next cycle.
O_ACCOUNT, O_CONTRACT, O_SIDE, O_SIZE, O_ENTRY, O_REFERENCE_BEFORE, O_REFERENCE = range(7)
O_MARGIN_BEFORE, O_GAP, O_MARGIN_POSTED, O_MARGIN_AFTER = range(7, 11)
OPENING_COLUMNS = (
    "account",
    "contract",
    "side",
    "size",
    "entry",
    "reference_before",
    "reference",
    "margin_before",
    "gap",
    "margin_posted",
    "margin_after",
)

Row = list[Any]


@lru_cache(maxsize=1 << 16)
def size_is_open(size: str) -> bool:
    """Whether a row's size (a plain decimal text) is above zero: a position still open. A
    market holds few distinct sizes, and a settlement asks of a million rows."""
    return Decimal(size) > 0


def decode_amount(value: int | str, quantum: Decimal) -> Decimal:
    if value.__class__ is int:  # most amounts: whole quanta (a bool's class is bool)
        return quantum * value
    if isinstance(value, bool):
        raise TypeError("an amount column holds a number, not a boolean")
    return quantum * value if isinstance(value, int) else Decimal(value)


def chunked(rows: Sequence[Row], size: int | None = None) -> Iterator[tuple[int, int]]:
    """(start, stop) ranges of rows sorted by account, each of at most `size` (CHUNK_ROWS)
    rows plus the rest of the account it stops in: an account's rows are never split."""
    size = size or CHUNK_ROWS
    start = 0
    while start < len(rows):
        stop = min(start + size, len(rows))
        while stop < len(rows) and rows[stop][0] == rows[stop - 1][0]:
            stop += 1
        yield start, stop
        start = stop


def booking_postings(account: str, bookings: Iterable[Row], quantum: Decimal) -> list[Posting]:
    """The postings of an account's booking rows, per contract: the profit booked into the
    margin, then cash posted to keep the margin >= 0."""
    cash, margin = cash_account(account), margin_account(account)
    postings: list[Posting] = []
    for row in bookings:
        if size_is_open(row[B_SIZE]):
            contract = row[B_CONTRACT]
            unrealized = decode_amount(row[B_UNREALIZED], quantum)
            postings.append(posting(CLEARING, margin, unrealized, "settlement_pnl", contract))
            posted = decode_amount(row[B_MARGIN_POSTED], quantum)
            if posted:
                postings.append(posting(cash, margin, posted, "margin_posted", contract))
    return postings_without_zero(postings)


def share_postings(account: str, shares: Iterable[Row], quantum: Decimal) -> list[Posting]:
    """The postings of an account's LossShared rows: each share from cash, then from margin."""
    cash, margin = cash_account(account), margin_account(account)
    postings: list[Posting] = []
    for row in shares:
        contract = row[S_CONTRACT]
        from_cash = decode_amount(row[S_FROM_CASH], quantum)
        from_margin = decode_amount(row[S_FROM_MARGIN], quantum)
        postings.append(posting(cash, CLEARING, from_cash, "socialized_loss", contract))
        postings.append(posting(margin, CLEARING, from_margin, "socialized_loss", contract))
    return postings_without_zero(postings)


def opening_postings(account: str, rows: Iterable[Row], quantum: Decimal) -> list[Posting]:
    """The postings of an account's opening rows: the gap between the last settlement mark and
    the opening mark booked into the margin, and cash posted to keep the margin >= 0."""
    cash, margin = cash_account(account), margin_account(account)
    postings: list[Posting] = []
    for row in rows:
        contract = row[O_CONTRACT]
        gap = decode_amount(row[O_GAP], quantum)
        postings.append(posting(CLEARING, margin, gap, "settlement_pnl", contract))
        posted = decode_amount(row[O_MARGIN_POSTED], quantum)
        if posted:
            postings.append(posting(cash, margin, posted, "margin_posted", contract))
    return postings_without_zero(postings)


def settled_positions(
    bookings: Iterable[Row], shares: Iterable[Row], marks: dict[str, Decimal], quantum: Decimal
) -> dict[str, dict[str, Any]]:
    """The position records an account carries out of a settlement: its open positions,
    measured from the settlement mark, with the margin after the booking less the part of its
    share taken from the margin."""
    from_margin = {row[S_CONTRACT]: decode_amount(row[S_FROM_MARGIN], quantum) for row in shares}
    positions: dict[str, dict[str, Any]] = {}
    for row in bookings:
        if size_is_open(row[B_SIZE]):
            contract = row[B_CONTRACT]
            positions[contract] = {
                "side": row[B_SIDE],
                "size": Decimal(row[B_SIZE]),
                "entry": Decimal(row[B_ENTRY]),
                "reference": marks[contract],
                "margin": decode_amount(row[B_MARGIN_AFTER], quantum)
                - from_margin.get(contract, ZERO),
                "realized": ZERO,
                "liquidated": False,
            }
    return positions


def opened_positions(rows: Iterable[Row], quantum: Decimal) -> dict[str, dict[str, Any]]:
    """The position records an account holds once a cycle opens: its carried positions,
    measured from the opening mark, with the margin after the gap was booked."""
    return {
        row[O_CONTRACT]: {
            "side": row[O_SIDE],
            "size": Decimal(row[O_SIZE]),
            "entry": Decimal(row[O_ENTRY]),
            "reference": Decimal(row[O_REFERENCE]),
            "margin": decode_amount(row[O_MARGIN_AFTER], quantum),
            "realized": ZERO,
            "liquidated": False,
        }
        for row in rows
    }


def cash_taken(bookings: Iterable[Row], shares: Iterable[Row], quantum: Decimal) -> Decimal:
    """What an account's settlement rows take from its cash: margin posted and shares."""
    posted = sum((decode_amount(row[B_MARGIN_POSTED], quantum) for row in bookings), ZERO)
    return posted + sum((decode_amount(row[S_FROM_CASH], quantum) for row in shares), ZERO)


def opening_cash_taken(rows: Iterable[Row], quantum: Decimal) -> Decimal:
    return sum((decode_amount(row[O_MARGIN_POSTED], quantum) for row in rows), ZERO)


def row_ref(event_ref: str, index: int) -> str:
    """How the ledger cites one row of a chunk event: the event's reference and the row."""
    return f"{event_ref}#{index}"
