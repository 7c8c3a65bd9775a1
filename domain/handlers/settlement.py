"""Cycle commands: open a cycle, and settle it through the loss waterfall (SPEC 5)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from domain.accounts import Account
from domain.commands.models import OpenCycle, SettleCycle
from domain.core.book import BOOK_TOPICS, Book, fold, opening_book
from domain.core.errors import CycleNotOpenError, NoOpenCycleError, ensure, present
from domain.core.ids import account_id, cycle_id
from domain.core.limits import require_participants_within_limit
from domain.core.memory import collector_paused
from domain.core.money import ZERO, fmt, require_positive
from domain.core.policy import Policy
from domain.core.postings import CLEARING, INSURANCE_FUND, PLATFORM, posting
from domain.core.settlement_rows import (
    B_ACCOUNT,
    B_CONTRACT,
    B_LIQUIDATED,
    B_PROFIT,
    B_REALIZED_LIQUIDATED,
    B_UNREALIZED,
    S_ACCOUNT,
    Row,
    chunked,
    settled_positions,
)
from domain.core.socialization import (
    Candidate,
    Waterfall,
    digest,
    digest_document,
    share_loss_in_quanta,
)
from domain.cycles import Cycle, by_account
from domain.handlers.event_store import EventStoreUnsupportedError
from domain.handlers.marking import (
    booking_rows,
    candidates_of,
    opening_rows,
    profitable_in_quanta,
    share_rows,
)
from domain.handlers.unit_of_work import KnownBook, UnitOfWork


def _checked_marks(marks: dict[str, Decimal]) -> dict[str, Decimal]:
    return {
        contract: require_positive(price, f"marks.{contract}") for contract, price in marks.items()
    }


def _load_accounts(uow: UnitOfWork, names: list[str]) -> list[Account]:
    return [
        present(uow.find(account_id(name), Account), f"account {name} exists") for name in names
    ]


def carried_book(uow: UnitOfWork, previous: Cycle | None) -> dict[str, dict[str, Any]]:
    """The positions the last cycle's settlement carried over, by account: from its booking
    rows, or, for a cycle settled with an event per account, from those accounts."""
    if previous is None:
        return {}
    if not previous.chunks:
        accounts = _load_accounts(uow, previous.carried_accounts)
        return {account.account: dict(account.positions) for account in accounts}
    book: dict[str, dict[str, Any]] = {}
    for booked, shared in uow.chunk_events(previous):
        shares = dict(by_account(shared.rows)) if shared is not None else {}
        for account, rows in by_account(booked.rows):
            own = shares.get(account, [])
            positions = settled_positions(rows, own, previous.marks, booked.quantum)
            if positions:
                book[account] = positions
    return book


def open_cycle(uow: UnitOfWork, command: OpenCycle, at: str) -> None:
    registry = uow.registry()
    registry.require_can_open(command.cycle)
    marks = _checked_marks(command.marks)
    previous = registry.last_cycle
    carried = carried_book(
        uow, None if previous is None else present(uow.find(cycle_id(previous), Cycle), "last")
    )
    carried_contracts = {
        contract
        for positions in carried.values()
        for contract, record in positions.items()
        if Decimal(record["size"]) > 0
    }
    Cycle.require_marks(marks, carried_contracts, f"opening cycle {command.cycle}")
    policy = registry.policy
    names = sorted(carried)
    cycle = Cycle(
        cycle=command.cycle,
        marks=marks,
        policy_version=policy.version,
        carried_accounts=names,
        at=at,
    )
    rows = [
        row for name in names for row in opening_rows(name, carried[name], marks, policy.quantum)
    ]
    for index, (start, stop) in enumerate(chunked(rows)):
        cycle.record_opening_booked(
            chunk=index,
            first=rows[start][0],
            last=rows[stop - 1][0],
            quantum=policy.quantum,
            rows=rows[start:stop],
            at=at,
        )
    registry.record_cycle_opened(cycle=command.cycle, at=at)
    uow.touch(cycle, registry)


def range_first(uow: UnitOfWork, cycle: Cycle) -> int:
    """Where the cycle's position events begin in the log: at the settlement of the cycle
    before it (a batch may store them before the cycle's own `Opened`, never before that)."""
    cycles = uow.registry().cycles
    index = cycles.index(cycle.cycle)
    if index == 0:
        return 1
    previous = present(uow.find(cycle_id(cycles[index - 1]), Cycle), "the previous cycle")
    settled = (previous.id, present(previous.settled_version, "the previous cycle is settled"))
    return present(uow.store.position_of(settled), "the previous settlement is stored")


def _folded(uow: UnitOfWork, cycle: Cycle, book: Book, first: int, last: int | None) -> Book:
    states = uow.store.log_range(first, last, BOOK_TOPICS)
    if states is None:
        raise EventStoreUnsupportedError("this event store cannot read a range of its log")
    quantum = uow.policy(cycle.policy_version).quantum
    return fold(book, cycle.account_keys, cycle.cycle, states, quantum)


def cycle_book(uow: UnitOfWork, cycle: Cycle, opening: Iterable[list[Row]], stop: int) -> Book:
    """The cycle's book as it stood at its event `stop` (domain/core/book.py): its opening
    rows and its position events, read from the log."""
    quantum = uow.policy(cycle.policy_version).quantum
    last = present(uow.store.position_of((cycle.id, stop)), "the cycle's event is stored")
    return _folded(uow, cycle, opening_book(opening, quantum), range_first(uow, cycle), last)


def settlement_book(uow: UnitOfWork, cycle: Cycle, head: int) -> Book:
    """The open cycle's book now: the book this process kept while it wrote the cycle's
    position events, with what other writers appended read from the log; else the whole
    cycle read from the log. The book is kept as read through `head` (the log's end before
    the settlement): a settlement refused for a missing mark reads only what comes after.
    Once its rows are booked the settlement drops the book (the rows hold it), so one refused
    after that (too many participants) reads the whole cycle again."""
    quantum = uow.policy(cycle.policy_version).quantum
    known = uow.known_books.get(cycle.cycle)
    if known is None:
        opening = (event.rows for event, _ in uow.chunk_events(cycle, opening=True))
        known = KnownBook(range_first(uow, cycle) - 1, opening_book(opening, quantum), quantum)
    book = _folded(uow, cycle, known.book, known.position + 1, None)
    uow.known_books[cycle.cycle] = KnownBook(max(known.position, head), book, quantum)
    return book


def cycle_accounts(uow: UnitOfWork, cycle: Cycle) -> int:
    """How many accounts hold a position record in the cycle: as its settlement counted
    them; an open cycle's, from its book as it stands (the log read only past what this
    process keeps); a cycle settled before the summary counted them, from its joins."""
    if cycle.settlement is not None:
        return int(cycle.settlement.get("accounts", len(cycle.accounts)))
    anchor = uow.chain_anchor()
    head = 0 if anchor is None else int(str(anchor["position"]))
    return len(settlement_book(uow, cycle, head))


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


def cycle_profits(
    book: Book, marks: dict[str, Decimal], quantum: Decimal
) -> tuple[list[Candidate], dict[str, list[dict[str, Any]]]]:
    """Step 1 of SPEC 5: every position's cycle profit, and the bookings per account (the
    contract, the PnL booked to the mark, the cycle profit, whether it was liquidated, and
    the realized PnL of a liquidated position booked beside a new one's profit)."""
    rows = booking_rows(book, marks, quantum)
    bookings: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        booking = {
            "contract": row[B_CONTRACT],
            "unrealized": quantum * row[B_UNREALIZED],
            "profit": quantum * row[B_PROFIT],
            "liquidated": row[B_LIQUIDATED],
        }
        if not row[B_LIQUIDATED] and row[B_REALIZED_LIQUIDATED]:
            booking["realized_liquidated"] = quantum * row[B_REALIZED_LIQUIDATED]
        bookings.setdefault(row[B_ACCOUNT], []).append(booking)
    return candidates_of(rows, quantum), bookings


def settle_cycle(uow: UnitOfWork, command: SettleCycle, at: str) -> None:
    with collector_paused():  # a million rows built and dropped (domain/core/memory.py)
        _settle(uow, command, at)


def _settle(uow: UnitOfWork, command: SettleCycle, at: str) -> None:
    cycle = _require_settleable(uow, command.cycle)
    policy = uow.policy(cycle.policy_version)
    marks = _checked_marks(command.marks)
    # Pins everything stored before this settlement (the unit of work was flushed first);
    # read before any event is recorded, so that a failure here changes nothing.
    anchor = uow.chain_anchor()
    head = 0 if anchor is None else int(str(anchor["position"]))
    book = settlement_book(uow, cycle, head)
    carried: list[str] = []  # the accounts with an open position, in order
    rows = booking_rows(book, marks, policy.quantum, f"settling cycle {cycle.cycle}", carried)
    accounts = len(book)
    # The rows hold the book now: it is dropped before they are shared and recorded, so that a
    # million position records are not held twice over (docs/performance.md#memory).
    del book
    uow.known_books.pop(cycle.cycle, None)
    existing_fund = uow.existing_insurance_fund()
    where: list[int] = []  # the row of each profitable candidate
    waterfall = share_loss_in_quanta(
        cycle.deficit,
        existing_fund.balance if existing_fund else ZERO,
        profitable_in_quanta(rows, where),
        policy,
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
    _record_rows(cycle, rows, share_rows(rows, waterfall, where), policy.quantum, at)
    if waterfall.uncovered > 0:
        cycle.record_deficit_uncovered(
            amount=waterfall.uncovered,
            postings=[posting(PLATFORM, CLEARING, waterfall.uncovered, "uncovered_loss")],
            at=at,
        )
    summary = settlement_summary(cycle.cycle, waterfall, policy, accounts=accounts)
    summary["chain_anchor"] = anchor
    cycle.record_settled(
        marks=dict(sorted(marks.items())), summary=summary, carried_accounts=carried, at=at
    )
    uow.registry().record_cycle_settled(cycle=cycle.cycle, at=at)
    uow.touch(cycle, fund, uow.registry())
    if anchor is not None:
        uow.read_head = head


def _record_rows(
    cycle: Cycle, bookings: list[Row], shares: list[Row], quantum: Decimal, at: str
) -> None:
    """Record the settlement's rows on the cycle in chunk events cut at account boundaries,
    each booking chunk followed by the LossShared rows of its accounts (if any)."""
    taken = 0
    for index, (start, stop) in enumerate(chunked(bookings)):
        first, last = bookings[start][B_ACCOUNT], bookings[stop - 1][B_ACCOUNT]
        end = taken
        while end < len(shares) and shares[end][S_ACCOUNT] <= last:
            end += 1
        chunk = {"chunk": index, "first": first, "last": last, "quantum": quantum, "at": at}
        cycle.record_positions_settled(rows=bookings[start:stop], **chunk)
        if end > taken:
            cycle.record_loss_shared(rows=shares[taken:end], **chunk)
        taken = end
    ensure(taken == len(shares), "every LossShared row is in a chunk")


def settlement_summary(
    cycle: str, waterfall: Waterfall, policy: Policy, accounts: int | None
) -> dict[str, Any]:
    """The settlement's figures as recorded in `Cycle.Settled` (participants are LossShared):
    with the number of accounts that held a position record in the cycle, unless None (a
    cycle settled before its summary counted them, whose accounts joined it by an event)."""
    quantum = policy.quantum
    counted = {} if accounts is None else {"accounts": accounts}
    return {
        **counted,
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
