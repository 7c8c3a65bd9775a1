"""`cycle replay` compares the record with the recomputation as plain text, where "1.50" and
"1.5" are one amount; documents equal as they are are compared once, not value by value."""

from __future__ import annotations

from decimal import Decimal

from domain.queries.replay import compared


def document(share: str, profit: str = "12.50000000") -> dict[str, object]:
    return {
        "collected": Decimal("31.00000000"),
        "participant_count": 1,
        "participants": [[1, "alice", "BTC-PERP", Decimal(profit), Decimal(share)]],
    }


def test_equal_documents_have_no_difference() -> None:
    replay = compared("c1", document("31"), document("31"))
    assert replay.differences == []


def test_the_same_amount_at_another_exponent_is_no_difference() -> None:
    replay = compared("c1", document("31.00000000", "12.5"), document("31", "12.50"))
    assert replay.differences == []


def test_a_share_that_differs_is_named_by_its_place_in_plain_text() -> None:
    replay = compared("c1", document("31"), document("32"))
    assert replay.differences == ["participants[0][4]: recorded '31', recomputed '32'"]
    assert replay.recomputed["participants"] == [[1, "alice", "BTC-PERP", "12.5", "32"]]


def test_a_missing_participant_is_counted() -> None:
    shorter = {**document("31"), "participants": []}
    replay = compared("c1", document("31"), shorter)
    assert replay.differences == ["participants: 1 recorded, 0 recomputed"]
