"""Aggregate ids: uuid5 over business keys, so that every id is reproducible and idempotent."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from uuid import UUID, uuid5

NAMESPACE = UUID("6f1d3c2e-8a4b-5c7d-9e0f-1a2b3c4d5e6f")


@lru_cache(maxsize=1 << 20)  # a settlement asks for every account's id, a replay again
def account_id(account: str) -> UUID:
    return uuid5(NAMESPACE, f"account:{account}")


def cycle_id(cycle: str) -> UUID:
    return uuid5(NAMESPACE, f"cycle:{cycle}")


def command_id(command: str) -> UUID:
    return uuid5(NAMESPACE, f"command:{command}")


INSURANCE_FUND_ID = uuid5(NAMESPACE, "insurance_fund")
REGISTRY_ID = uuid5(NAMESPACE, "registry")


def event_ref(event: Any) -> str:
    """How the ledger cites an event: its aggregate id and version."""
    return f"{event.originator_id}:{event.originator_version}"
