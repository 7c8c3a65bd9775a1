"""The unit of work: aggregates changed by commands, saved together in one atomic `save()`.

Commands check every rule before they change anything, so a refused command leaves no
pending event; the unit of work verifies that, and saves the accepted commands in batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate

from domain.command_log import CommandRecord
from domain.core.errors import ensure
from domain.core.ids import INSURANCE_FUND_ID, REGISTRY_ID
from domain.core.policy import Policy
from domain.cycles import Cycle
from domain.handlers.event_store import EventStore
from domain.insurance_fund import InsuranceFund
from domain.registry import Registry

TAggregate = TypeVar("TAggregate", bound=Aggregate)
NEW = -1  # the version noted for an aggregate a command created


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

    def find(self, aggregate_id: UUID, kind: type[TAggregate]) -> TAggregate | None:
        aggregate = self.pending.get(aggregate_id) or self.loaded.get(aggregate_id)
        if aggregate is None and aggregate_id in self.absent:
            return None
        if aggregate is None:
            try:
                aggregate = self.application.repository.get(aggregate_id, deepcopy_from_cache=False)
            except AggregateNotFoundError:
                return None
            self.loaded[aggregate_id] = aggregate
        self.seen.setdefault(aggregate_id, aggregate.version)
        ensure(isinstance(aggregate, kind), f"aggregate {aggregate_id} is a {kind.__name__}")
        return aggregate  # type: ignore[return-value]

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
        if not self.pending:
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
        try:
            self.store.save(list(self.pending.values()), read)
        except Exception:
            self.discard()
            raise
        self._forget_command_records()
        self.pending.clear()
        self.loaded.clear()
        self.registry_draft = None
        return count

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
