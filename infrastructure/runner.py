"""Applying a JSON Lines command file: batched atomic saves, stop at the first refusal."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from domain.errors import LedgerError
from domain.ledger import APPLIED, LossLedger

BATCH_COMMANDS = 1_000  # commands saved together in one transaction


@dataclass
class ApplyResult:
    lines: int = 0
    applied: int = 0
    already_applied: int = 0
    events_written: int = 0
    refused_line: int | None = None
    refused_id: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.refused_line is None


def read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip(b"\r\n")
            if line.strip():
                yield number, line


def _command_id(line: bytes) -> str | None:
    """The id of a refused line, as far as it can be read, for the error message."""
    try:
        value = json.loads(line).get("id")
    except Exception:
        return None
    return value if isinstance(value, str) else None


def apply_file(
    ledger: LossLedger, path: Path, progress: Callable[[int], None] | None = None
) -> ApplyResult:
    """Apply every command of a file; earlier commands stay applied when a later one is refused."""
    result = ApplyResult()
    written_before = ledger.events_written
    batch = 0
    try:
        for number, line in read_lines(path):
            result.lines = number
            try:
                outcome = ledger.execute_line(line)
            except LedgerError as error:
                result.refused_line, result.refused_id = number, _command_id(line)
                result.reason = str(error)
                break
            if outcome == APPLIED:
                result.applied += 1
                batch += 1
            else:
                result.already_applied += 1
            if batch >= BATCH_COMMANDS:
                ledger.flush()
                batch = 0
            if progress is not None:
                progress(len(line) + 1)
        ledger.flush()
    except BaseException:
        ledger.discard()
        raise
    finally:
        result.events_written = ledger.events_written - written_before
    return result
