"""`verify` as it read the log before it streamed pages (infrastructure/audit/verify.py at
0cd64f8): a ChainedRow per position from `chained_rows`, and link() for each. The oracle the
streaming verify is held to: the same Verification, or the same error, for any store. The
check of every event's command follows the walk in both."""

from __future__ import annotations

import json
from typing import Any

from infrastructure.audit.attribution import attribution_problem
from infrastructure.audit.verify import SETTLED_TOPIC, UNREADABLE, Verification
from infrastructure.eventstore.chain import GENESIS, ChainedRow, link


def _anchor(row: ChainedRow) -> tuple[int, str] | str | None:
    if row.event is None or row.event.topic != SETTLED_TOPIC:
        return None
    try:
        anchor = json.loads(row.event.state)["summary"]["chain_anchor"]
        return int(anchor["position"]), str(anchor["hash"])
    except (ValueError, KeyError, TypeError):
        return UNREADABLE


def _start(recorder: Any, start: int) -> tuple[int, bytes] | None:
    if start == 1:
        return 0, GENESIS
    prior = None
    for row in recorder.chained_rows(1):
        if row.position >= start:
            break
        if row.chain_hash is not None:
            prior = (row.position, row.chain_hash)
    return prior


def reference_verify(recorder: Any, start: int = 1) -> Verification:
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
    # then, as verify() does after its walk, the check that an accepted command produced every
    # event (infrastructure/audit/attribution.py): not the oracle's to hold, but part of the
    # verdict both give
    problem = attribution_problem(recorder, start)
    if problem is not None:
        return Verification(count, start, problem[0], "", problem[0], problem[1])
    head = previous.hex() if position else ""
    return Verification(count, start, position, head)


def _bad(count: int, start: int, row: ChainedRow, reason: str) -> Verification:
    return Verification(count, start, row.position, "", row.position, reason)
