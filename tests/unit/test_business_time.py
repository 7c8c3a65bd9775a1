"""A command's business time is normalized to `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`; a time already
written so (every line the ledger writes, and most it reads) is checked and kept as it is,
which must be what normalizing it the long way gives."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.commands.models import format_time, normalize_time

DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=1)
FRACTIONS = st.just("") | st.lists(DIGITS, min_size=6, max_size=6).map(lambda d: "." + "".join(d))


def the_long_way(value: str) -> str:
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset() == UTC.utcoffset(None)
    return format_time(moment)


@given(st.datetimes(timezones=st.just(UTC)))
def test_a_time_the_ledger_writes_is_its_own_normal_form(moment: datetime) -> None:
    written = format_time(moment)
    assert normalize_time(written) == written == the_long_way(written)


@given(
    st.lists(DIGITS, min_size=14, max_size=14),
    st.one_of(
        st.just(""), st.lists(DIGITS, min_size=6, max_size=6).map(lambda d: "." + "".join(d))
    ),
)
def test_any_digits_in_the_normal_shape_read_as_the_long_way_reads_them(
    digits: list[str], fraction: str
) -> None:
    """Months 13 to 99, day 31 of a month of 30, hour 24: refused either way."""
    d = "".join(digits)
    value = f"{d[:4]}-{d[4:6]}-{d[6:8]}T{d[8:10]}:{d[10:12]}:{d[12:14]}{fraction}Z"
    try:
        expected = the_long_way(value)
    except ValueError:
        with pytest.raises(ValueError, match="RFC 3339"):
            normalize_time(value)
        return
    assert normalize_time(value) == expected


def test_other_forms_are_normalized() -> None:
    assert normalize_time("2026-11-21T08:00:00.000000Z") == "2026-11-21T08:00:00Z"
    assert normalize_time("2026-11-21T08:00:00+00:00") == "2026-11-21T08:00:00Z"
    assert normalize_time("2026-11-21T08:00:00.5Z") == "2026-11-21T08:00:00.500000Z"
    with pytest.raises(ValueError, match="UTC"):
        normalize_time("2026-11-21T08:00:00+01:00")
