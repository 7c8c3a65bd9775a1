"""The read-model runner: where its batches end never changes a row, and it reads every event
as the ledger's own mapper does (infrastructure/readmodels/runner.py)."""

from __future__ import annotations

import gc
import json
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import (
    JSONTranscoder,
    Mapper,
    StoredEvent,
    TranscodingNotRegisteredError,
)
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from domain.commands.models import format_time
from domain.core import settlement_rows
from infrastructure.eventstore.database_url import Database, parse_database
from infrastructure.readmodels.reading import (
    ReadingTranscoder,
    StateReader,
    class_topic,
    class_version,
    collector_paused,
    is_unread,
)
from infrastructure.readmodels.reconcile import reconcile
from infrastructure.readmodels.runner import ReadModels
from infrastructure.readmodels.tables import READ_MODELS
from projections.rows import sortable_time
from tests.support.databases import OnPostgreSQL, OnSQLite
from tests.support.ledgers import LedgerFactory, command, run, sqlite_test_ledger
from tests.support.scenarios import three_winners_and_a_crash

OLD_STORE = Path(__file__).parents[1] / "fixtures" / "store_0cd64f8" / "ledger.sqlite"


def every_row(models: ReadModels) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read model, in key order."""
    with models.engine.connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(
                    select(table).order_by(*table.primary_key.columns)
                ).all()
            ]
            for table in READ_MODELS
        }


def a_cycle_with_a_draw_and_a_refund() -> list[dict[str, Any]]:
    """The three winners' crash, the takeover filled half above and half below bankruptcy (a
    surplus, then a draw on the fund), a refund of 40 after the settlement, and a withdrawal."""
    documents = three_winners_and_a_crash()
    liquidation = next(d for d in documents if d["type"] == "liquidate")
    liquidation["fills"] = [{"price": "95", "size": "5"}, {"price": "80", "size": "5"}]
    return [
        *documents,
        command("refund_cycle", cycle="c1", amount="40", reason="recovered"),
        command("withdraw", account="W2", amount="50"),
    ]


class ReadModelBatchesSpec:
    """Batches of any size give the same rows, on every backend."""

    @pytest.mark.parametrize("size", [1, 2, 3, 7])
    def test_a_rebuild_in_batches_of_a_few_events_writes_the_rows_of_one_batch(
        self, open_ledger: LedgerFactory, database: Database, size: int
    ) -> None:
        ledger = open_ledger()
        run(ledger, *a_cycle_with_a_draw_and_a_refund())
        models = ReadModels(ledger, database)
        models.rebuild()
        in_one_batch = every_row(models)
        assert in_one_batch["ll_fund_flows"] and in_one_batch["ll_participants"]
        models.batch_events = size  # a batch ends inside commands, and inside accounts' events
        models.rebuild()
        assert every_row(models) == in_one_batch
        assert reconcile(models) == []

    def test_a_rebuild_in_batches_bounded_by_bytes_writes_the_rows_of_one_batch(
        self, open_ledger: LedgerFactory, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a settlement in chunks of two rows, and its rows in one batch
        monkeypatch.setattr(settlement_rows, "CHUNK_ROWS", 2)
        ledger = open_ledger()
        run(ledger, *a_cycle_with_a_draw_and_a_refund())
        models = ReadModels(ledger, database)
        models.rebuild()
        in_one_batch = every_row(models)
        # When a batch may hold only a byte of stored state: each event is a batch of its own
        models.batch_bytes = 1
        applied: list[int] = []
        models.rebuild(applied.append)
        # Then the rows are the same
        assert every_row(models) == in_one_batch
        assert applied == [1] * models.log_position()
        # And with room for 1,500 bytes, a batch holds events while they fit, one at least
        notifications = ledger.recorder.select_notifications(start=1, limit=10_000)
        expected: list[int] = []
        total = 0
        for size in (len(n.state) for n in notifications):
            if expected and total + size <= 1_500:
                expected[-1], total = expected[-1] + 1, total + size
            else:
                expected, total = [*expected, 1], size
        models.batch_bytes = 1_500
        applied = []
        models.rebuild(applied.append)
        assert every_row(models) == in_one_batch
        assert applied == expected and len(expected) > 1
        assert reconcile(models) == []

    def test_the_batches_of_a_catch_up_double_up_to_their_most_and_write_the_rows_of_one_batch(
        self, open_ledger: LedgerFactory, database: Database
    ) -> None:
        # Given a cycle's rows written in one batch
        ledger = open_ledger()
        run(ledger, *a_cycle_with_a_draw_and_a_refund())
        models = ReadModels(ledger, database)
        models.rebuild()
        in_one_batch = every_row(models)
        # When a rebuild's first batch is one event, and none holds more than eight
        models.first_batch_events, models.batch_events_most = 1, 8
        applied: list[int] = []
        models.rebuild(applied.append)
        # Then its batches hold 1, 2, 4, then 8 events, the last what is left, and the rows
        # are the same
        total = models.log_position()
        assert total > 1 + 2 + 4 + 8
        rest = total - 7
        assert applied == [1, 2, 4, *[8] * (rest // 8), *([rest % 8] if rest % 8 else [])]
        assert every_row(models) == in_one_batch
        # And a batch size set is every batch's
        models.batch_events = 3
        applied = []
        models.rebuild(applied.append)
        assert set(applied[:-1]) == {3} and every_row(models) == in_one_batch

    def test_catching_up_three_events_at_a_time_as_commands_arrive_equals_a_rebuild(
        self, open_ledger: LedgerFactory, database: Database
    ) -> None:
        ledger = open_ledger()
        models = ReadModels(ledger, database)
        models.batch_events = 3
        for document in a_cycle_with_a_draw_and_a_refund():
            run(ledger, document)
            models.catch_up()
        incremental = every_row(models)
        models.batch_events = 2_000
        models.rebuild()
        assert every_row(models) == incremental

    def test_the_runner_decodes_each_event_it_reads_as_the_ledger_does(
        self, open_ledger: LedgerFactory, database: Database
    ) -> None:
        ledger = open_ledger()
        run(ledger, *a_cycle_with_a_draw_and_a_refund())
        models = ReadModels(ledger, database)
        notifications = ledger.recorder.select_notifications(start=1, limit=10_000)
        read = [n for n in notifications if not is_unread(n.topic)]
        assert read == notifications  # a store written now holds nothing the runner skips
        for notification in read:
            ours, theirs = models.decode(notification), ledger.mapper.to_domain_event(notification)
            assert (type(ours), vars(ours)) == (type(theirs), vars(theirs))

    def test_the_runner_reads_each_event_as_the_state_the_ledger_decodes(
        self, open_ledger: LedgerFactory, database: Database
    ) -> None:
        ledger = open_ledger()
        run(ledger, *a_cycle_with_a_draw_and_a_refund())
        models = ReadModels(ledger, database)
        notifications = ledger.recorder.select_notifications(start=1, limit=10_000)
        assert models.reader.as_stored  # plain JSON: read as stored, not through the mapper
        assert {class_topic(n.topic) for n in notifications} >= {
            f"domain.accounts:Account.{name}"
            for name in ("Opened", "Deposited", "Withdrawn", "PositionOpened", "RefundReceived")
        }
        for notification in notifications:
            assert read_as_decoded(models.reader, ledger.mapper, notification)

    def test_the_runner_reads_the_log_as_the_recorder_selects_its_notifications(
        self, open_ledger: LedgerFactory, database: Database
    ) -> None:
        # Given a cycle's log
        ledger = open_ledger()
        run(ledger, *a_cycle_with_a_draw_and_a_refund())
        models = ReadModels(ledger, database)
        selected = ledger.recorder.select_notifications(start=1, limit=10_000)
        # When the runner reads it from every position, 7 events at a time
        with models.engine.connect() as connection:
            read = [models.log.after(connection, start, 7) for start in range(len(selected) + 1)]
            connection.rollback()
        # Then each read is the recorder's selection after that position, field for field
        for start, events in enumerate(read):
            assert [event.stored() for event in events] == selected[start : start + 7]
            assert [event.key for event in events] == [
                str(n.originator_id) for n in selected[start : start + 7]
            ]
            assert all(type(event.state) is bytes for event in events)

    def test_an_event_read_from_the_log_is_read_as_the_state_the_ledger_decodes(
        self, open_ledger: LedgerFactory, database: Database
    ) -> None:
        ledger = open_ledger()
        run(ledger, *a_cycle_with_a_draw_and_a_refund())
        models = ReadModels(ledger, database)
        with models.engine.connect() as connection:
            events = models.log.after(connection, 0, 10_000)
            connection.rollback()
        for event in events:
            assert models.reader.state(event) == models.reader.state(event.stored())


class TestReadModelBatchesOnSQLite(ReadModelBatchesSpec, OnSQLite):
    pass


class TestReadModelBatchesOnPostgreSQL(ReadModelBatchesSpec, OnPostgreSQL):
    pass


@pytest.fixture(scope="module")
def ledger_transcoder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JSONTranscoder]:
    """The transcoder of a ledger, with every transcoding the ledger registers."""
    ledger = sqlite_test_ledger(tmp_path_factory.mktemp("transcoder") / "ledger.db")
    transcoder = ledger.mapper.transcoder
    assert isinstance(transcoder, JSONTranscoder)
    yield transcoder
    ledger.close()


def outcome(transcoder: JSONTranscoder, data: bytes) -> tuple[Any, ...]:
    """What decoding gives: the object with the types inside it, or the error and its words."""
    try:
        decoded = transcoder.decode(data)
    except Exception as error:
        return ("refused", type(error), str(error))
    return ("decoded", decoded, repr(decoded))


leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=8),
    st.decimals(allow_nan=False, allow_infinity=False, places=8),
    st.uuids(),
    st.datetimes(timezones=st.just(UTC)),
)
states = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["_type_", "_data_", "a", "b"]), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=6), states, max_size=5))
def test_the_reading_transcoder_decodes_what_the_ledger_encodes_as_the_ledger_does(
    ledger_transcoder: JSONTranscoder, state: dict[str, Any]
) -> None:
    data = ledger_transcoder.encode(state)
    assert outcome(ReadingTranscoder(ledger_transcoder), data) == outcome(ledger_transcoder, data)


@pytest.mark.parametrize(
    "payload",
    [
        {"_type_": "decimal_str", "_data_": "1.50"},
        {"_type_": "uuid_hex", "_data_": UUID(int=7).hex},
        {"_type_": "datetime_iso", "_data_": datetime(2026, 11, 21, tzinfo=UTC).isoformat()},
        {"_type_": "decimal_str", "_data_": "1", "extra": 1},
        {"_type_": "decimal_str"},
        {"_data_": "1", "other": 2},
    ],
)
def test_a_tagged_object_is_read_as_the_library_reads_it(
    ledger_transcoder: JSONTranscoder, payload: dict[str, Any]
) -> None:
    data = json.dumps({"value": payload}).encode()
    ours = ReadingTranscoder(ledger_transcoder).decode(data)
    assert ours == ledger_transcoder.decode(data)
    assert type(ours["value"]) is type(ledger_transcoder.decode(data)["value"])


def test_an_unknown_tag_is_refused_as_the_library_refuses_it(
    ledger_transcoder: JSONTranscoder,
) -> None:
    data = json.dumps({"_type_": "no_such_type", "_data_": "1"}).encode()
    with pytest.raises(TranscodingNotRegisteredError) as theirs:
        ledger_transcoder.decode(data)
    with pytest.raises(TranscodingNotRegisteredError) as ours:
        ReadingTranscoder(ledger_transcoder).decode(data)
    assert str(ours.value) == str(theirs.value)


def test_a_decimal_keeps_its_exponent(ledger_transcoder: JSONTranscoder) -> None:
    data = ledger_transcoder.encode({"amount": Decimal("0.00000000")})
    amount = ReadingTranscoder(ledger_transcoder).decode(data)["amount"]
    assert amount.as_tuple() == Decimal("0.00000000").as_tuple()  # eight places, as booked


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_left_as_a_batch_found_it(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_the_garbage_collector_waits_until_the_last_of_two_overlapping_batches_ends() -> None:
    assert gc.isenabled()
    first_inside, second_done = threading.Event(), threading.Event()
    seen_by_first: list[bool] = []

    def first() -> None:
        with collector_paused():
            first_inside.set()
            second_done.wait(timeout=10)
            seen_by_first.append(gc.isenabled())

    thread = threading.Thread(target=first)
    thread.start()
    first_inside.wait(timeout=10)
    with collector_paused():
        pass
    second_done.set()
    thread.join(timeout=10)
    assert seen_by_first == [False]  # the second ended first: still paused for the first
    assert gc.isenabled()


def sortable_time_as_parsed(at: str) -> str:
    """projections.rows.sortable_time by parsing alone, as it was before its shortcut."""
    moment = datetime.fromisoformat(at).astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"


offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets),
    st.sampled_from(["format_time", "isoformat", "Z", "seconds", "milliseconds"]),
)
def test_a_business_time_is_made_sortable_as_by_parsing_it(moment: datetime, style: str) -> None:
    text = {
        "format_time": format_time(moment),
        "isoformat": moment.isoformat(),
        "Z": moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z",
        "seconds": moment.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat() + "Z",
        "milliseconds": moment.isoformat(timespec="milliseconds"),
    }[style]
    assert sortable_time(text) == sortable_time_as_parsed(text)


@pytest.mark.parametrize(
    "text", ["2026-13-01T00:00:00Z", "2026-02-30T08:00:00.000000Z", "2026-11-21T24:00:00Z"]
)
def test_a_time_that_is_no_time_is_refused_as_by_parsing_it(text: str) -> None:
    with pytest.raises(ValueError) as parsed:
        sortable_time_as_parsed(text)
    with pytest.raises(ValueError) as shortcut:
        sortable_time(text)
    assert str(shortcut.value) == str(parsed.value)


def untagged(value: Any, transcoder: JSONTranscoder) -> Any:
    """A state as stored with each {"_type_", "_data_"} decoded by the transcoding it names."""
    if isinstance(value, dict):
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return transcoder.names[value["_type_"]].decode(value["_data_"])
        return {key: untagged(inner, transcoder) for key, inner in value.items()}
    if isinstance(value, list):
        return [untagged(inner, transcoder) for inner in value]
    return value


def read_as_decoded(reader: StateReader, mapper: Mapper[Any], stored: StoredEvent) -> bool:
    """Whether the state the reader gives, its tags decoded, is the mapper's event's: the same
    keys in the same order, the same values of the same types (a Decimal's digits too)."""
    assert isinstance(mapper.transcoder, JSONTranscoder)
    state = untagged(reader.state(stored), mapper.transcoder)
    state.pop("class_version", None)  # the mapper drops it once upcast
    event = dict(vars(mapper.to_domain_event(stored)))
    del event["originator_id"], event["originator_version"]
    return repr(state) == repr(event) and state == event


@pytest.mark.parametrize("commit", ["0cd64f8", "e07684b"])
def test_every_event_of_an_old_store_is_read_as_the_state_the_ledger_decodes(
    tmp_path: Path, commit: str
) -> None:
    """Events of older class versions too (the position events of both stores, version 1,
    upcast by the mapper: the reader hands them to it) and LossShared rows of version 1."""
    store = tmp_path / "ledger.sqlite"
    shutil.copyfile(OLD_STORE.parents[1] / f"store_{commit}" / "ledger.sqlite", store)
    ledger = sqlite_test_ledger(store)
    try:
        reader = StateReader(ledger.mapper)
        notifications = ledger.recorder.select_notifications(start=1, limit=10_000)
        for notification in notifications:
            assert read_as_decoded(reader, ledger.mapper, notification)
        upcast = [
            n
            for n in notifications
            if class_version(n.topic) > 1 and b"class_version" not in n.state
        ]
        assert upcast
        models = ReadModels(ledger, parse_database(f"sqlite:///{store}"))
        with models.engine.connect() as connection:
            logged = models.log.after(connection, 0, 10_000)
            connection.rollback()
        models.dispose()
        assert [event.stored() for event in logged] == notifications
        for event in logged:
            assert read_as_decoded(reader, ledger.mapper, event.stored())
            assert reader.state(event) == reader.state(event.stored())
        assert all(
            reader.state(n).get("account", "") is None for n in upcast if "Position" in n.topic
        )
    finally:
        ledger.close()


def test_a_state_with_an_integer_beyond_64_bits_is_read_as_the_ledger_reads_it(
    ledger_transcoder: JSONTranscoder,
) -> None:
    """orjson reads 2**64 as a float: the reader gives such a state to the mapper."""
    mapper: Mapper[Any] = Mapper(ledger_transcoder)
    state = ledger_transcoder.encode(
        {
            "amount": Decimal("1.00"),
            "cash_after": Decimal("1.00"),
            "postings": [],
            "at": "",
            "count": 2**64,
        }
    )
    stored = StoredEvent(UUID(int=1), 2, "domain.accounts:Account.Deposited", state)
    read = StateReader(mapper).state(stored)
    assert read["count"] == 2**64 and type(read["count"]) is int
    assert read_as_decoded(StateReader(mapper), mapper, stored)


def test_the_events_it_does_not_decode_carry_nothing_a_read_model_reads(tmp_path: Path) -> None:
    """A store written with a `CommandRecord` aggregate per command (the 0cd64f8 fixture):
    the runner skips those events, which carry no postings."""
    store = tmp_path / "ledger.sqlite"
    shutil.copyfile(OLD_STORE, store)
    ledger = sqlite_test_ledger(store)
    try:
        notifications = ledger.recorder.select_notifications(start=1, limit=10_000)
        skipped = [ledger.mapper.to_domain_event(n) for n in notifications if is_unread(n.topic)]
        assert len(skipped) == 154  # one per command of the fixture's command file
        assert not [event for event in skipped if hasattr(event, "postings")]
    finally:
        ledger.close()
