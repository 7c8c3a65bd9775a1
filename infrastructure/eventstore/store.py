"""The ledger's EventStore (domain/handlers/event_store.py) over an eventsourcing Application.

Saves are timed and pass the versions the batch only read to the recorder (the chained
recorders check them in the insert's transaction); the bulk look-ups are the chained
recorders' own queries; the cache is eventsourcing's LRU cache of the repository.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

import orjson
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

from domain.handlers.event_store import CommandRow
from infrastructure.eventstore.chain import AttributionCounts

READ_VERSIONS = "read_versions"  # the keywords save() passes on to the chained recorders
READ_HEAD = "read_head"
COMMANDS = "commands"
ATTRIBUTION = "attribution"


@runtime_checkable
class BulkRecorder(Protocol):
    """The look-ups the chained recorders (eventstore/sqlite.py, postgres.py) add."""

    def existing_originators(self, originator_ids: Sequence[UUID]) -> set[UUID]: ...
    def select_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]: ...
    def select_raw_events(self, originator_id: UUID) -> list[tuple[int, str, bytes]]: ...
    def chain_head(self) -> tuple[int, bytes] | None: ...
    def log_range(
        self, first: int, last: int | None, topics: Sequence[str]
    ) -> Iterator[tuple[str, str, bytes]]: ...
    def position_of(self, event: tuple[UUID, int]) -> int | None: ...


@runtime_checkable
class CommandRecorder(Protocol):
    """The accepted commands' rows that the chained recorders keep beside the events."""

    def keeps_commands(self) -> bool: ...
    def command_hashes(self, command_ids: Sequence[str]) -> dict[str, str]: ...
    def written_before_commands(self) -> bool: ...
    def attribution_counts(self, start: int) -> AttributionCounts: ...


class ApplicationEventStore:
    """The EventStore of one Application: its recorder, its repository's cache."""

    def __init__(self, application: Application[UUID]) -> None:
        self.application = application
        recorder = application.recorder
        self.bulk = recorder if isinstance(recorder, BulkRecorder) else None
        self.commands = recorder if isinstance(recorder, CommandRecorder) else None
        self._command_records: bool | None = None  # once known: a store never becomes older
        self.save_seconds = 0.0

    def save(
        self,
        aggregates: Sequence[Aggregate],
        read_versions: Mapping[UUID, int],
        read_head: int | None = None,
        commands: Sequence[CommandRow] = (),
        attribution: Mapping[tuple[UUID, int], str] | None = None,
    ) -> tuple[int, int] | None:
        started = time.perf_counter()
        extra: dict[str, Any] = {READ_VERSIONS: dict(read_versions)} if read_versions else {}
        if read_head is not None:
            extra[READ_HEAD] = read_head
        if commands:
            if not self.keeps_commands():
                raise TypeError("this event store keeps no command rows")
            extra[COMMANDS] = list(commands)
            extra[ATTRIBUTION] = attribution or {}
        recordings = self.application.save(*aggregates, **extra)
        self.save_seconds += time.perf_counter() - started
        positions = [r.notification.id for r in recordings]
        return (min(positions), max(positions)) if positions else None

    def keeps_commands(self) -> bool:
        return self.commands is not None and self.commands.keeps_commands()

    def may_hold_command_records(self) -> bool:
        if self._command_records is None:
            self._command_records = self.commands is None or self.commands.written_before_commands()
        return self._command_records

    def command_hashes(self, command_ids: Sequence[str]) -> dict[str, str] | None:
        if self.commands is None:
            return None
        return self.commands.command_hashes(command_ids) if command_ids else {}

    def existing(self, aggregate_ids: Sequence[UUID]) -> set[UUID] | None:
        return None if self.bulk is None else self.bulk.existing_originators(aggregate_ids)

    def events_of(self, aggregate_ids: Sequence[UUID]) -> list[StoredEvent] | None:
        return None if self.bulk is None else self.bulk.select_events_of(aggregate_ids)

    def raw_events(self, aggregate_id: UUID) -> list[tuple[int, str, bytes]] | None:
        return None if self.bulk is None else self.bulk.select_raw_events(aggregate_id)

    def chain_head(self) -> tuple[int, bytes] | None:
        return None if self.bulk is None else self.bulk.chain_head()

    def log_range(
        self, first: int, last: int | None, topics: Sequence[str]
    ) -> Iterator[tuple[str, str, dict[str, Any]]] | None:
        if self.bulk is None:
            return None
        rows = self.bulk.log_range(first, last, topics)
        return ((originator, topic, orjson.loads(state)) for originator, topic, state in rows)

    def position_of(self, event: tuple[UUID, int]) -> int | None:
        return None if self.bulk is None else self.bulk.position_of(event)

    def is_cached(self, aggregate_id: UUID) -> bool:
        cache = self._cache()
        return cache is not None and aggregate_id in cache.cache

    def remember(self, aggregate: Aggregate) -> None:
        cache = self._cache()
        if cache is not None:
            cache.put(aggregate.id, aggregate)

    def evict(self, aggregate_ids: Iterable[UUID]) -> None:
        cache = self._cache()
        if cache is None:
            return
        for key in list(aggregate_ids):
            with contextlib.suppress(KeyError):
                cache.get(key, evict=True)

    def evict_all(self) -> None:
        # eventsourcing's LRUCache.clear leaves entries behind: evict them one by one
        cache = self._cache()
        if cache is not None:
            self.evict(cache.cache)

    def _cache(self) -> Any:
        return self.application.repository.cache
