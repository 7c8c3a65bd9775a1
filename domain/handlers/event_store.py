"""What the ledger needs of its event store beyond eventsourcing's `Application`.

Declared here in the ledger's terms and implemented in infrastructure/eventstore/: the factory
that PERSISTENCE_MODULE names provides it (`ledger_event_store(application)`), so that the domain
never reaches into a recorder's methods or the repository cache's internals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

from domain.core.errors import LedgerError


class EventStoreUnsupportedError(LedgerError):
    """Raised when the configured persistence module does not provide the ledger's EventStore."""


# An accepted command as its store keeps it: (command id, content hash, command type, canonical
# content, the number of events it produced).
CommandRow = tuple[str, str, str, str, int]


class EventStore(Protocol):
    """Saving, bulk look-ups, the audit chain's head and the aggregate cache."""

    save_seconds: float  # spent in saves so far: what `bench` calls append

    def save(
        self,
        aggregates: Sequence[Aggregate],
        read_versions: Mapping[UUID, int],
        read_head: int | None = None,
        commands: Sequence[CommandRow] = (),
        attribution: Mapping[tuple[UUID, int], str] | None = None,
    ) -> tuple[int, int] | None:
        """Save the aggregates' pending events in one atomic transaction, which conflicts if
        an aggregate of `read_versions` (read, not changed) is no longer at that version, or
        if the log no longer ends at `read_head` (a save computed from the whole log); the
        first and last log positions the save took (consecutive), None when it wrote none.
        With `commands`, their rows are stored in the same transaction (a command id stored
        meanwhile conflicts), and each event names the command of `attribution` (aggregate
        id, version) that produced it."""

    def keeps_commands(self) -> bool:
        """Whether the store keeps command rows (`save`'s `commands`, `command_hashes`)."""

    def may_hold_command_records(self) -> bool:
        """Whether accepted commands may be stored as `CommandRecord` aggregates: the store
        keeps no command rows, or was written in part before it did."""

    def command_hashes(self, command_ids: Sequence[str]) -> dict[str, str] | None:
        """The content hash of each of these commands that is stored, in one query; None
        when the store keeps no command rows."""

    def existing(self, aggregate_ids: Sequence[UUID]) -> set[UUID] | None:
        """Which of these aggregates are stored, in one query; None when the store cannot say."""

    def events_of(self, aggregate_ids: Sequence[UUID]) -> list[StoredEvent] | None:
        """The stored events of these aggregates, each aggregate's in version order, in one
        query; None when the store cannot read them in bulk."""

    def raw_events(self, aggregate_id: UUID) -> list[tuple[int, str, bytes]] | None:
        """(version, topic, state) of every event of one aggregate in version order, in one
        query and without an object per event; None when the store cannot read them so."""

    def chain_head(self) -> tuple[int, bytes] | None:
        """The audit chain's last position and hash; None when the log is empty or unchained."""

    def log_range(
        self, first: int, last: int | None, topics: Sequence[str]
    ) -> Iterator[tuple[str, str, dict[str, Any]]] | None:
        """The states of the events of the given topics from log position `first` to `last`
        (the end of the log when None), in log order, each with its aggregate id in hex,
        decoded as plain JSON (a decimal as the transcoder's {"_type_", "_data_"}); None when
        the store cannot read a range of its log."""

    def position_of(self, event: tuple[UUID, int]) -> int | None:
        """The log position of a stored event (aggregate id, version); None if not stored,
        or when the store cannot say."""

    def is_cached(self, aggregate_id: UUID) -> bool:
        """Whether loading the aggregate would be served from the repository cache."""

    def remember(self, aggregate: Aggregate) -> None:
        """Put an aggregate loaded outside the repository into its cache."""

    def evict(self, aggregate_ids: Iterable[UUID]) -> None:
        """Drop aggregates from the repository cache: their next load reads the store."""

    def evict_all(self) -> None:
        """Drop every cached aggregate."""


EventStoreConstructor = Callable[[Application[UUID]], EventStore]


@runtime_checkable
class EventStoreFactory(Protocol):
    """A persistence factory that also provides the ledger's EventStore."""

    def ledger_event_store(self, application: Application[UUID]) -> EventStore: ...


def event_store_of(
    application: Application[UUID], constructor: EventStoreConstructor | None
) -> EventStore:
    """The given constructor's store, else the one the persistence factory provides."""
    if constructor is not None:
        return constructor(application)
    factory = application.factory
    if not isinstance(factory, EventStoreFactory):
        raise EventStoreUnsupportedError(
            f"the persistence factory {type(factory).__name__} does not provide the ledger's "
            "event store: open the ledger through a database URL (infrastructure/eventstore/)"
        )
    return factory.ledger_event_store(application)
