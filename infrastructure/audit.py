"""`lossledger verify`: recompute the audit chain over the stored log and check the anchors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from infrastructure.chain import GENESIS, ChainedRow, link

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


def _anchor(row: ChainedRow) -> tuple[int, str] | None:
    """The chain anchor a settlement recorded: (position, hash hex) of the head before it."""
    if row.event is None or row.event.topic != SETTLED_TOPIC:
        return None
    summary = json.loads(row.event.state).get("summary", {})
    anchor = summary.get("chain_anchor")
    return None if not anchor else (int(anchor["position"]), str(anchor["hash"]))


def verify(recorder: ChainedRecorder, start: int = 1) -> Verification:
    """Walk the log from `start`; stop at the first position that does not verify."""
    previous = GENESIS
    rows = recorder.chained_rows(max(1, start - 1))
    if start > 1:
        before = next(iter(rows), None)
        if before is None or before.position != start - 1 or before.chain_hash is None:
            return Verification(0, start, start - 1, "", start - 1, "no chain hash to start from")
        previous = before.chain_hash
    hashes: dict[int, bytes] = {}
    anchors: list[tuple[int, int, str]] = []
    count, position = 0, start - 1
    for row in rows:
        position = row.position
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
        anchor = _anchor(row)
        if anchor is not None:
            anchors.append((row.position, *anchor))
        hashes[row.position] = row.chain_hash
        previous = row.chain_hash
        count += 1
    for settled_at, anchor_position, anchor_hash in anchors:
        recorded = hashes.get(anchor_position)
        if recorded is not None and recorded.hex() != anchor_hash:
            return Verification(
                count,
                start,
                position,
                previous.hex(),
                settled_at,
                f"the settlement's anchor at position {anchor_position} differs from the chain",
            )
    return Verification(count, start, position, previous.hex())


def _bad(count: int, start: int, row: ChainedRow, reason: str) -> Verification:
    return Verification(count, start, row.position, "", row.position, reason)
