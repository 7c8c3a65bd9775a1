"""`lossledger verify`: recompute the audit chain over the stored log, check the anchors, and
check that every event was produced by an accepted command (audit/attribution.py).

The log is read STREAM_PAGE positions a query as raw rows (the recorders' `chain_page`) and
each page is checked by `chain.linked`, without an object per event. A page that it does not
accept (a missing event or chain row, a hash that differs, a field it cannot read, an anchor
that does not hold, a query that fails) is read again as `chained_rows` gives it and checked
row by row, as verify() has always checked every row: the verdict, the reason and the first bad
position are that check's. STREAM_PAGE is a multiple of chain.PAGE, so that the rows read again
are the very pages `chained_rows` would have read from the start.
"""

from __future__ import annotations

import json
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from operator import itemgetter
from typing import Any, Protocol

from domain.core.memory import collector_paused
from infrastructure.audit.attribution import attribution_problem
from infrastructure.eventstore.chain import GENESIS, PAGE, ChainedRow, RawChainRow, link, linked

SETTLED_TOPIC = "domain.cycles:Cycle.Settled"
STREAM_PAGE = 5 * PAGE  # positions a query when the log is streamed (docs/audit.md)


class ChainedRecorder(Protocol):
    def chained_rows(self, start: int = 1) -> Any: ...
    def chain_page(self, after: int, limit: int) -> list[RawChainRow]: ...
    def chain_head(self) -> tuple[int, bytes] | None: ...


@dataclass(frozen=True)
class Verification:
    events: int
    start: int
    head_position: int
    head_hash: str
    first_bad_position: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_bad_position is None


UNREADABLE = "the settlement has no readable anchor"
_POSITION, _CHAIN_HASH = itemgetter(0), itemgetter(5)


def _anchor(row: ChainedRow) -> tuple[int, str] | str | None:
    """The chain anchor a settlement recorded: (position, hash hex) of the head before it;
    None for any other event; UNREADABLE when a settlement's anchor cannot be read."""
    if row.event is None or row.event.topic != SETTLED_TOPIC:
        return None
    return _anchor_in(row.event.state)


def _anchor_in(state: bytes) -> tuple[int, str] | str:
    try:
        anchor = json.loads(state)["summary"]["chain_anchor"]
        return int(anchor["position"]), str(anchor["hash"])
    except (ValueError, KeyError, TypeError):
        return UNREADABLE


class _Verified:
    """The chain hash of every position verified so far, in position order: 8 + 32 bytes each
    (a dict of them held about 140 bytes a position)."""

    def __init__(self) -> None:
        self.positions = array("q")
        self.hashes = bytearray()

    def __len__(self) -> int:
        return len(self.positions)

    def add(self, position: int, chain_hash: bytes) -> None:
        self.positions.append(position)
        self.hashes += chain_hash

    def extend(self, rows: list[RawChainRow]) -> None:
        """Rows chain.linked() accepted: their stored hashes are 32 bytes each."""
        self.positions.extend(map(_POSITION, rows))
        self.hashes += b"".join(map(_CHAIN_HASH, rows))

    def truncate(self, count: int) -> None:
        del self.positions[count:]
        del self.hashes[32 * count :]

    def get(self, position: int, last: int) -> bytes | None:
        """The hash at `position` if it is a verified position no later than `last`."""
        if position > last:
            return None
        at = bisect_left(self.positions, position)
        if at == len(self.positions) or self.positions[at] != position:
            return None
        return bytes(self.hashes[32 * at : 32 * at + 32])


class _Walk:
    """The state of one verification: the stored hash to link the next row to, the last
    position verified, the number of events verified and their hashes."""

    def __init__(self, start: int, position: int, previous: bytes) -> None:
        self.start = start
        self.position = position
        self.previous = previous
        self.count = 0
        self.verified = _Verified()

    def result(self) -> Verification:
        head = self.previous.hex() if self.position else ""
        return Verification(self.count, self.start, self.position, head)

    def page(self, rows: list[RawChainRow]) -> bool:
        """Verify a page of raw rows at once; False, with nothing changed, unless every row
        of it verifies (the rows are then checked again one by one)."""
        mark = len(self.verified)
        try:
            settlements = linked(self.previous, rows, SETTLED_TOPIC)
            if settlements is None:
                return False
            self.verified.extend(rows)
            for position, state in settlements:
                if not self._anchor_holds(position, _anchor_in(state)):
                    self.verified.truncate(mark)
                    return False
        except Exception:  # the row-by-row check raises it again, or decides
            self.verified.truncate(mark)
            return False
        if rows:
            self.previous, self.position = bytes(rows[-1][5]), int(rows[-1][0])
        self.count += len(rows)
        return True

    def _anchor_holds(self, position: int, anchor: tuple[int, str] | str) -> bool:
        if not isinstance(anchor, tuple):
            return False
        at, pinned = anchor
        if at < self.start:
            return True
        verified = self.verified.get(at, position)
        return verified is not None and verified.hex() == pinned

    def rows(self, rows: Iterable[ChainedRow]) -> Verification | None:
        """Verify the rows one by one; the Verification of the first bad one, if any."""
        for row in rows:
            if row.event is None:
                return self._bad(row, "an event was deleted: its chain row has no event")
            if row.chain_hash is None:
                return self._bad(row, "an event was inserted: it has no chain row")
            if link(self.previous, row.position, row.event) != row.chain_hash:
                return self._bad(
                    row, "the event does not match its chain hash: updated, replaced or reordered"
                )
            self.previous = row.chain_hash
            self.verified.add(row.position, row.chain_hash)
            anchor = _anchor(row)
            if anchor == UNREADABLE:
                return self._bad(row, UNREADABLE)
            if isinstance(anchor, tuple):
                at, pinned = anchor
                verified = self.verified.get(at, row.position)
                if at >= self.start and (verified is None or verified.hex() != pinned):
                    return self._bad(
                        row, f"the settlement's anchor at position {at} differs from the chain"
                    )
            self.position = row.position
            self.count += 1
        return None

    def _bad(self, row: ChainedRow, reason: str) -> Verification:
        return Verification(self.count, self.start, row.position, "", row.position, reason)


def _page(recorder: ChainedRecorder, after: int) -> list[RawChainRow] | None:
    try:
        return recorder.chain_page(after, STREAM_PAGE)
    except Exception:  # chained_rows() reads the same rows and raises it again
        return None


def _start(recorder: ChainedRecorder, start: int) -> tuple[int, bytes] | None:
    """The last chain row before `start` (positions may skip numbers): where to start from."""
    if start == 1:
        return 0, GENESIS
    after = 0
    prior = None
    while True:
        rows = _page(recorder, after)
        if rows is None:
            return _start_by_rows(recorder, start)
        before = bisect_left(rows, start, key=lambda row: int(row[0]))
        # _start_by_rows() makes a ChainedRow of every row up to the first at `start` or after
        if not all(_readable(row) for row in rows[: before + 1]):
            return _start_by_rows(recorder, start)
        for row in reversed(rows[:before]):
            if row[5] is not None:
                prior = int(row[0]), bytes(row[5])
                break
        if before < len(rows) or len(rows) < STREAM_PAGE:
            return prior
        after = int(rows[-1][0])
        rows = None


def _readable(row: RawChainRow) -> bool:
    """Whether chained_rows() makes a ChainedRow of this row without an error (only a row of
    the plainest types counts: chained_rows() itself decides any other)."""
    originator_id, version, state, chain_hash = row[1], row[2], row[4], row[5]
    if chain_hash is not None and type(chain_hash) is not bytes:
        return False
    if originator_id is None:
        return True
    if type(originator_id) is not str or len(originator_id) != 32:
        return False
    try:
        if len(bytes.fromhex(originator_id)) != 16:  # UUID() reads these 32 hex digits
            return False
    except ValueError:
        return False
    return type(version) is int and (state is None or type(state) is bytes)


def _start_by_rows(recorder: ChainedRecorder, start: int) -> tuple[int, bytes] | None:
    prior = None
    for row in recorder.chained_rows(1):
        if row.position >= start:
            break
        if row.chain_hash is not None:
            prior = (row.position, row.chain_hash)
    return prior


def verify(recorder: ChainedRecorder, start: int = 1) -> Verification:
    """Walk the log from `start`; stop at the first position that does not verify."""
    with collector_paused():  # a page of rows built and dropped at a time (domain/core/memory.py)
        return _verify(recorder, start)


def _verify(recorder: ChainedRecorder, start: int) -> Verification:
    prior = _start(recorder, start)
    if prior is None:
        return Verification(0, start, start - 1, "", start - 1, "no chain hash to start from")
    walk = _Walk(start, *prior)
    bad = _walk_log(recorder, walk)
    if bad is not None:
        return bad
    problem = attribution_problem(recorder, start)  # every event from an accepted command
    if problem is not None:
        return Verification(walk.count, start, problem[0], "", problem[0], problem[1])
    return walk.result()


def _walk_log(recorder: ChainedRecorder, walk: _Walk) -> Verification | None:
    """Every position from the walk's start on, a page at a time; the first bad one, if any."""
    after = walk.start - 1
    while True:
        rows = _page(recorder, after)
        if rows is not None and walk.page(rows):
            if len(rows) < STREAM_PAGE:
                return None
            after = int(rows[-1][0])
            rows = None  # freed before the next page is read: one page in memory, not two
            continue
        # The same page again, row by row, as chained_rows() reads it from `after`.
        read = 0
        for row in islice(recorder.chained_rows(after + 1), STREAM_PAGE):
            bad = walk.rows((row,))
            if bad is not None:
                return bad
            read += 1
            after = row.position
        if read < STREAM_PAGE:
            return None
