"""Standalone verifier of the lossledger audit chain, written from docs/audit-format.md alone.

It reads the events and chain tables directly (nothing from lossledger is imported), recomputes
every chain hash, checks each settlement's anchor and prints what `lossledger verify` prints:

    python docs/audit/verify_chain.py sqlite:///path/to/ledger.db
    python docs/audit/verify_chain.py "postgresql://user@host:5432/db?schema=S" [--from N]

Exit 0 with `verified N events from position S; head <hex> at position P` on stdout, or exit 1
with `error: position N: <reason>` on stderr at the first bad position.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

PREFIX = b"lossledger-chain-v1\n"  # 20 bytes, ends in one line feed
ZERO = bytes(32)  # the "previous" chain hash of the first event
SETTLED = "domain.cycles:Cycle.Settled"
DELETED = "an event was deleted: its chain row has no event"
INSERTED = "an event was inserted: it has no chain row"
CHANGED = "the event does not match its chain hash: updated, replaced or reordered"

# Event = (originator_id as 16 bytes, originator_version, topic, state); keyed by position.
Events = dict[int, tuple[bytes, int, str, bytes]]


def read_sqlite(path: str) -> tuple[Events, dict[int, bytes]]:
    """SQLite: position is the rowid; originator_id is TEXT, 32 lower-case hex digits."""
    # Opened read-only: the verifier never creates or writes a database.
    connection = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events"
        ).fetchall()
        chain = connection.execute("SELECT position, chain_hash FROM stored_events_chain")
        hashes = {int(p): bytes(h) for p, h in chain.fetchall()}
    finally:
        connection.close()
    return {int(p): (uuid.UUID(hex=o).bytes, v, t, bytes(s)) for p, o, v, t, s in rows}, hashes


def read_postgresql(url: str) -> tuple[Events, dict[int, bytes]]:
    """PostgreSQL: tables in the URL's `schema` (default public); originator_id is a uuid."""
    import psycopg  # only needed for PostgreSQL
    from psycopg.sql import SQL, Identifier

    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://", 1))
    query = dict(parse_qsl(parts.query))
    schema = Identifier(query.pop("schema", "public"))  # the libpq URL must not carry it
    with psycopg.connect(urlunsplit(parts._replace(query=urlencode(query)))) as connection:
        rows: list[Any] = connection.execute(
            SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM {}.lossledger_events"
            ).format(schema)
        ).fetchall()
        chain: list[Any] = connection.execute(
            SQL("SELECT position, chain_hash FROM {}.lossledger_events_chain").format(schema)
        ).fetchall()
    events = {int(p): (o.bytes, v, t, bytes(s)) for p, o, v, t, s in rows}
    return events, {int(p): bytes(h) for p, h in chain}


def canonical(position: int, event: tuple[bytes, int, str, bytes]) -> bytes:
    """The canonical bytes of one event, field by field as the page lays them out."""
    originator_id, version, topic, state = event
    topic_bytes = topic.encode("utf-8")
    return b"".join(
        [
            PREFIX,
            position.to_bytes(8, "big"),
            originator_id,  # 16 bytes, RFC 4122 order
            version.to_bytes(8, "big"),
            len(topic_bytes).to_bytes(4, "big"),
            topic_bytes,
            len(state).to_bytes(8, "big"),
            state,
        ]
    )


def verify(events: Events, hashes: dict[int, bytes], start: int) -> tuple[bool, str]:
    """Walk every position of either table from `start`; (ok, line to print)."""
    # --from N starts from the stored chain hash of the last position before N (positions may
    # skip numbers), which must exist when N > 1.
    prior = max((p for p in hashes if p < start), default=0)
    if start > 1 and not prior:
        return False, f"position {start - 1}: no chain hash to start from"
    previous, head_position = (hashes[prior], prior) if prior else (ZERO, 0)
    recomputed: dict[int, bytes] = {}  # position -> chain hash recomputed by this run
    count = 0
    for position in sorted(p for p in events.keys() | hashes.keys() if p >= start):
        if position not in events:
            return False, f"position {position}: {DELETED}"
        if position not in hashes:
            return False, f"position {position}: {INSERTED}"
        event = events[position]
        computed = hashlib.sha256(previous + canonical(position, event)).digest()
        if computed != hashes[position]:
            return False, f"position {position}: {CHANGED}"
        recomputed[position] = previous = hashes[position]
        # A settlement's anchor pins the chain as it stood before it. Anchors before `start`
        # lie outside the range this run recomputes (--from trusts that part) and are skipped.
        if event[2] == SETTLED:
            try:
                anchor = json.loads(event[3])["summary"]["chain_anchor"]
                at, pinned = int(anchor["position"]), str(anchor["hash"])
            except (ValueError, KeyError, TypeError):
                return False, f"position {position}: the settlement has no readable anchor"
            if at >= start and (at not in recomputed or recomputed[at].hex() != pinned):
                return False, (
                    f"position {position}: the settlement's anchor at position {at} "
                    "differs from the chain"
                )
        count, head_position = count + 1, position
    head = previous.hex() if head_position else "(empty log)"
    return (
        True,
        f"verified {count} events from position {start}; head {head} at position {head_position}",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="Verify a lossledger audit chain.")
    parser.add_argument("url", help="sqlite:///FILE or postgresql://...?schema=S")
    parser.add_argument("--from", dest="start", type=int, default=1, help="first position")
    arguments = parser.parse_args()
    if arguments.start < 1:
        parser.error("--from must be at least 1")
    try:  # a store that cannot be read is not a verdict on the chain: exit 2, not 1
        if arguments.url.startswith("sqlite:///"):
            events, hashes = read_sqlite(arguments.url.removeprefix("sqlite:///"))
        elif arguments.url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            events, hashes = read_postgresql(arguments.url)
        else:
            parser.error("the database URL must start with sqlite:/// or postgresql://")
    except Exception as error:  # sqlite3.Error, psycopg.Error, a malformed stored uuid...
        print(f"error: cannot read the store: {error}", file=sys.stderr)
        return 2
    ok, line = verify(events, hashes, arguments.start)
    print(line if ok else f"error: {line}", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
