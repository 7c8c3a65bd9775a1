"""Command lines as they come: numbered, with their offsets, never an over-long line held whole.

A source of lines starts anywhere (a byte offset in a file, an index in a list), so that a
batch whose save conflicted is applied again from its first unsaved line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import BinaryIO

from domain.core.limits import MAX_LINE_BYTES

SKIP_CHUNK = 64 * 1024  # an over-long line is skipped this many bytes at a time


@dataclass(frozen=True)
class Line:
    """A non-blank line: its number, its text (None when too long), where it starts and ends
    (byte offsets in a file, indexes in a list)."""

    number: int
    text: str | bytes | None
    start: int
    end: int


LineSource = Callable[[int, int], Iterator[Line]]  # the lines from a position and a line number


def read_lines(handle: BinaryIO, position: int = 0, number: int = 0) -> Iterator[Line]:
    """The non-blank lines from a byte offset, numbered after `number`. A line longer than
    MAX_LINE_BYTES is never held whole: it comes with text None, its rest skipped in chunks."""
    handle.seek(position)
    for raw in iter(partial(handle.readline, MAX_LINE_BYTES + 2), b""):  # room for "\r\n"
        number += 1
        start, position = position, position + len(raw)
        text = raw.rstrip(b"\r\n")
        if len(raw) == MAX_LINE_BYTES + 2 and not raw.endswith(b"\n"):
            position += _skip_rest_of_line(handle)
            yield Line(number, None, start, position)
        elif len(text) > MAX_LINE_BYTES:
            yield Line(number, None, start, position)
        elif text.strip():
            yield Line(number, text, start, position)


def _skip_rest_of_line(handle: BinaryIO) -> int:
    skipped = 0
    for chunk in iter(partial(handle.readline, SKIP_CHUNK), b""):
        skipped += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return skipped


def list_source(lines: Sequence[str | bytes]) -> LineSource:
    """A bounded list of lines as a source: positions are list indexes."""

    def source(position: int, _number: int) -> Iterator[Line]:
        for index in range(position, len(lines)):
            yield Line(index + 1, lines[index], index, index + 1)

    return source
