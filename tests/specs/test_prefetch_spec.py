"""The lookup ahead of a batch (LossLedger.prefetch) changes how many queries a batch asks,
never what it records: same events, and another writer's commands still come back applied."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from eventsourcing.persistence import RecordConflictError
from psycopg.sql import SQL

import domain.commands.json_lines
from domain import ledger as ledger_module
from domain.core.ids import account_id
from domain.ledger import ALREADY_APPLIED, APPLIED
from tests.support.databases import OnPostgreSQL, OnSQLite, unanalyzed_bulk
from tests.support.ledgers import LedgerFactory, SpecLedger
from tests.support.scenarios import one_open_position


def stored(ledger: SpecLedger) -> list[tuple[str, int, str, bytes]]:
    return [
        (str(n.originator_id), n.originator_version, n.topic, n.state)
        for n in ledger.recorder.select_notifications(start=1, limit=10_000)
    ]


class PrefetchSpec:
    def test_a_prefetched_batch_records_exactly_what_a_plain_one_does(
        self, open_ledger: LedgerFactory
    ) -> None:
        lines = one_open_position()
        ledger = open_ledger()
        ledger.prefetch([*lines, "not json", '{"type":"open_account"}'])  # bad lines are left
        ids = [json.loads(text)["id"] for text in lines]
        assert ledger.unit.stored_commands == dict.fromkeys(ids)  # every id: not stored
        assert len(ledger.unit.absent) == 2  # and the two new accounts
        outcomes = [ledger.execute_line(text) for text in lines]
        ledger.flush()
        assert outcomes == [APPLIED] * len(lines)
        assert ledger.unit.absent == set()  # each account stopped being absent once recorded
        assert all(ledger.unit.stored_commands.values())  # and each id once it was saved
        again = open_ledger()
        again.prefetch(lines)
        assert again.unit.absent == set()  # everything is stored now
        assert sorted(again.unit.stored_commands) == sorted(ids)
        assert all(again.unit.stored_commands.values())
        assert again.execute_batch(lines) == [ALREADY_APPLIED] * len(lines)
        assert len(stored(again)) == len(stored(ledger)) > 0

    def test_another_writer_between_the_lookup_and_the_save_makes_the_save_conflict(
        self, open_ledger: LedgerFactory
    ) -> None:
        lines = one_open_position()
        mine, theirs = open_ledger(), open_ledger()
        mine.prefetch(lines)
        assert theirs.execute_batch(lines[:2]) == [APPLIED, APPLIED]  # alice opened and funded
        before = stored(theirs)
        for text in lines[:2]:
            assert mine.execute_line(text) == APPLIED  # believed absent: no query asked
        with pytest.raises(RecordConflictError):
            mine.flush()
        assert stored(theirs) == before  # nothing of the conflicting batch was written
        assert mine.unit.absent == set()  # the discard forgot the lookup with the batch
        assert mine.execute_batch(lines) == [ALREADY_APPLIED] * 2 + [APPLIED] * (len(lines) - 2)

    def test_each_line_of_a_looked_up_batch_is_parsed_once(
        self, open_ledger: LedgerFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        parsed: list[str | bytes] = []
        load_json = domain.commands.json_lines.load_json

        def counting(line: str | bytes) -> object:
            parsed.append(line)
            return load_json(line)

        monkeypatch.setattr(ledger_module, "load_json", counting)
        lines = one_open_position()
        assert open_ledger().execute_batch(lines) == [APPLIED] * len(lines)
        assert sorted(parsed) == sorted(lines)

    def test_the_lookup_names_exactly_the_stored_aggregates_among_those_asked(
        self, open_ledger: LedgerFactory
    ) -> None:
        ledger = open_ledger()
        assert ledger.execute_batch(one_open_position()) == [APPLIED] * len(one_open_position())
        alice, bob, nobody = (account_id(name) for name in ("alice", "bob", "nobody"))
        asked = [nobody, alice, alice, bob, uuid.uuid4()]  # repeats and unknowns too
        recorder: Any = (
            ledger.recorder
        )  # a chained recorder: infrastructure/eventstore/sqlite.py, postgres.py
        assert recorder.existing_originators(asked) == {alice, bob}
        assert recorder.existing_originators([]) == set()


class TestPrefetchOnSQLite(OnSQLite, PrefetchSpec):
    pass


class TestPrefetchOnPostgreSQL(OnPostgreSQL, PrefetchSpec):
    def test_the_lookup_probes_the_index_even_before_the_table_has_statistics(
        self, open_ledger: LedgerFactory
    ) -> None:
        """With no statistics (autovacuum off, or not yet run after a bulk load) the planner
        may take `DISTINCT ... = ANY(ids)` for a sequential scan of the whole table, over a
        second per 500 ids at 5.5 million events. The lookup must be index probes whatever it
        knows."""
        ledger = open_ledger()
        ledger.execute_batch(one_open_position())
        recorder: Any = ledger.recorder
        ids = [uuid.uuid4() for _ in range(500)]
        with unanalyzed_bulk(recorder), recorder.datastore.get_connection() as conn:
            with conn.cursor() as curs:
                curs.execute(SQL("EXPLAIN ") + recorder.existing_statement(), (ids,))
                plan = "\n".join(str(row["QUERY PLAN"]) for row in curs.fetchall())
            found = recorder.existing_originators(ids)
        assert "Seq Scan" not in plan, plan
        assert "Index Only Scan" in plan or "Index Scan" in plan, plan
        assert found == set()
