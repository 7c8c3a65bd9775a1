"""The hostile corpus (tests/corpus/hostile_commands.py) covers every kind of bad input."""

from __future__ import annotations

from tests.support.hostile import CASES


def test_the_corpus_covers_every_category_with_hand_written_cases() -> None:
    categories = {case.category for case in CASES}
    required = {
        "broken_json", "wrong_type", "json_number", "nan_infinity", "exponent_bomb",
        "too_many_digits", "not_positive", "unknown_reference", "out_of_order", "duplicate_id",
        "unknown_field", "duplicate_key", "finer_than_quantum", "over_bound", "invalid_utf8",
    }  # fmt: skip
    assert required <= categories
    hand = [case for case in CASES if case.origin == "hand"]
    assert len(CASES) >= 200
    assert len(hand) >= 80
    assert {case.category for case in hand} >= required
    assert all(b"\n" not in case.line or case.category == "broken_json" for case in CASES)
