"""Python's cyclic garbage collector, held off while a bulk step builds and drops objects.

A settlement or a replay at a million positions decodes a million event states and builds a
million rows: objects that die by reference counting alone, yet every collection they set off
walks every object the process tracks (the aggregate cache, the book, the rows so far). At
100,000 positions the collector took a third of a replay (`lossledger bench` times it).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class CollectorPause:
    """The collector held off, then left as it was found. Counted, so that holders in several
    threads of one process restore it once, when the last one finishes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._enable_after = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._holders == 0:
                self._enable_after = gc.isenabled()
                gc.disable()
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0 and self._enable_after:
                    gc.enable()


collector_paused = CollectorPause()
