"""chain.linked(), the streaming check of verify, hashes exactly what link() hashes: whenever
it accepts a row, the row as chained_rows() reads it is an event with a chain row, and the
bytes hashed are link()'s, for values of any type a database column can hold."""

from __future__ import annotations

import hashlib
import string
import uuid
from types import SimpleNamespace
from typing import Any, ClassVar
from unittest import mock

from eventsourcing.persistence import StoredEvent
from hypothesis import example, given, settings
from hypothesis import strategies as st

from infrastructure.eventstore import chain
from infrastructure.eventstore.chain import GENESIS, canonical, link, linked, stored_bytes

SETTLED = "domain.cycles:Cycle.Settled"
ACCEPTED = b"accepted"  # the digest of the stub below, and the rows' chain hash


def as_chained_rows_reads(row: tuple[Any, ...]) -> tuple[int, StoredEvent | None, bytes | None]:
    """The conversion of SQLiteChainedRecorder.chained_rows(): it raises where it cannot."""
    event = None
    if row[1] is not None:
        event = StoredEvent(uuid.UUID(row[1]), int(row[2]), str(row[3]), stored_bytes(row[4]))
    return int(row[0]), event, None if row[5] is None else bytes(row[5])


class Stub:
    """sha256 that records what it is given and calls every row linked."""

    hashed: ClassVar[list[bytes]] = []

    def __init__(self, body: bytes) -> None:
        Stub.hashed.append(bytes(body))

    def digest(self) -> bytes:
        return ACCEPTED


def mostly(plain: st.SearchStrategy[Any], *odd: st.SearchStrategy[Any]) -> Any:
    """Three times in four a value as the recorders store it, else any of the odd ones."""
    others = st.one_of(*odd)
    return st.integers(0, 3).flatmap(lambda pick: plain if pick else others)


hexes = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
ids = mostly(
    st.one_of(hexes, hexes.map(str.upper)),
    hexes.map(lambda h: str(uuid.UUID(h))),
    hexes.map(lambda h: "{" + h + "}"),
    hexes.map(lambda h: "urn:uuid:" + h),
    hexes.map(lambda h: " " + h[1:]),
    hexes.map(lambda h: h[:31] + " "),
    hexes.map(lambda h: h[:16] + " " + h[16:]),
    hexes.map(lambda h: h[:15] + " " + h[16:]),
    hexes.map(lambda h: h[:16] + "_" + h[17:]),
    hexes.map(lambda h: "+" + h[1:]),
    hexes.map(lambda h: "0x" + h[2:]),
    hexes.map(lambda h: "\u0663" + h[1:]),  # an Arabic-Indic digit: int() reads it
    hexes.map(lambda h: h[:30]),
    hexes.map(str.encode),
    st.text(alphabet=string.printable, max_size=40),
    st.binary(max_size=40),
    st.none(),
    st.integers(),
)
versions = mostly(
    st.integers(min_value=0, max_value=2**64 - 1),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.none(),
)
topics = mostly(
    st.one_of(st.sampled_from([SETTLED, "domain.accounts:Account.Opened"]), st.text(max_size=30)),
    st.binary(max_size=30),
    st.none(),
    st.integers(),
)
states = mostly(
    st.binary(max_size=64),
    st.text(max_size=64),
    st.binary(max_size=64).map(bytearray),
    st.none(),
    st.integers(),
)
positions = mostly(st.integers(min_value=1, max_value=2**63 - 1), st.integers())
chain_hashes = mostly(st.just(ACCEPTED), st.none(), st.text(max_size=3), st.integers(0, 40))


@settings(max_examples=1000)  # about a quarter of the rows are accepted
@given(
    previous=st.binary(min_size=32, max_size=32),
    row=st.tuples(positions, ids, versions, topics, states, chain_hashes),
)
@example(previous=GENESIS, row=(1, " " + "a" * 31, 1, "t", b"{}", ACCEPTED))
@example(previous=GENESIS, row=(1, "a" * 30 + " a", 1, "t", b"{}", ACCEPTED))
@example(previous=GENESIS, row=(1, "a" * 32, -1, "t", b"{}", ACCEPTED))
@example(previous=GENESIS, row=(1, "a" * 32, 1, "t", "{}", ACCEPTED))
def test_a_row_linked_accepts_is_hashed_as_link_hashes_it(
    previous: bytes, row: tuple[Any, ...]
) -> None:
    Stub.hashed.clear()
    with mock.patch.object(chain, "hashlib", SimpleNamespace(sha256=Stub)):
        found = linked(previous, [row], SETTLED)
    if found is None:
        return  # the caller reads the row as a ChainedRow and link() decides
    position, event, chain_hash = as_chained_rows_reads(row)  # does not raise
    assert event is not None and chain_hash == ACCEPTED
    expected = canonical(
        position,
        uuid.UUID(str(event.originator_id)),
        event.originator_version,
        event.topic,
        event.state,
    )
    assert Stub.hashed == [previous + expected]
    assert found == ([(position, row[4])] if event.topic == SETTLED else [])


events = st.tuples(
    hexes.map(lambda h: h.upper() if h[0] in "abc" else h),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.one_of(st.sampled_from([SETTLED, "domain.accounts:Account.Opened"]), st.text(max_size=20)),
    st.binary(max_size=200),
)


@given(log=st.lists(events, max_size=12), bad=st.integers(min_value=0))
def test_a_log_links_as_link_chains_it_and_a_changed_hash_is_refused(
    log: list[tuple[str, int, str, bytes]], bad: int
) -> None:
    rows: list[tuple[Any, ...]] = []
    previous = GENESIS
    for position, (originator_id, version, topic, state) in enumerate(log, start=1):
        event = StoredEvent(uuid.UUID(originator_id), version, topic, state)
        previous = link(previous, position, event)
        rows.append((position, originator_id, version, topic, state, previous))
    found = linked(GENESIS, rows, SETTLED)
    assert found == [(row[0], row[4]) for row in rows if row[3] == SETTLED]
    if rows:
        changed = bad % len(rows)
        row = rows[changed]
        rows[changed] = (*row[:5], hashlib.sha256(row[5]).digest())
        assert linked(GENESIS, rows, SETTLED) is None
