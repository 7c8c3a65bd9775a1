"""Applying JSON Lines commands: batched atomic saves, stop at the first refusal, bounded retries.

Commands are saved 1,000 at a time, each batch in one transaction. When another writer saved
changes to the same aggregates first, the save conflicts: the batch is discarded with every
cached aggregate, and applied again from the last save (the commands the other writer applied
come back "already applied"), up to a bounded number of attempts with a jittered backoff. Then
`apply` stops with a one-line reason, as at a refusal (docs/reliability.md).
"""

from __future__ import annotations

import gc
import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from eventsourcing.persistence import OperationalError, RecordConflictError

from domain.commands.json_lines import command_id_for_message
from domain.core.errors import LedgerError
from domain.core.limits import MAX_LINE_BYTES
from domain.core.memory import collector_paused
from domain.ledger import APPLIED, LossLedger
from infrastructure.apply.lines import Line, LineSource, list_source, read_lines
from infrastructure.tools import faults

BATCH_COMMANDS = 1_000  # commands saved together in one transaction
ATTEMPTS_ENV = "LOSSLEDGER_APPLY_ATTEMPTS"
DEFAULT_ATTEMPTS = 5  # tries of a batch whose save conflicts with another writer
MAX_ATTEMPTS = 100
BACKOFF_SECONDS = 0.05  # the longest wait before the first retry; doubled for each next one
LOOKAHEAD_BYTES = 4 * 1024 * 1024  # lines read ahead to look their ids up together
MAX_PASSES = 10**9  # a bound on the passes over one source, far above any real one


logger = logging.getLogger("lossledger.apply")
# What a batch is applied again for: another writer saved the same aggregates first (a version
# conflict), or the database turned the transaction away for now (SQLite's "database is locked"
# when a concurrent writer committed first; on PostgreSQL, what eventsourcing's own retries of
# lock timeouts, serialization failures and deadlocks left over). Either way nothing of the
# batch was written, and its commands are idempotent.
RETRIED = (RecordConflictError, OperationalError)


class ApplySettingError(LedgerError):
    """Raised when LOSSLEDGER_APPLY_ATTEMPTS is not a whole number from 1 to 100."""


@dataclass
class ApplyResult:
    lines: int = 0
    applied: int = 0
    already_applied: int = 0
    events_written: int = 0
    refused_line: int | None = None
    refused_id: str | None = None
    reason: str | None = None
    conflicts: int = 0  # saves that conflicted with another writer, each retried or given up
    gave_up: str | None = None  # why the retries stopped, when the stop is their bound
    outcomes: list[str] | None = None  # per command, when asked for (a bounded batch)

    @property
    def ok(self) -> bool:
        return self.refused_line is None


@dataclass(frozen=True)
class Checkpoint:
    """Everything before `position` is saved (or changed nothing); the counts up to there."""

    position: int = 0
    line: int = 0
    applied: int = 0
    already_applied: int = 0
    outcomes: int = 0


def _command_id(line: str | bytes | None) -> str | None:
    """The id of a refused line, for the error message: only an id the ledger could accept,
    so that a message never carries a line break, markup or a megabyte."""
    return None if line is None else command_id_for_message(line)


def apply_attempts() -> int:
    """How many times a conflicting batch is tried: LOSSLEDGER_APPLY_ATTEMPTS, default 5."""
    value = os.environ.get(ATTEMPTS_ENV, "").strip()
    if not value:
        return DEFAULT_ATTEMPTS
    if not value.isdigit() or not 1 <= int(value) <= MAX_ATTEMPTS:
        raise ApplySettingError(
            f"{ATTEMPTS_ENV} must be a whole number from 1 to {MAX_ATTEMPTS}, got {value!r}"
        )
    return int(value)


def forget_cache(ledger: LossLedger) -> None:
    """Forget the unit of work's aggregates and evict every cached one, so that the next loads
    read what is stored now. Unsaved changes are lost: save or discard them first."""
    ledger.discard()
    ledger.unit.evict_all()


def _cached(ledger: LossLedger) -> bool:
    cache: Any = ledger.repository.cache
    return cache is not None and bool(cache.cache)


def apply_file(
    ledger: LossLedger, path: Path, progress: Callable[[int], None] | None = None
) -> ApplyResult:
    """Apply every command of a file; earlier commands stay applied when a later one is refused."""
    with path.open("rb") as handle:
        return apply_source(ledger, partial(read_lines, handle), progress)


def apply_lines(ledger: LossLedger, lines: Sequence[str | bytes]) -> ApplyResult:
    """Apply a bounded batch of command lines as `apply` does, keeping each outcome."""

    return apply_source(ledger, list_source(lines), None, ApplyResult(outcomes=[]))


def apply_source(
    ledger: LossLedger,
    source: LineSource,
    progress: Callable[[int], None] | None = None,
    result: ApplyResult | None = None,
) -> ApplyResult:
    """Apply the lines of a source, a conflicting batch tried again up to the bound.

    Python's cyclic collector is held off meanwhile, the young generations collected after
    each batch (`_looked_up_ahead`): its full passes walked every object the process holds
    (the aggregate cache, the open cycle's book), 52 s of the 259 s of CPU of a 1M load; a
    load leaves no cyclic garbage for them to free (a full collection after a 20k-position
    load with the collector off all along finds none: docs/performance.md)."""
    applier = _Applier(ledger, source, progress, result or ApplyResult(), apply_attempts())
    written_before = ledger.events_written
    try:
        with collector_paused():
            for _ in range(
                MAX_PASSES
            ):  # a pass ends the lines, or saves more, or counts an attempt
                try:
                    applier.run()
                    break
                except RETRIED as error:
                    if not applier.again_after(error):
                        break
    except BaseException:
        ledger.discard()
        raise
    finally:
        applier.result.events_written = ledger.events_written - written_before
    return applier.result


def _looked_up_ahead(ledger: LossLedger, lines: Iterator[Line]) -> Iterator[Line]:
    """The lines as they come, a batch at a time (at most BATCH_COMMANDS lines and
    LOOKAHEAD_BYTES of text), each batch's ids looked up in the store together first."""
    while True:
        batch: list[Line] = []
        size = 0
        for line in lines:
            batch.append(line)
            size += len(line.text or b"")
            if len(batch) >= BATCH_COMMANDS or size >= LOOKAHEAD_BYTES:
                break
        if not batch:
            return
        ledger.prefetch([line.text for line in batch if line.text is not None])
        yield from batch
        gc.collect(1)  # the batch's young objects; the collector is held off (apply_source)


class _Applier:
    """One pass over the lines from the last save, and what to rewind to when a save conflicts."""

    def __init__(
        self,
        ledger: LossLedger,
        source: LineSource,
        progress: Callable[[int], None] | None,
        result: ApplyResult,
        attempts: int,
    ) -> None:
        self.ledger, self.source, self.progress, self.result = ledger, source, progress, result
        self.attempts = attempts
        self.attempt, self.stuck_at = 1, -1  # the attempt at the batch that starts at stuck_at
        self.saved = Checkpoint()
        self.pending = 0  # commands applied since the last save
        self.first_unsaved: Line | None = None
        self.reported = 0  # how far progress was reported (a retry does not report twice)
        # The cache may miss other writers' work once this process has loaded anything.
        self.applied_since_forget = _cached(ledger)

    def run(self) -> None:
        """From the last save to the end or to the first refusal; RecordConflictError when a
        save conflicts, OperationalError when the database turned it away for now (the caller
        rewinds and runs again)."""
        self.first_unsaved = None
        lines = self.source(self.saved.position, self.saved.line)
        for line in _looked_up_ahead(self.ledger, lines):
            self.result.lines = line.number
            if self.first_unsaved is None:
                self.first_unsaved = line
            outcome = self._execute(line)
            if outcome is None:
                return
            self._count(line, outcome)
            if self.progress is not None and line.end > self.reported:
                self.progress(line.end - self.reported)
                self.reported = line.end
        self._save()

    def _execute(self, line: Line) -> str | None:
        """The command's outcome; None when it is refused (the refusal is recorded)."""
        if line.text is None:
            self._refuse(line, f"line {line.number} is longer than {MAX_LINE_BYTES} bytes")
            return None
        written = self.ledger.events_written
        try:
            outcome = self.ledger.execute_line(line.text)
        except LedgerError:
            # Refused on this process's view. Save what came before, then look again at what
            # is stored: another writer may have applied this very command, or what it checks.
            self._save(line.start, line.number - 1)
            forget_cache(self.ledger)
            self.applied_since_forget = False
            try:
                outcome = self.ledger.execute_line(line.text)
            except LedgerError as error:
                self._refuse(line, str(error))
                return None
        if self.ledger.events_written != written:  # a settlement saved the commands before it
            self._checkpoint(line.start, line.number - 1)
            self.pending = 0
        return outcome

    def _count(self, line: Line, outcome: str) -> None:
        result = self.result
        if outcome == APPLIED:
            result.applied += 1
            self.pending += 1
            self.applied_since_forget = True
        else:
            result.already_applied += 1
        if result.outcomes is not None:
            result.outcomes.append(outcome)
        if outcome != APPLIED and self.applied_since_forget:
            # Applied by someone else after this process applied commands: what it cached may
            # be older than the store. Save, and read every aggregate afresh from here on.
            self._save(line.end, line.number)
            forget_cache(self.ledger)
            self.applied_since_forget = False
        elif self.pending == 0:
            self._checkpoint(line.end, line.number)
        elif self.pending >= BATCH_COMMANDS:
            self._save(line.end, line.number)
            faults.reached("batch")

    def _save(self, position: int | None = None, number: int = 0) -> None:
        """Save the batch; everything before `position` is then saved, when one is given."""
        self.ledger.flush()
        self.pending = 0
        if position is not None:
            self._checkpoint(position, number)

    def _checkpoint(self, position: int, number: int) -> None:
        result = self.result
        self.saved = Checkpoint(
            position, number, result.applied, result.already_applied, len(result.outcomes or ())
        )
        self.first_unsaved = None

    def _refuse(self, line: Line, reason: str) -> None:
        self._save(line.start, line.number - 1)  # the commands before a refusal stay applied
        result = self.result
        result.refused_line, result.refused_id = line.number, _command_id(line.text)
        result.reason = reason

    def again_after(self, error: Exception) -> bool:
        """After a failed save: forget the batch and what it was computed from, rewind, and
        wait a little; False once the batch has had all its attempts."""
        forget_cache(self.ledger)
        self.rewind()
        # the bound is on attempts in a row at one batch: a retry that saved, or found saved,
        # more of the lines before failing again starts counting afresh
        self.attempt = self.attempt + 1 if self.saved.position == self.stuck_at else 2
        self.stuck_at = self.saved.position
        if self.attempt > self.attempts:
            self.give_up(error)
            return False
        logger.warning(
            "line %d: %s; applying from this line again (attempt %d of %d)",
            self.resume_line(),
            "another writer saved changes to the same aggregates first"
            if isinstance(error, RecordConflictError)
            else f"the database turned the batch away ({error})",
            self.attempt,
            self.attempts,
        )
        # jittered, so that two writers that collided do not collide again in step
        time.sleep(random.uniform(0, BACKOFF_SECONDS * 2 ** (self.attempt - 2)))  # noqa: S311
        return True

    def rewind(self) -> None:
        """Back to the last save: the discarded batch's counts and outcomes are forgotten."""
        result, saved = self.result, self.saved
        result.applied, result.already_applied = saved.applied, saved.already_applied
        if result.outcomes is not None:
            del result.outcomes[saved.outcomes :]
        self.pending = 0
        self.applied_since_forget = False
        result.conflicts += 1

    def resume_line(self) -> int:
        """The number of the first line not saved: where the next attempt starts."""
        return self.first_unsaved.number if self.first_unsaved else self.saved.line + 1

    def give_up(self, error: Exception) -> None:
        line = self.first_unsaved
        result = self.result
        result.refused_line = self.resume_line()
        result.refused_id = _command_id(line.text) if line else None
        cause = (str(error).strip().splitlines() or [type(error).__name__])[0]
        what = (
            "another writer changed the same aggregates at the same time"
            if isinstance(error, RecordConflictError)
            else "the database turned the batch away"
        )
        plural = "s" if self.attempts > 1 else ""
        result.gave_up = f"{what}, {self.attempts} attempt{plural} in a row ({cause})"
        result.reason = (
            f"{result.gave_up}; nothing from this line on was saved: apply the file again"
        )
