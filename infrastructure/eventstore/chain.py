"""The audit chain's format: every stored event linked to the one before it by SHA-256.

chain_hash(n) = SHA-256(chain_hash(n - 1) || canonical(event n)), with chain_hash(0) = 32 zero
bytes (docs/audit-format.md gives the byte layout). The chained recorders of sqlite.py and
postgres.py write a chain row in the transaction that inserts each event; audit/verify.py
recomputes the chain from the stored rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import RecordConflictError, StoredEvent

GENESIS = bytes(32)
DOMAIN_TAG = b"lossledger-chain-v1\n"
PAGE = 10_000  # positions read per query when the chain is walked


def canonical(position: int, originator_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    """The bytes of one event that the chain covers (docs/audit-format.md)."""
    topic_bytes = topic.encode("utf-8")
    return b"".join(
        (
            DOMAIN_TAG,
            position.to_bytes(8, "big"),
            originator_id.bytes,
            version.to_bytes(8, "big"),
            len(topic_bytes).to_bytes(4, "big"),
            topic_bytes,
            len(state).to_bytes(8, "big"),
            state,
        )
    )


def link(previous: bytes, position: int, event: StoredEvent) -> bytes:
    originator_id = event.originator_id
    if not isinstance(originator_id, UUID):
        originator_id = UUID(str(originator_id))
    body = canonical(position, originator_id, event.originator_version, event.topic, event.state)
    return hashlib.sha256(previous + body).digest()


def stored_bytes(value: object) -> bytes:
    """A stored state as bytes; a state someone rewrote as text is read as its UTF-8 bytes."""
    if value is None:  # a state someone erased: it cannot match its chain hash
        return b""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"a stored state is bytes, not {type(value).__name__}")


def require_as_read(key: UUID, version: int, stored: object) -> None:
    """An aggregate the batch only read must not have changed since (a lost update else)."""
    if stored != version:
        raise RecordConflictError(
            f"aggregate {key} was read at version {version} and is now at version {stored}: "
            "another writer changed it"
        )


def require_head_as_read(read: int, stored: object) -> None:
    """A save that was computed from the whole log up to `read` (a settlement's book) must be
    the next write after it: a position event written meanwhile would be missing from it."""
    if int(str(stored or 0)) != read:
        raise RecordConflictError(
            f"the log was read up to position {read} and now ends at {stored}: "
            "another writer appended to it"
        )


# The accepted commands, one row each, inserted in the transaction of their events: what makes
# `apply` idempotent by id, and what the chain rows' `command` column names (docs/audit-format.md).
COMMANDS_COLUMNS = (
    "command_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL, command_type TEXT NOT NULL, "
    "content TEXT NOT NULL, events INTEGER NOT NULL"
)
COMMANDS_INSERT = "command_id, content_hash, command_type, content, events"


def attributed(
    stored_events: Sequence[StoredEvent], attribution: Mapping[tuple[UUID, int], str] | None
) -> list[str | None]:
    """The command id that produced each event of a save, in its order (None: not given)."""
    if not attribution:
        return [None] * len(stored_events)
    return [
        attribution.get((_uuid(event.originator_id), event.originator_version))
        for event in stored_events
    ]


def _uuid(value: object) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


@dataclass(frozen=True)
class AttributionCounts:
    """The chain rows' commands as `verify` checks them: the first position that names one
    (None: no event of the store does, it was written before events were attributed); from
    the position checked from, the first later event that names none and the first that
    names a command not stored; the events that name a command, and the events the stored
    commands say they produced."""

    first_attributed: int | None
    first_unattributed: int | None
    first_unknown_command: int | None
    attributed_events: int
    counted_events: int


@dataclass(frozen=True)
class ChainedRow:
    """One position of the log as stored: the event (if any) and its chain hash (if any)."""

    position: int
    event: StoredEvent | None
    chain_hash: bytes | None
