"""Mark-to-market at cycle boundaries: PnL is booked into the position's isolated margin.

A settlement (and the opening of the next cycle, for a carried position whose opening mark
differs from the last settlement mark) books each open position's unrealized PnL from
`clearing` into `margin:<account>`, and moves its reference to the mark. The bankruptcy price,
measured from the reference with the margin so booked, does not move. A margin driven below
zero (a position past its bankruptcy price that was not liquidated) is made whole from the
account's cash, so the position never holds negative margin.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, NoReturn

from domain.core.book import Book, Quanta, open_contracts, require_marks
from domain.core.errors import InvariantError, ensure
from domain.core.money import ZERO, book, places_of, stored_text
from domain.core.money import book as book_amount
from domain.core.positions import Position, pnl, unrealized_pnl
from domain.core.postings import (
    CLEARING,
    Posting,
    cash_account,
    margin_account,
    posting,
)
from domain.core.settlement_rows import (
    B_ACCOUNT,
    B_CONTRACT,
    B_LIQUIDATED,
    B_PROFIT,
    B_REALIZED,
    B_REALIZED_LIQUIDATED,
    Row,
)
from domain.core.socialization import Candidate, QuantaCandidate, Waterfall


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


def opening_rows(
    account: str,
    positions: dict[str, dict[str, Any]],
    marks: dict[str, Decimal],
    quantum: Decimal,
) -> list[Row]:
    """At `open_cycle`: the opening rows of an account's carried positions, each measured from
    the opening mark (SPEC 2), the gap from the last settlement mark booked into its margin."""
    quanta = Quanta(quantum)
    rows = []
    for contract, record in sorted(positions.items()):
        position = Position.from_record(record)
        if not position.is_open:
            continue
        gap = book(unrealized_pnl(position, marks[contract]), quantum)
        moved, _, from_cash = book_into_margin(account, contract, position, gap)
        rows.append(
            [
                account,
                contract,
                position.side,
                stored_text(position.size),
                stored_text(position.entry),
                stored_text(position.reference),
                stored_text(marks[contract]),
                quanta(position.margin),
                quanta(gap),
                quanta(from_cash),
                quanta(moved.margin),
            ]
        )
    return rows


def _digits(text: str) -> tuple[int, int]:
    """A plain decimal text (as stored: no exponent) as (digits, places): 12.5 is (125, 1)."""
    whole, _, fraction = text.partition(".")
    return int(whole + fraction), len(fraction)


def pnl_quanta(side: str, size: str, reference: str, mark: tuple[int, int], places: int) -> int:
    """`book(pnl(side, size, reference, mark), 10 ** -places)` in whole quanta, on integers:
    size x (mark - reference), sign by side, rounded half-even to the quantum; exact, as the
    80-digit decimal product is."""
    return _pnl_quanta(side == "long", _digits(size), _digits(reference), mark, places)


def _pnl_quanta(
    long: bool,
    size: tuple[int, int],
    reference: tuple[int, int],
    mark: tuple[int, int],
    places: int,
) -> int:
    """`pnl_quanta` of the texts' (digits, places)."""
    size_digits, size_places = size
    reference_digits, reference_places = reference
    mark_digits, mark_places = mark
    common = max(reference_places, mark_places)
    move = mark_digits * 10 ** (common - mark_places) - reference_digits * 10 ** (
        common - reference_places
    )
    product = size_digits * move if long else -size_digits * move
    shift = places - size_places - common
    if shift >= 0:
        return int(product * 10**shift)
    divisor = int(10**-shift)
    quotient, remainder = divmod(product, divisor)  # floored: 0 <= remainder < divisor
    if remainder * 2 > divisor or (remainder * 2 == divisor and quotient % 2 == 1):
        quotient += 1
    return int(quotient)


def _memo_pnl(
    side: str,
    size: str,
    reference: str,
    mark: tuple[int, int],
    places: int,
    digits: dict[str, tuple[int, int]],
) -> int:
    """`pnl_quanta`, each text read into digits once (`digits` keeps them)."""
    size_digits = digits.get(size)
    if size_digits is None:
        size_digits = digits[size] = _digits(size)
    reference_digits = digits.get(reference)
    if reference_digits is None:
        reference_digits = digits[reference] = _digits(reference)
    return _pnl_quanta(side == "long", size_digits, reference_digits, mark, places)


def booking_rows(
    book: Book,
    marks: dict[str, Decimal],
    quantum: Decimal,
    purpose: str = "booking",
    carried: list[str] | None = None,
) -> list[Row]:
    """Step 1 of SPEC 5 for every position record of the book, as booking rows in (account,
    contract) order: the cycle profit of each position (the realized PnL it is ranked with,
    plus the open size from its reference to the settlement mark, booked half-even), booked
    into its margin, with cash posted where the margin would go below zero. A liquidated
    position's profit is booked and never ranked; a position opened after a liquidation in
    its contract is ranked with its own profit, the liquidated one's realized PnL booked
    beside it (domain/core/settlement_rows.py names the columns). Everything on integers of
    the quantum (`pnl_quanta`), or, at a quantum that is not a power of ten, the decimal PnL
    booked half-even. An open position without a mark raises MissingMarkError, for the
    `purpose` named, before any row is returned. `carried`, when given, receives in order the
    accounts that hold an open position (those the settlement carries into the next cycle).

    A market holds few distinct sizes and prices: each text is read into digits once, and the
    PnL of each (contract, side, size, reference) is computed once (a million positions of a
    bench market hold about 42,000 of them)."""
    quanta = Quanta(quantum)
    places = quanta.places
    mark_digits = {contract: _digits(stored_text(mark)) for contract, mark in marks.items()}
    digits: dict[str, tuple[int, int]] = {}
    moves: dict[tuple[str, str, str, str], int] = {}
    rows: list[Row] = []
    append = rows.append
    carry = ([] if carried is None else carried).append
    for account in sorted(book):
        positions = book[account]
        carrying = True
        for contract in sorted(positions) if len(positions) > 1 else positions:
            side, size, entry, reference, is_open, margin, realized, liquidated, before = positions[
                contract
            ]
            unrealized = posted = 0
            margin_after = margin
            if is_open:
                if carrying:
                    carry(account)
                    carrying = False
                mark = mark_digits.get(contract)
                if mark is None:
                    _unmarked(book, marks, purpose)
                if places is not None:
                    key = (contract, side, size, reference)
                    found = moves.get(key)
                    if found is None:
                        found = moves[key] = _memo_pnl(side, size, reference, mark, places, digits)
                    unrealized = found
                else:
                    move = pnl(side, Decimal(size), Decimal(reference), marks[contract])  # type: ignore[arg-type]
                    unrealized = quanta(book_amount(move, quantum))
                margin_after = margin + unrealized
                if margin_after < 0:  # made whole from cash: a margin never goes below zero
                    posted, margin_after = -margin_after, 0
            ranked = realized if liquidated else realized - before
            append(
                [
                    account,
                    contract,
                    side,
                    size,
                    entry,
                    reference,
                    realized,
                    before,
                    liquidated,
                    unrealized,
                    ranked + unrealized,
                    margin,
                    posted,
                    margin_after,
                ]
            )
    return rows


def _unmarked(book: Book, marks: dict[str, Decimal], purpose: str) -> NoReturn:
    """MissingMarkError for every open contract of the book without a mark."""
    require_marks(marks, open_contracts(book), purpose)
    raise InvariantError("an open position without a mark has a contract without one")


def candidates_of(rows: Iterable[Row], quantum: Decimal) -> list[Candidate]:
    """The positions ranked (SPEC 5 step 5): every booking row not liquidated, with its
    cycle profit (the waterfall takes the profitable ones)."""
    return [
        (row[B_ACCOUNT], row[B_CONTRACT], quantum * row[B_PROFIT])
        for row in rows
        if not row[B_LIQUIDATED]
    ]


def profitable_in_quanta(
    rows: Sequence[Row], where: list[int] | None = None
) -> list[QuantaCandidate]:
    """The candidates of `candidates_of` that the waterfall takes, those with a profit, with
    their profits in quanta (for `share_loss_in_quanta`), in the rows' (account, contract)
    order; `where`, when given, receives the index of each one's row."""
    if where is None:
        return [
            (row[B_ACCOUNT], row[B_CONTRACT], row[B_PROFIT])
            for row in rows
            if row[B_PROFIT] > 0 and not row[B_LIQUIDATED]
        ]
    found = [index for index, row in enumerate(rows) if row[B_PROFIT] > 0 and not row[B_LIQUIDATED]]
    where.extend(found)
    return [
        (rows[index][B_ACCOUNT], rows[index][B_CONTRACT], rows[index][B_PROFIT]) for index in found
    ]


def profitable_of_book(
    book: Book, marks: dict[str, Decimal], quantum: Decimal, purpose: str = "booking"
) -> list[QuantaCandidate]:
    """`profitable_in_quanta(booking_rows(book, marks, quantum, purpose))` without building
    the rows: what a replay ranks. Each position's cycle profit is the one `booking_rows`
    books, by the same integer PnL (`_memo_pnl`); at a quantum that is not a power of ten,
    the rows are built."""
    places = places_of(quantum)
    if places is None:
        return profitable_in_quanta(booking_rows(book, marks, quantum, purpose))
    mark_digits = {contract: _digits(stored_text(mark)) for contract, mark in marks.items()}
    digits: dict[str, tuple[int, int]] = {}
    moves: dict[tuple[str, str, str, str], int] = {}
    candidates: list[QuantaCandidate] = []
    append = candidates.append
    for account in sorted(book):
        positions = book[account]
        for contract in sorted(positions) if len(positions) > 1 else positions:
            side, size, _, reference, is_open, _, realized, liquidated, before = positions[contract]
            profit = realized - before
            if is_open:
                mark = mark_digits.get(contract)
                if mark is None:
                    _unmarked(book, marks, purpose)
                key = (contract, side, size, reference)
                found = moves.get(key)
                if found is None:
                    found = moves[key] = _memo_pnl(side, size, reference, mark, places, digits)
                profit += found
            if profit > 0 and not liquidated:
                append((account, contract, profit))
    return candidates


def share_rows(rows: Sequence[Row], waterfall: Waterfall, where: Sequence[int]) -> list[Row]:
    """The LossShared rows, in (account, contract) order as the booking rows are: each share
    taken from the withheld realized profit the position was ranked with first, and from the
    profit just booked into its margin for the rest. `where` is the row of each profitable
    candidate, in the order `profitable_in_quanta` gave them to the waterfall (which keeps it:
    (account, contract) order); the participants' shares are taken in quanta."""
    participants, in_quanta = waterfall.participants, waterfall.in_quanta
    ensure(len(in_quanta) == len(participants), "the waterfall's shares are in quanta")
    ordered = sorted(range(len(in_quanta)), key=[entry[0] for entry in in_quanta].__getitem__)
    shared: list[Row] = []
    for index in ordered:
        participant = participants[index]
        candidate, _, share = in_quanta[index]
        row = rows[where[candidate]]
        ensure(
            row[B_ACCOUNT] == participant.account and row[B_CONTRACT] == participant.contract,
            "a participant's row is the row of its candidate",
        )
        # the withheld realized profit pays first, the rest comes out of the profit just
        # booked into the margin; both are covered because share <= profit
        withheld = row[B_REALIZED] - row[B_REALIZED_LIQUIDATED]
        from_cash = min(share, max(0, withheld))
        shared.append(
            [
                participant.account,
                participant.contract,
                row[B_PROFIT],
                participant.rank,
                share,
                from_cash,
                share - from_cash,
            ]
        )
    return shared
