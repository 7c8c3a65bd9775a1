"""The ledger's transcoder writes every event state with orjson (domain/core/encoding.py): the
bytes must be those the library's standard-library encoder writes, since stores written before
hold those, and a value orjson writes its own way (a UUID, a float) must never reach it."""

from __future__ import annotations

import sys
import typing
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import eventsourcing.domain
import pytest
from eventsourcing.domain import CanMutateAggregate, Snapshot
from eventsourcing.persistence import DatetimeAsISO, Mapper, StoredEvent, UUIDAsHex
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.accounts import Account
from domain.command_log import CommandRecord
from domain.core.encoding import DecimalAsPlainString, LedgerMapper, OrjsonTranscoder
from domain.cycles import Cycle
from domain.insurance_fund import InsuranceFund
from domain.ledger import LossLedger
from domain.registry import Registry
from infrastructure.readmodels.reading import ReadingTranscoder, reading_mapper

AGGREGATES = (Account, Cycle, InsuranceFund, Registry, CommandRecord)
TEXT = st.text(max_size=12)  # lone surrogates included: both refuse them
DECIMALS = st.decimals(allow_nan=False, allow_infinity=False) | st.decimals(places=8)
TIMES = st.datetimes(timezones=st.just(UTC)) | st.datetimes(
    timezones=st.builds(timezone, st.integers(-720, 720).map(lambda m: timedelta(minutes=m)))
)
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too: orjson refuses them, the library writes them
    | TEXT
    | DECIMALS
    | TIMES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(TEXT, children, max_size=4)
    ),
    max_leaves=16,
)


@pytest.fixture(scope="module")
def transcoder() -> OrjsonTranscoder:
    """The ledger's transcoder as the application builds it: LossLedger's environment names
    the class; the library registers its transcodings and the ledger the plain decimal."""
    assert LossLedger.env["TRANSCODER_TOPIC"] == "domain.core.encoding:OrjsonTranscoder"
    assert LossLedger.env["MAPPER_TOPIC"] == "domain.core.encoding:LedgerMapper"
    transcoder = OrjsonTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsPlainString(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


def outcome(encode: typing.Callable[[Any], bytes], state: Any) -> bytes | str:
    try:
        return encode(state)
    except (TypeError, ValueError) as error:
        return type(error).__name__


@settings(max_examples=3_000, deadline=None)
@given(st.dictionaries(TEXT, VALUES, max_size=8))
def test_a_state_is_written_as_the_library_writes_it(
    transcoder: OrjsonTranscoder, state: dict[str, Any]
) -> None:
    assert outcome(transcoder.encode, state) == outcome(transcoder.library.encode, state)


def test_a_settlement_chunk_is_written_as_the_library_writes_it(
    transcoder: OrjsonTranscoder,
) -> None:
    rows = [
        [f"acct-{i:06d}", "BTC-PERP", "long", "1.5", "65000.5", "66000", i * 10**6, 0, False]
        for i in range(2_000)
    ]
    state = {"chunk": 3, "quantum": Decimal("0.00000001"), "rows": rows, "at": "2026-11-21Z"}
    state["timestamp"] = datetime(2026, 11, 21, 8, tzinfo=UTC)
    assert transcoder.encode(state) == transcoder.library.encode(state)


def test_what_orjson_refuses_is_written_by_the_library(transcoder: OrjsonTranscoder) -> None:
    state = {"big": 2**70, "nested": [{"x": -(2**64)}]}
    assert transcoder.encode(state) == transcoder.library.encode(state)
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate: neither writes it
        transcoder.encode({"lone": "\ud800"})
    with pytest.raises(TypeError):  # neither writes a set: no transcoding is registered
        transcoder.encode({"accounts": {"alice"}})


def test_a_snapshot_is_encoded_by_the_library(transcoder: OrjsonTranscoder) -> None:
    """A snapshot copies an aggregate's attributes, whatever they are: a UUID among them keeps
    its transcoding, as orjson's plain string would not."""
    fund = InsuranceFund(at="2026-11-21T08:00:00Z")
    kept = uuid4()
    fund.__dict__["kept"] = kept
    mapper = LedgerMapper(transcoder)
    stored = mapper.to_stored_event(Snapshot.take(fund))
    assert kept.hex.encode() in stored.state and str(kept).encode() not in stored.state
    restored: Any = mapper.to_domain_event(stored)
    assert restored.state["kept"] == kept


def _named_types(hint: Any) -> typing.Iterator[Any]:
    yield hint
    for argument in typing.get_args(hint):
        yield from _named_types(argument)


def event_classes() -> list[type]:
    return [
        member
        for aggregate in AGGREGATES
        for member in vars(aggregate).values()
        if isinstance(member, type) and issubclass(member, CanMutateAggregate)
    ]


@pytest.mark.parametrize("event_class", event_classes(), ids=lambda c: c.__qualname__)
def test_no_event_field_is_a_uuid_or_a_float(event_class: type) -> None:
    """orjson writes a UUID as a plain string and a NaN as null, where the library writes a
    UUID's transcoding and the float's repr. The originator id (and a class variable) is not in
    the state."""
    module = sys.modules[event_class.__module__]
    hints = typing.get_type_hints(event_class, {**vars(eventsourcing.domain), **vars(module)})
    assert hints, f"{event_class.__qualname__} declares its fields"
    for field, hint in hints.items():
        if field == "originator_id" or typing.get_origin(hint) is typing.ClassVar:
            continue
        named = set(_named_types(hint))
        assert UUID not in named and float not in named, f"{event_class.__qualname__}.{field}"


def test_the_read_models_decode_the_ledgers_states_with_their_own_hook(
    transcoder: OrjsonTranscoder,
) -> None:
    """The read-model runner decodes with a tighter object hook when the states are the
    library's plain JSON, which the ledger's transcoder writes."""
    assert isinstance(reading_mapper(LedgerMapper(transcoder)).transcoder, ReadingTranscoder)


def _stored(transcoder: OrjsonTranscoder, cls: type, state: dict[str, Any]) -> StoredEvent:
    topic = f"{cls.__module__}:{cls.__qualname__}"
    return StoredEvent(uuid4(), 7, topic, transcoder.encode(state))


FLAT_ROWS = st.lists(
    st.lists(st.none() | st.booleans() | st.integers() | TEXT, min_size=1, max_size=7),
    max_size=6,
)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from([Cycle.PositionsSettled, Cycle.OpeningBooked, Cycle.LossShared]),
    FLAT_ROWS,
    st.none() | st.decimals(allow_nan=False, allow_infinity=False),
)
def test_a_chunk_event_reads_as_the_library_reads_it(
    transcoder: OrjsonTranscoder, cls: type, rows: list[list[Any]], quantum: Decimal | None
) -> None:
    """Rows of any plain values, strings named "_type_" and integers beyond 64 bits among them
    (which the library reads instead)."""
    state = {
        "timestamp": datetime(2026, 11, 21, 8, tzinfo=UTC),
        "chunk": 1,
        "first": "a",
        "last": "b",
        "quantum": quantum,
        "rows": rows,
        "at": "2026-11-21T08:00:00Z",
    }
    if cls is Cycle.LossShared:
        state["class_version"] = 2
    try:
        stored = _stored(transcoder, cls, state)
    except UnicodeEncodeError:  # a lone surrogate: no event holds one
        return
    library, ours = Mapper[Any](transcoder.library), LedgerMapper(transcoder)
    expected, found = library.to_domain_event(stored), ours.to_domain_event(stored)
    assert type(found) is type(expected) and vars(found) == vars(expected)


def test_a_participant_of_a_store_before_chunks_is_upcast_as_the_library_does(
    transcoder: OrjsonTranscoder,
) -> None:
    state = {
        "timestamp": datetime(2026, 11, 21, 8, tzinfo=UTC),
        "account": "alice",
        "contract": "BTC-PERP",
        "profit": Decimal("12.50000000"),
        "rank": 1,
        "share": Decimal("3.10000000"),
        "at": "2026-11-21T08:00:00Z",
    }
    stored = _stored(transcoder, Cycle.LossShared, state)
    expected = Mapper[Any](transcoder.library).to_domain_event(stored)
    found = LedgerMapper(transcoder).to_domain_event(stored)
    assert vars(found) == vars(expected)
    assert found.rows == [["alice", "BTC-PERP", "12.5", 1, "3.1", None, None]]


def test_a_transcoded_value_inside_the_rows_is_read_by_the_library(
    transcoder: OrjsonTranscoder,
) -> None:
    """A decimal in a row is not a flat state: the fast path must not leave it a dict."""
    state = {"chunk": 1, "quantum": Decimal("0.01"), "rows": [["a", Decimal("1.5")]], "at": "t"}
    found = LedgerMapper(transcoder).to_domain_event(
        _stored(transcoder, Cycle.PositionsSettled, state)
    )
    assert found.rows == [["a", Decimal("1.5")]] and found.quantum == Decimal("0.01")


def test_a_settlement_chunk_takes_the_fast_path(transcoder: OrjsonTranscoder) -> None:
    rows = [["acct-1", "BTC-PERP", "long", "1.5", "65000.5", "66000", 10, 0, False]]
    state = {"chunk": 0, "quantum": Decimal("0.00000001"), "rows": rows, "at": "t"}
    mapper = LedgerMapper(transcoder)
    assert mapper._flat_state(_stored(transcoder, Cycle.PositionsSettled, state).state) == {
        **state,
        "quantum": Decimal("0.00000001"),
    }
    state["rows"] = [["_type_", "x"]]  # the marker's text in a row: the library reads it
    assert mapper._flat_state(_stored(transcoder, Cycle.PositionsSettled, state).state) is None


def test_an_integer_beyond_64_bits_in_a_row_stays_an_integer(transcoder: OrjsonTranscoder) -> None:
    """orjson reads -9223372036854775809 as a float; the library reads the integer."""
    state = {"chunk": 0, "quantum": Decimal("0.01"), "rows": [["a", -(2**63) - 1, 10**19]]}
    found = LedgerMapper(transcoder).to_domain_event(
        _stored(transcoder, Cycle.PositionsSettled, state)
    )
    assert found.rows == [["a", -(2**63) - 1, 10**19]]
    assert all(type(value) is int for value in found.rows[0][1:])
