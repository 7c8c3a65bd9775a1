"""The bound on the participants of one cycle (domain/core/limits.py), from both sides."""

from __future__ import annotations

import pytest

from domain.core.errors import TooManyParticipantsError
from domain.core.limits import require_participants_within_limit


def test_a_selection_at_the_participants_bound_is_allowed_and_one_more_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("domain.core.limits.MAX_PARTICIPANTS_PER_CYCLE", 3)
    require_participants_within_limit(3, "c1")
    with pytest.raises(TooManyParticipantsError, match="would select 4 participants, more than"):
        require_participants_within_limit(4, "c1")


def test_the_participants_bound_is_ten_million() -> None:
    require_participants_within_limit(10_000_000, "c1")
    with pytest.raises(TooManyParticipantsError, match="more than the 10000000 a cycle may have"):
        require_participants_within_limit(10_000_001, "c1")
