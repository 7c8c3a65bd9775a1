"""Aggregate ids: uuid5 over business keys, so that every id is reproducible and idempotent."""

from __future__ import annotations

from functools import lru_cache
from hashlib import sha1
from typing import Any
from uuid import UUID, uuid5

NAMESPACE = UUID("6f1d3c2e-8a4b-5c7d-9e0f-1a2b3c4d5e6f")
NAMESPACE_BYTES = NAMESPACE.bytes


@lru_cache(maxsize=1 << 20)  # a settlement asks for every account's id, a replay again
def account_id(account: str) -> UUID:
    """`uuid5(NAMESPACE, "account:" + account)`, its bytes computed as uuid5 computes them
    (uuid5's own `UUID(version=5)` sets the bits on a 128-bit integer: a quarter of its time, once
    for each of a million accounts)."""
    return UUID(bytes=bytes(_account_digest(account)))


def account_key(account: str) -> str:
    """`account_id(account).hex`, without building the UUID: a cycle names the aggregates of a
    million accounts when it is loaded."""
    return _account_digest(account).hex()


def _account_digest(account: str) -> bytearray:
    name = NAMESPACE_BYTES + b"account:" + account.encode("utf-8")
    digest = bytearray(sha1(name).digest()[:16])  # noqa: S324 - uuid5 is SHA-1 by definition
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    return digest


@lru_cache(maxsize=1024)  # every position command asks for the open cycle's
def cycle_id(cycle: str) -> UUID:
    return uuid5(NAMESPACE, f"cycle:{cycle}")


def command_id(command: str) -> UUID:
    return uuid5(NAMESPACE, f"command:{command}")


INSURANCE_FUND_ID = uuid5(NAMESPACE, "insurance_fund")
REGISTRY_ID = uuid5(NAMESPACE, "registry")


def event_ref(event: Any) -> str:
    """How the ledger cites an event: its aggregate id and version."""
    return f"{event.originator_id}:{event.originator_version}"
