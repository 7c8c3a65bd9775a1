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

from domain.core.errors import InvariantError, MissingMarkError
from domain.core.money import places_of, stored_text, to_quanta
from domain.core.settlement_rows import Row, opened_positions, size_is_open

ACCOUNT = "domain.accounts:Account."
CONTRACT_RECORD_TOPICS = tuple(
    ACCOUNT + name for name in ("PositionOpened", "PositionClosed", "PositionLiquidated")
)
CARRIED_TOPIC = ACCOUNT + "CarriedPositionsMarked"
BOOK_TOPICS = (*CONTRACT_RECORD_TOPICS, CARRIED_TOPIC)

# A position record as the book holds it, made once when the record is folded in so that a
# settlement books it on integers: (side, size, entry, reference, open, margin, realized,
# liquidated, realized_liquidated), prices and sizes as their stored texts, amounts in quanta.
Held = tuple[str, str, str, str, bool, int, int, bool, int]
H_OPEN = 4
Book = dict[str, dict[str, Held]]  # account -> contract -> held record
ZERO_STORED = {"_type_": "decimal_str", "_data_": "0"}  # most realized amounts, as stored


class Quanta:
    """Amounts to whole numbers of a quantum. A booked amount's text at a power-of-ten quantum
    ("12.50000000", "0", "-3.5") is read by its digits; anything else through an exact
    division that refuses an amount finer than the quantum."""

    def __init__(self, quantum: Decimal) -> None:
        self.quantum = quantum
        # One string per distinct price or size text of a book: a million position records
        # hold a few thousand sizes and a few prices (their references are the opening marks).
        self.texts: dict[str, str] = {}
        self.places = places_of(quantum)

    def __call__(self, value: object) -> int:
        if value.__class__ is dict:  # as stored: {"_type_": ..., "_data_": text}
            value = value["_data_"]
        if value == "0":  # most realized amounts of a cycle's position records
            return 0
        places = self.places
        if places is not None:
            if type(value) is str and "E" not in value and "e" not in value:
                whole, _, fraction = value.partition(".")
                if len(fraction) <= places:
                    return int(whole + fraction.ljust(places, "0"))
            elif type(value) is Decimal:
                scaled = value.scaleb(places)
                if scaled == scaled.to_integral_value():
                    return int(scaled)
        return to_quanta(value if isinstance(value, Decimal) else Decimal(str(value)), self.quantum)


def open_contracts(book: Book) -> set[str]:
    """The contracts in which the book holds an open position."""
    return {
        contract
        for positions in book.values()
        for contract, kept in positions.items()
        if kept[H_OPEN]
    }


def require_marks(marks: Mapping[str, Decimal], contracts: set[str], purpose: str) -> None:
    """MissingMarkError naming every contract without a mark, if any, for the purpose named."""
    missing = sorted(contracts - set(marks))
    if missing:
        raise MissingMarkError(f"{purpose} needs a mark for {', '.join(missing)}")


def text(value: object) -> str:
    """A price or size as the event store writes it, however it is held."""
    if value.__class__ is dict:  # as stored: {"_type_": ..., "_data_": text}
        value = value["_data_"]
    if type(value) is str:
        return value
    return stored_text(value if isinstance(value, Decimal) else Decimal(str(value)))


def plain(value: Any) -> Any:
    """A stored value as its text: the transcoder writes a decimal as {"_type_", "_data_"}."""
    return value["_data_"] if isinstance(value, dict) else value


def held(record: Mapping[str, Any], quanta: Quanta) -> Held:
    """A position record (as stored, or as an event holds it) as the book holds it. A million
    of them make a cycle's book: the stored form ({"_type_", "_data_"} for each decimal) is
    read in line, anything else through `text` and `Quanta`."""
    texts = quanta.texts
    size, entry, reference = record["size"], record["entry"], record["reference"]
    margin, realized = record["margin"], record["realized"]
    if size.__class__ is dict:
        size = size["_data_"]
    if entry.__class__ is dict:
        entry = entry["_data_"]
    if reference.__class__ is dict:
        reference = reference["_data_"]
    if size.__class__ is not str:
        size = text(size)
    if entry.__class__ is not str:
        entry = text(entry)
    if reference.__class__ is not str:
        reference = text(reference)
    size = texts.setdefault(size, size)
    before = record.get("realized_liquidated")
    return (
        record["side"],
        size,
        texts.setdefault(entry, entry),
        texts.setdefault(reference, reference),
        size_is_open(size),
        quanta(margin),
        0 if realized == ZERO_STORED else quanta(realized),
        bool(record["liquidated"]),
        0 if before is None else quanta(before),
    )


def record(kept: Held, quantum: Decimal) -> dict[str, Any]:
    """A held record as a position record (what `Position.from_record` reads)."""
    side, size, entry, reference, _, margin, realized, liquidated, before = kept
    found: dict[str, Any] = {
        "side": side,
        "size": Decimal(size),
        "entry": Decimal(entry),
        "reference": Decimal(reference),
        "margin": quantum * margin,
        "realized": quantum * realized,
        "liquidated": liquidated,
    }
    if before:
        found["realized_liquidated"] = quantum * before
    return found


def opening_book(chunks: Iterable[list[Row]], quantum: Decimal) -> Book:
    """The carried positions of a cycle's opening rows, by account."""
    quanta = Quanta(quantum)
    book: Book = {}
    for rows in chunks:
        for row in rows:
            for contract, opened in opened_positions([row], quantum).items():
                book.setdefault(row[0], {})[contract] = held(opened, quanta)
    return book


def fold(
    book: Book,
    names: Mapping[str, str],
    cycle: str,
    states: Iterable[tuple[str, str, Mapping[str, Any]]],
    quantum: Decimal,
) -> Book:
    """Fold the position events (originator id in hex, topic, state) of the cycle into the
    book. An event names its account; one stored before events did is named by `names`
    (the account of each originator that joined the cycle). The events of other cycles are
    passed over."""
    quanta = Quanta(quantum)
    for originator, topic, state in states:
        if state["cycle"] != cycle:
            continue
        account = state.get("account") or names.get(originator)
        if account is None:
            raise InvariantError(
                f"a position event of the cycle is of an account not in it: {originator}"
            )
        if topic == CARRIED_TOPIC:
            book[account] = {c: held(r, quanta) for c, r in state["positions"].items()}
        else:
            book.setdefault(account, {})[state["contract"]] = held(state["position"], quanta)
    return book
