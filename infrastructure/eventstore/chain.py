"""The audit chain's format: every stored event linked to the one before it by SHA-256.

chain_hash(n) = SHA-256(chain_hash(n - 1) || canonical(event n)), with chain_hash(0) = 32 zero
bytes (docs/audit-format.md gives the byte layout). The chained recorders of sqlite.py and
postgres.py write a chain row in the transaction that inserts each event; audit/verify.py
recomputes the chain from the stored rows.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
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


# canonical()'s fields up to the topic, packed at once: the tag, the position, the originator id's
# 16 bytes and the version (each number 8 bytes, unsigned, big-endian)
_HEAD = struct.Struct(">20sQ16sQ")
_STATE_LENGTH = struct.Struct(">Q")

# A row of a recorder's chain_page(): (position, originator id as 32 hex digits, originator
# version, topic, state, chain hash) as the database returns them; None in the columns of an
# event or a chain row that is not there.
RawChainRow = tuple[Any, ...]


def linked(previous: bytes, rows: list[RawChainRow], watch: str) -> list[tuple[int, bytes]] | None:
    """(position, state) of the rows whose topic is `watch` if every row links: an event with
    its chain row, its fields of the types canonical() and link() read them as (the id 32 hex
    digits, the version an int, the topic a str, the state bytes), and its stored chain hash
    SHA-256(the stored chain hash of the row before it, `previous` for the first ||
    canonical(row)). None at the first row that does not, or that this cannot read: the
    caller then reads the rows as ChainedRow and link() decides. The bytes hashed are
    link()'s, without its objects per row: whenever this accepts a row, link() gives it the
    hash it was checked against."""
    sha256 = hashlib.sha256
    fromhex = bytes.fromhex
    join = b"".join
    head = _HEAD.pack
    length = _STATE_LENGTH.pack
    watched = _topic_field(watch)
    fields = {watch: watched}  # the 4-byte length and UTF-8 bytes of each topic seen
    found = []
    try:
        for position, originator_id, version, topic, state, chain_hash in rows:
            # UUID() reads 32 hex digits as fromhex() does; fromhex() also skips whitespace
            if len(originator_id) != 32:
                return None
            originator = fromhex(originator_id)
            if len(originator) != 16:
                return None
            field = fields.get(topic)
            if field is None:  # a topic not seen yet; one that is no str has no encode()
                field = fields[topic] = _topic_field(topic)
            body = join(
                (
                    previous,
                    head(DOMAIN_TAG, position, originator, version),
                    field,
                    length(len(state)),
                    state,
                )
            )
            if sha256(body).digest() != chain_hash:
                return None
            if field is watched:
                found.append((position, state))
            previous = chain_hash
    except (TypeError, ValueError, AttributeError, OverflowError, struct.error):
        return None
    return found


def _topic_field(topic: str) -> bytes:
    encoded = topic.encode("utf-8")
    return len(encoded).to_bytes(4, "big") + encoded


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
    the position checked from, the first later event that names none; the events that name a
    command, and the events the stored commands say they produced."""

    first_attributed: int | None
    first_unattributed: int | None
    attributed_events: int
    counted_events: int


@dataclass(frozen=True)
class ChainedRow:
    """One position of the log as stored: the event (if any) and its chain hash (if any)."""

    position: int
    event: StoredEvent | None
    chain_hash: bytes | None
