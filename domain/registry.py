"""The ledger's registry: the policy versions, the cycles in order, the open cycle."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.core.errors import CycleAlreadyOpenError, NoOpenCycleError
from domain.core.ids import REGISTRY_ID
from domain.core.policy import Policy, policy_from_record


class Registry(Aggregate):
    """One per ledger: small, and changed only by policy and cycle commands."""

    @staticmethod
    def create_id() -> UUID:
        return REGISTRY_ID

    @event("Created")
    def __init__(self) -> None:
        self.policies: list[dict[str, Any]] = []
        self.cycles: list[str] = []
        self.open_cycle: str | None = None
        self.money_booked = False

    @property
    def policy(self) -> Policy:
        """The latest policy: the one the next cycle will open with."""
        return policy_from_record(self.policies[-1]) if self.policies else Policy()

    def policy_version(self, version: int) -> Policy:
        if version == 0:
            return Policy()
        return policy_from_record(self.policies[version - 1])

    def require_open_cycle(self) -> str:
        if self.open_cycle is None:
            raise NoOpenCycleError("no cycle is open: open one with open_cycle first")
        return self.open_cycle

    def require_can_open(self, cycle: str) -> None:
        if self.open_cycle is not None:
            raise CycleAlreadyOpenError(
                f"cycle {self.open_cycle} is still open: settle it before opening {cycle}"
            )
        if cycle in self.cycles:
            raise CycleAlreadyOpenError(f"cycle {cycle} was opened before: cycle ids are unique")

    @property
    def last_cycle(self) -> str | None:
        return self.cycles[-1] if self.cycles else None

    def cycle_after(self, cycle: str) -> str | None:
        """The cycle opened after the given one, if any."""
        index = self.cycles.index(cycle)
        return self.cycles[index + 1] if index + 1 < len(self.cycles) else None

    @event("PolicySet")
    def record_policy(self, policy: dict[str, Any], at: str) -> None:
        self.policies = [*self.policies, policy]

    @event("MoneyFirstBooked")
    def record_money_booked(self, at: str) -> None:
        self.money_booked = True

    @event("CycleOpened")
    def record_cycle_opened(self, cycle: str, at: str) -> None:
        self.cycles = [*self.cycles, cycle]
        self.open_cycle = cycle

    @event("CycleSettled")
    def record_cycle_settled(self, cycle: str, at: str) -> None:
        self.open_cycle = None
