"""`lossledger verify`: recompute the audit chain over the stored log, check the anchors, and
check that every event was produced by an accepted command (audit/attribution.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from infrastructure.audit.attribution import attribution_problem
from infrastructure.eventstore.chain import GENESIS, ChainedRow, link

SETTLED_TOPIC = "domain.cycles:Cycle.Settled"


class ChainedRecorder(Protocol):
    def chained_rows(self, start: int = 1) -> Any: ...
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


def _anchor(row: ChainedRow) -> tuple[int, str] | str | None:
    """The chain anchor a settlement recorded: (position, hash hex) of the head before it;
    None for any other event; UNREADABLE when a settlement's anchor cannot be read."""
    if row.event is None or row.event.topic != SETTLED_TOPIC:
        return None
    try:
        anchor = json.loads(row.event.state)["summary"]["chain_anchor"]
        return int(anchor["position"]), str(anchor["hash"])
    except (ValueError, KeyError, TypeError):
        return UNREADABLE


def _start(recorder: ChainedRecorder, start: int) -> tuple[int, bytes] | None:
    """The last chain row before `start` (positions may skip numbers): where to start from."""
    if start == 1:
        return 0, GENESIS
    prior = None
    for row in recorder.chained_rows(1):
        if row.position >= start:
            break
        if row.chain_hash is not None:
            prior = (row.position, row.chain_hash)
    return prior


def verify(recorder: ChainedRecorder, start: int = 1) -> Verification:
    """Walk the log from `start`; stop at the first position that does not verify."""
    prior = _start(recorder, start)
    if prior is None:
        return Verification(0, start, start - 1, "", start - 1, "no chain hash to start from")
    position, previous = prior
    hashes: dict[int, bytes] = {}
    count = 0
    for row in recorder.chained_rows(start):
        if row.event is None:
            return _bad(count, start, row, "an event was deleted: its chain row has no event")
        if row.chain_hash is None:
            return _bad(count, start, row, "an event was inserted: it has no chain row")
        if link(previous, row.position, row.event) != row.chain_hash:
            return _bad(
                count,
                start,
                row,
                "the event does not match its chain hash: updated, replaced or reordered",
            )
        previous = hashes[row.position] = row.chain_hash
        anchor = _anchor(row)
        if anchor == UNREADABLE:
            return _bad(count, start, row, UNREADABLE)
        if isinstance(anchor, tuple):
            at, pinned = anchor
            if at >= start and (at not in hashes or hashes[at].hex() != pinned):
                return _bad(
                    count,
                    start,
                    row,
                    f"the settlement's anchor at position {at} differs from the chain",
                )
        position = row.position
        count += 1
    problem = attribution_problem(recorder, start)  # every event from an accepted command
    if problem is not None:
        return Verification(count, start, problem[0], "", problem[0], problem[1])
    head = previous.hex() if position else ""
    return Verification(count, start, position, head)


def _bad(count: int, start: int, row: ChainedRow, reason: str) -> Verification:
    return Verification(count, start, row.position, "", row.position, reason)
