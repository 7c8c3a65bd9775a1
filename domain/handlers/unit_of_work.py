"""The unit of work: aggregates changed by commands, saved together in one atomic `save()`.

Commands check every rule before they change anything, so a refused command leaves no
pending event; the unit of work verifies that, and saves the accepted commands in batches.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate

from domain.accounts import Account
from domain.command_log import CommandRecord
from domain.core.book import Book, Quanta, held, opening_book
from domain.core.errors import ensure, present
from domain.core.ids import INSURANCE_FUND_ID, REGISTRY_ID, cycle_id, event_ref
from domain.core.policy import Policy
from domain.core.settlement_rows import (
    B_CONTRACT,
    Row,
    cash_taken,
    opened_positions,
    opening_cash_taken,
    row_ref,
    settled_positions,
)
from domain.cycles import Cycle, reconstruct
from domain.handlers.event_store import CommandRow, EventStore
from domain.insurance_fund import InsuranceFund
from domain.registry import Registry

TAggregate = TypeVar("TAggregate", bound=Aggregate)
NEW = -1  # the version noted for an aggregate a command created
CHUNKS_KEPT = 8  # decoded chunk events kept for the accounts loaded after a settlement


class AccountRows(list[Row]):
    """One account's rows of a chunk event, with their indices in the event's rows and how
    the ledger cites them."""

    def __init__(self, rows: list[Row], start: int, event: Any | None) -> None:
        super().__init__(rows)
        self.indices = range(start, start + len(rows))
        self.references = (
            [] if event is None else [row_ref(event_ref(event), i) for i in self.indices]
        )


class ChunkIndex:
    """A chunk event's rows with their account column kept aside for bisection."""

    def __init__(self, event: Any) -> None:
        self.event = event
        self.accounts = [row[0] for row in event.rows]

    def of(self, account: str) -> AccountRows:
        start = bisect_left(self.accounts, account)
        stop = bisect_right(self.accounts, account)
        return AccountRows(self.event.rows[start:stop], start, self.event)


def chunk_of(chunks: Sequence[tuple[str, str, Any, Any]], account: str) -> int | None:
    """The index of the chunk whose run of accounts (first, last, ...) holds the account."""
    index = bisect_right([chunk[0] for chunk in chunks], account) - 1
    return index if index >= 0 and chunks[index][1] >= account else None


@dataclass
class KnownBook:
    """The book of the open cycle as this process has seen it written: every position event
    of the cycle up to log position `position` folded in (domain/core/book.py), its amounts
    in quanta of the cycle's quantum (`quanta`, kept with the book: its texts are shared by
    every record folded in)."""

    position: int
    book: Book
    quantum: Decimal
    quanta: Quanta = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.quanta = Quanta(self.quantum)


POSITION_EVENTS = ("PositionOpened", "PositionClosed", "PositionLiquidated")


@dataclass(frozen=True)
class BoundaryRows:
    """An account's rows of a cycle boundary: its booking (or opening) rows, its LossShared
    rows, and the quantum of their amounts."""

    rows: AccountRows
    shares: AccountRows
    quantum: Decimal


class UnitOfWork:
    """The aggregates touched since the last save, and the way to load the others."""

    def __init__(
        self, application: Application[UUID], store: EventStore, clock: Callable[[], str]
    ) -> None:
        self.application = application
        self.store = store
        self.clock = clock
        self.pending: dict[UUID, Aggregate] = {}
        # Every cached object handed out since the last save: the ones a failure may have
        # left half-changed, evicted together by discard().
        self.loaded: dict[UUID, Aggregate] = {}
        self.registry_draft: Registry | None = None
        # The version of every aggregate the current command was handed, at first sight
        # (NEW for one it created): what a refused command must have left as it found it.
        self.seen: dict[UUID, int] = {}
        # Aggregates a lookup ahead of the batch found not stored (LossLedger.prefetch): found
        # absent without a query. Another writer storing one meanwhile makes our save conflict.
        self.absent: set[UUID] = set()
        # The log position a pending save was computed from (a settlement reads the whole
        # cycle's log): the save conflicts if another writer appended after it.
        self.read_head: int | None = None
        self.chunks: dict[tuple[UUID, int], ChunkIndex] = {}
        # The open cycle's book, kept up to date by this process's own saves: a settlement
        # then reads from the log only what other writers appended (domain/handlers/settlement.py).
        self.known_books: dict[str, KnownBook] = {}
        # The accepted commands of the pending save, as their rows (command id -> content
        # hash, type, content; the events they produced are counted at the save), and the
        # command that produced each pending event (aggregate id, version).
        self.commands: dict[str, tuple[str, str, str]] = {}
        self.attribution: dict[tuple[UUID, int], str] = {}
        self._attributed: dict[UUID, int] = {}  # pending events attributed so far, by aggregate
        # Content hashes of stored commands looked up ahead of the batch (None: not stored).
        self.stored_commands: dict[str, str | None] = {}

    def find(self, aggregate_id: UUID, kind: type[TAggregate]) -> TAggregate | None:
        aggregate = self.pending.get(aggregate_id) or self.loaded.get(aggregate_id)
        if aggregate is None and aggregate_id in self.absent:
            return None
        if aggregate is None and kind is Cycle and not self.store.is_cached(aggregate_id):
            aggregate = self._load_cycle(aggregate_id)
            if aggregate is None:
                return None
            self.loaded[aggregate_id] = aggregate
        if aggregate is None:
            try:
                aggregate = self.application.repository.get(aggregate_id, deepcopy_from_cache=False)
            except AggregateNotFoundError:
                return None
            self.loaded[aggregate_id] = aggregate
        if isinstance(aggregate, Account) and aggregate_id not in self.seen:
            self.catch_up(aggregate)
        self.seen.setdefault(aggregate_id, aggregate.version)
        if not isinstance(aggregate, kind):  # the message formatted only when it is raised
            ensure(False, f"aggregate {aggregate_id} is a {kind.__name__}")
        return aggregate  # type: ignore[return-value]

    def known_command_hash(self, command: str) -> str | None:
        """The content hash of a command id accepted in the pending save or found by the
        look-up ahead of the batch; None otherwise (not asked of the store)."""
        pending = self.commands.get(command)
        return pending[0] if pending is not None else self.stored_commands.get(command)

    def stored_command_hash(self, command: str) -> str | None:
        """The content hash under which a command id was accepted: in the pending save, in
        the store's command rows; None if neither holds it (a store that keeps no command
        rows, or written before it did, may hold it as a `CommandRecord`)."""
        if command in self.commands or command in self.stored_commands:
            return self.known_command_hash(command)
        found = self.store.command_hashes([command])
        return None if found is None else found.get(command)

    def accept_command(self, command: str, command_type: str, content: str, digest: str) -> None:
        """Record an accepted command for the pending save, and name it as the producer of
        every pending event not yet attributed (its own, and the rows of cycle boundaries
        that a load applied to the accounts it changed)."""
        self.commands[command] = (digest, command_type, content)
        for key in self.seen:  # what the command was handed or created: nothing else changed
            aggregate = self.pending.get(key)
            if aggregate is None:
                continue
            events = aggregate.pending_events
            for event in events[self._attributed.get(key, 0) :]:
                self.attribution[(key, event.originator_version)] = command
            self._attributed[key] = len(events)

    def _command_rows(self) -> list[CommandRow]:
        produced: dict[str, int] = dict.fromkeys(self.commands, 0)
        for command in self.attribution.values():
            produced[command] += 1
        return [
            (command, digest, command_type, content, produced[command])
            for command, (digest, command_type, content) in self.commands.items()
        ]

    def _forget_commands(self, saved: bool) -> None:
        """Drop the pending save's commands: saved, they are stored now (a later line of
        the batch with the same id is found applied); else their look-ups are dropped too."""
        if saved:
            self.stored_commands.update({c: row[0] for c, row in self.commands.items()})
        else:
            self.stored_commands.clear()
        self.commands.clear()
        self.attribution.clear()
        self._attributed.clear()

    def touch(self, *aggregates: Aggregate) -> None:
        """Mark aggregates as changed: they are saved at the next flush."""
        for aggregate in aggregates:
            self.pending[aggregate.id] = aggregate
            self.absent.discard(aggregate.id)
            self.seen.setdefault(aggregate.id, NEW)

    def registry(self) -> Registry:
        """The ledger's registry; a new one is saved only once a command records on it."""
        registry = self.find(REGISTRY_ID, Registry)
        if registry is None:
            if self.registry_draft is None:
                self.registry_draft = Registry()
            registry = self.registry_draft
        return registry

    def insurance_fund(self, at: str) -> InsuranceFund:
        fund = self.find(INSURANCE_FUND_ID, InsuranceFund)
        if fund is None:
            fund = InsuranceFund(at=at)
            self.touch(fund)
        return fund

    def existing_insurance_fund(self) -> InsuranceFund | None:
        return self.find(INSURANCE_FUND_ID, InsuranceFund)

    def _load_cycle(self, aggregate_id: UUID) -> Cycle | None:
        """A cycle read in one query and rebuilt without an event object per AccountJoined
        (domain/cycles.py `reconstruct`), then cached as the repository caches what it loads."""
        stored = self.store.raw_events(aggregate_id)
        if stored is None:  # this store cannot read in bulk: the repository loads it
            try:
                found: Any = self.application.repository.get(
                    aggregate_id, deepcopy_from_cache=False
                )
            except AggregateNotFoundError:
                return None
            return found if isinstance(found, Cycle) else None
        cycle = reconstruct(aggregate_id, stored, self.application.mapper.to_domain_event)
        if cycle is not None:
            self.store.remember(cycle)
        return cycle

    # --- the rows of cycle boundaries ---------------------------------------------------------

    def catch_up(self, account: Account) -> None:
        """Apply to an account the rows of every cycle boundary recorded in chunks since its
        last event: the settlement of the cycle its records belong to, then the opening of
        the next cycle for the positions it carries. Each is recorded as `RowsApplied` on the
        account, saved with the next command that changes the account (a command that only
        reads it, or is refused, saves nothing: the next load applies the rows again)."""
        while account.positions and account.book_cycle is not None:
            cycle = self.find(cycle_id(account.book_cycle), Cycle)
            if cycle is None:
                return
            if account.book_state == "open":
                if not (cycle.settled and cycle.chunks):
                    return  # open, or settled with an event per account (already applied)
                self._apply_settlement(account, cycle)
            else:
                following = self.registry().cycle_after(cycle.cycle)
                if following is None:
                    return
                opened = present(self.find(cycle_id(following), Cycle), "a registered cycle")
                if not opened.opening_chunks:
                    return
                self._apply_opening(account, opened)

    def _apply_settlement(self, account: Account, cycle: Cycle) -> None:
        found = self.rows_of(cycle, account.account)
        ensure(
            sorted(account.positions) == [row[B_CONTRACT] for row in found.rows],
            f"the settlement of {cycle.cycle} books every position record of {account.account}",
        )
        account.record_rows_applied(
            cycle=cycle.cycle,
            boundary="settled",
            rows=found.rows.references + found.shares.references,
            positions=settled_positions(found.rows, found.shares, cycle.marks, found.quantum),
            cash_after=account.cash - cash_taken(found.rows, found.shares, found.quantum),
            at=present(cycle.settled_at, "a settled cycle's time"),
        )

    def _apply_opening(self, account: Account, cycle: Cycle) -> None:
        found = self.rows_of(cycle, account.account, opening=True)
        account.record_rows_applied(
            cycle=cycle.cycle,
            boundary="opened",
            rows=found.rows.references,
            positions=opened_positions(found.rows, found.quantum),
            cash_after=account.cash - opening_cash_taken(found.rows, found.quantum),
            at=cycle.opened_at,
        )

    def has_rows(self, cycle: Cycle, account: str) -> bool:
        """Whether the account has booking rows in the cycle's settlement (held a position
        record in the cycle)."""
        index = chunk_of(cycle.chunks, account)
        return index is not None and bool(self.chunk(cycle, cycle.chunks[index][2]).of(account))

    def rows_of(self, cycle: Cycle, account: str, opening: bool = False) -> BoundaryRows:
        """An account's rows of a cycle boundary: of its settlement, or of its opening."""
        chunks: list[tuple[str, str, int, int | None]] = (
            [(first, last, version, None) for first, last, version in cycle.opening_chunks]
            if opening
            else cycle.chunks
        )
        index = present(chunk_of(chunks, account), f"{account} has rows in a chunk")
        _, _, version, shares_version = chunks[index]
        booked = self.chunk(cycle, version)
        shares = (
            AccountRows([], 0, None)
            if shares_version is None
            else self.chunk(cycle, shares_version).of(account)
        )
        return BoundaryRows(booked.of(account), shares, booked.event.quantum)

    def chunk(self, cycle: Cycle, version: int) -> ChunkIndex:
        """One chunk event of a cycle, decoded once and kept for the next few look-ups."""
        key = (cycle.id, version)
        found = self.chunks.pop(key, None)
        if found is None:
            # a settlement not saved yet (later commands of its batch) holds it unsaved
            unsaved = [e for e in cycle.pending_events if e.originator_version == version]
            events = unsaved or self.application.repository.event_store.get(
                cycle.id, gt=version - 1, lte=version
            )
            found = ChunkIndex(next(iter(events)))
        self.chunks[key] = found
        while len(self.chunks) > CHUNKS_KEPT:
            self.chunks.pop(next(iter(self.chunks)))
        return found

    def chunk_events(self, cycle: Cycle, opening: bool = False) -> Iterator[tuple[Any, Any]]:
        """Every chunk of a cycle boundary in account order, one decoded at a time: the
        booking (or opening) event and the LossShared event (None where none)."""
        if opening:
            for _, _, version in cycle.opening_chunks:
                yield self.chunk(cycle, version).event, None
            return
        for _, _, version, shares_version in cycle.chunks:
            booked = self.chunk(cycle, version).event
            yield (
                booked,
                None if shares_version is None else self.chunk(cycle, shares_version).event,
            )

    def policy(self, version: int | None = None) -> Policy:
        registry = self.find(REGISTRY_ID, Registry)
        if registry is None:
            return Policy()
        return registry.policy if version is None else registry.policy_version(version)

    def chain_anchor(self) -> dict[str, object] | None:
        """The audit chain's head before this command, if the event store keeps a chain."""
        found = self.store.chain_head()
        return None if found is None else {"position": found[0], "hash": found[1].hex()}

    def begin_command(self) -> None:
        """Start watching what the next command is handed (one dict, not a copy of the batch)."""
        self.seen = {}

    def ensure_unchanged(self) -> None:
        """A refused command must not have changed anything (its checks come first)."""
        for key, version in self.seen.items():
            aggregate = self.pending.get(key) or self.loaded.get(key)
            ensure(
                aggregate is None or aggregate.version == version,
                "a refused command left no pending event",
            )

    def flush(self) -> int:
        """Save every pending aggregate in one atomic transaction; the number of events."""
        if not self.pending and not self.commands:
            return 0
        count = sum(len(aggregate.pending_events) for aggregate in self.pending.values())
        # The cycle and the registry a batch only read (position commands check the open cycle
        # on them) must be as read when the save commits: the event store checks their versions
        # in the insert's transaction and conflicts otherwise (docs/reliability.md).
        read = {
            key: aggregate.version
            for key, aggregate in self.loaded.items()
            if key not in self.pending and isinstance(aggregate, Cycle | Registry)
        }
        changes, opened = self._book_changes()
        ensure(
            not self.commands or len(self.attribution) == count,
            "every event of the save names the command that produced it",
        )
        try:
            positions = self.store.save(
                list(self.pending.values()),
                read,
                self.read_head,
                self._command_rows(),
                self.attribution,
            )
        except Exception:
            self.discard()
            raise
        finally:
            self.read_head = None
        if positions is not None:
            self._keep_books(positions, changes, opened)
        self._forget_command_records()
        self._forget_commands(saved=True)
        self.pending.clear()
        self.loaded.clear()
        self.registry_draft = None
        return count

    def _book_changes(
        self,
    ) -> tuple[list[tuple[str, str, str, dict[str, Any]]], dict[str, tuple[Decimal, list[Row]]]]:
        """What the pending save changes in cycles' books: the (cycle, account, contract,
        record) of every position event, and the opening rows of every cycle it opens."""
        changes = []
        opened: dict[str, tuple[Decimal, list[Row]]] = {}
        for aggregate in self.pending.values():
            events: list[Any] = list(aggregate.pending_events)
            if isinstance(aggregate, Account):
                changes += [
                    (e.cycle, aggregate.account, e.contract, e.position)
                    for e in events
                    if type(e).__name__ in POSITION_EVENTS
                ]
            elif isinstance(aggregate, Cycle):
                names = [type(e).__name__ for e in events]
                if "Opened" in names:
                    rows = [
                        row for e in events if type(e).__name__ == "OpeningBooked" for row in e.rows
                    ]
                    opened[aggregate.cycle] = (self.policy(aggregate.policy_version).quantum, rows)
        return changes, opened

    def _keep_books(
        self,
        positions: tuple[int, int],
        changes: list[tuple[str, str, str, dict[str, Any]]],
        opened: dict[str, tuple[Decimal, list[Row]]],
    ) -> None:
        """Fold a save into the books it follows on from: a book that missed another
        writer's save stays where it was, and the settlement reads the rest from the log."""
        first, last = positions
        for cycle, (quantum, rows) in opened.items():
            self.known_books[cycle] = KnownBook(first - 1, opening_book([rows], quantum), quantum)
        for cycle, known in self.known_books.items():
            if known.position == first - 1:
                quanta = known.quanta
                for changed, account, contract, record in changes:
                    if changed == cycle:
                        known.book.setdefault(account, {})[contract] = held(record, quanta)
                known.position = last

    def _forget_command_records(self) -> None:
        """The save cached every aggregate it wrote; a command record is read again only if
        its id comes back, so it must not push the accounts and the open cycle (whose reload
        replays every event of the cycle) out of the cache."""
        self.evict(key for key, a in self.pending.items() if isinstance(a, CommandRecord))

    def evict(self, keys: Iterable[UUID]) -> None:
        """Drop aggregates from the repository cache: their next load reads the store."""
        self.store.evict(keys)

    def evict_all(self) -> None:
        self.store.evict_all()

    def discard(self) -> None:
        """Forget unsaved changes, including the cached objects they were made on."""
        self.evict(self.pending | self.loaded)
        self.pending.clear()
        self.loaded.clear()
        self.absent.clear()
        self.registry_draft = None
        self.read_head = None
        self._forget_commands(saved=False)
