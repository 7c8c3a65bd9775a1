"""A cycle's book: every account's position records, folded from the cycle's own records.

The book is what a settlement is computed from, and what `cycle replay` recomputes it from:
the cycle's opening book (its carried positions, as recorded when it opened) and the position
events of the cycle's range of the notification log, read as plain JSON. The account events
that carry a position record (opened, closed, liquidated) replace that contract's record; a
store written before the opening book was recorded marks carried positions with one
`CarriedPositionsMarked` event per account, which replaces the account's records. Nothing is
read from the settlement's own rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from domain.core.errors import InvariantError
from domain.core.settlement_rows import Row, opened_positions

ACCOUNT = "domain.accounts:Account."
CONTRACT_RECORD_TOPICS = tuple(
    ACCOUNT + name for name in ("PositionOpened", "PositionClosed", "PositionLiquidated")
)
CARRIED_TOPIC = ACCOUNT + "CarriedPositionsMarked"
BOOK_TOPICS = (*CONTRACT_RECORD_TOPICS, CARRIED_TOPIC)

Book = dict[str, dict[str, dict[str, Any]]]  # account -> contract -> position record


def plain(value: Any) -> Any:
    """A stored value as its text: the transcoder writes a decimal as {"_type_", "_data_"}."""
    return value["_data_"] if isinstance(value, dict) else value


def record(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A position record as stored, its amounts as their texts (`Position.from_record` reads
    them as decimals)."""
    return {key: v["_data_"] if v.__class__ is dict else v for key, v in stored.items()}


def opening_book(chunks: Iterable[list[Row]], quantum: Decimal) -> Book:
    """The carried positions of a cycle's opening rows, by account."""
    book: Book = {}
    for rows in chunks:
        for row in rows:
            book.setdefault(row[0], {}).update(opened_positions([row], quantum))
    return book


def fold(
    book: Book,
    names: Mapping[str, str],
    cycle: str,
    states: Iterable[tuple[str, str, Mapping[str, Any]]],
) -> Book:
    """Fold the position events (originator id in hex, topic, state) of the cycle into the
    book; `names` gives the account of each originator. The events of other cycles are
    passed over."""
    for originator, topic, state in states:
        if state["cycle"] != cycle:
            continue
        account = names.get(originator)
        if account is None:
            raise InvariantError(
                f"a position event of the cycle is of an account not in it: {originator}"
            )
        if topic == CARRIED_TOPIC:
            book[account] = {c: record(r) for c, r in state["positions"].items()}
        else:
            book.setdefault(account, {})[state["contract"]] = record(state["position"])
    return book
