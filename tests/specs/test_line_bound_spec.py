"""A line longer than the bound (MAX_LINE_BYTES) is refused by its number, without being held
whole; a line of exactly the bound is applied, whatever its line ending."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from domain.core.limits import MAX_LINE_BYTES
from infrastructure.apply.runner import apply_file
from tests.support.ledgers import SpecLedger


def padded_account(account: str, size: int, ending: bytes = b"\n") -> bytes:
    """An open_account line of exactly `size` bytes before its line ending (JSON whitespace)."""
    head = f'{{"type":"open_account","id":"{account}","account":"{account}"'.encode()
    return head + b" " * (size - len(head) - 1) + b"}" + ending


def test_a_line_of_exactly_the_bound_is_applied_and_one_byte_more_is_refused(
    ledger: SpecLedger, tmp_path: Path
) -> None:
    path = tmp_path / "bound.jsonl"
    path.write_bytes(
        padded_account("at-bound", MAX_LINE_BYTES)
        + padded_account("crlf", MAX_LINE_BYTES, b"\r\n")
        + padded_account("over", MAX_LINE_BYTES + 1)
    )
    result = apply_file(ledger, path)
    assert (result.applied, result.refused_line) == (2, 3)
    assert result.reason == f"line 3 is longer than {MAX_LINE_BYTES} bytes"


def test_a_huge_line_is_refused_by_number_without_being_read_whole(
    ledger: SpecLedger, tmp_path: Path
) -> None:
    path = tmp_path / "huge.jsonl"
    huge = 30 * MAX_LINE_BYTES
    path.write_bytes(padded_account("first", 60) + padded_account("huge", huge) + b"{}\n")
    tracemalloc.start()
    try:
        result = apply_file(ledger, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (result.applied, result.refused_line, result.refused_id) == (1, 2, None)
    assert result.reason == f"line 2 is longer than {MAX_LINE_BYTES} bytes"
    assert peak < 5 * MAX_LINE_BYTES  # a few copies of one bounded read, not the 30 MB line
