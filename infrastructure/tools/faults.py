"""Fault injection for the crash specs: a process that kills itself at a named point.

`LOSSLEDGER_FAULT=<point>[:<nth>]` makes the process SIGKILL itself the nth time (default the
first) execution reaches that point: no exception, no `finally`, no commit, no rollback; the
database sees a connection drop, as after a power cut. Unset, every hook is one comparison.

The points (docs/reliability.md):

| point | where |
|---|---|
| `insert` | an event-store insert: events and chain rows written, not committed |
| `settle_insert` | the same, in the insert that carries a `Cycle.Settled` event |
| `insert_committed` | an event-store insert just committed, before the snapshots and the cache |
| `batch` | `apply` saved a batch and has not read the next command |
| `projection_write` | a read-model batch: rows and tracking written, not committed |
| `projection_commit` | a read-model batch committed, the next one not read |
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable

from eventsourcing.persistence import StoredEvent

FAULT_ENV = "LOSSLEDGER_FAULT"
POINTS = (
    "insert",
    "settle_insert",
    "insert_committed",
    "batch",
    "projection_write",
    "projection_commit",
)
SETTLED_TOPIC = "domain.cycles:Cycle.Settled"


def parse_fault(value: str | None) -> tuple[str, int] | None:
    """`point[:nth]` as (point, nth); None when unset. A typo must not pass for "no fault"."""
    if not value:
        return None
    point, _, nth = value.partition(":")
    if point not in POINTS:
        raise ValueError(f"{FAULT_ENV}: unknown point {point!r}; the points are {POINTS}")
    if nth and not (nth.isdigit() and int(nth) >= 1):
        raise ValueError(f"{FAULT_ENV}: nth must be a whole number from 1, got {nth!r}")
    return point, int(nth or 1)


_PLAN = parse_fault(os.environ.get(FAULT_ENV))
_reached: dict[str, int] = {}


def reached(point: str) -> None:
    """Execution is at `point`: die here if this is the planned occurrence."""
    if _PLAN is None or _PLAN[0] != point:
        return
    _reached[point] = count = _reached.get(point, 0) + 1
    if count == _PLAN[1]:
        os.kill(os.getpid(), signal.SIGKILL)


def inserting(stored_events: Iterable[StoredEvent]) -> None:
    """An insert's rows are written and not committed: `insert`, and `settle_insert` too."""
    if _PLAN is None:
        return
    if _PLAN[0] == "settle_insert" and any(e.topic == SETTLED_TOPIC for e in stored_events):
        reached("settle_insert")
    reached("insert")
