"""Tampering undone: a store's events and chain tables put back as they were, and the chain
rewritten as an attacker with database rights would (tests/support/tampering.py)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from infrastructure.eventstore.chain import GENESIS, canonical, stored_bytes
from tests.support.tampering import Store


@contextmanager
def kept(store: Store) -> Iterator[None]:
    """Whatever the block does to the events and chain tables is undone after it (every
    column of the chain table, whatever columns it has)."""
    events = f"{store.position}, originator_id, originator_version, topic, state"
    store.sql(f"CREATE TABLE kept_events AS SELECT {events} FROM {store.events}")
    store.sql(f"CREATE TABLE kept_chain AS SELECT * FROM {store.chain}")
    try:
        yield
    finally:
        store.sql(f"DELETE FROM {store.events}")
        store.sql(f"INSERT INTO {store.events} ({events}) SELECT * FROM kept_events")
        store.sql(f"DELETE FROM {store.chain}")
        store.sql(f"INSERT INTO {store.chain} SELECT * FROM kept_chain")
        store.sql("DROP TABLE kept_events")
        store.sql("DROP TABLE kept_chain")


def rewrite_chain_from(store: Store, first: int) -> None:
    """Every chain hash from `first` on recomputed over the rows as they are now, as
    chained_rows() reads them (canonical() of chain.py), from the stored hash before `first`."""
    before = store.sql(
        f"SELECT chain_hash FROM {store.chain} WHERE position < ? ORDER BY position DESC LIMIT 1",
        (first,),
    )
    previous = bytes(before[0][0]) if before else GENESIS
    for position in [p for p in store.positions() if p >= first]:
        originator_id, version, topic, state = store.row(position)
        body = canonical(
            position, uuid.UUID(str(originator_id)), int(version), str(topic), stored_bytes(state)
        )
        previous = hashlib.sha256(previous + body).digest()
        store.sql(
            f"UPDATE {store.chain} SET chain_hash = ? WHERE position = ?", (previous, position)
        )
