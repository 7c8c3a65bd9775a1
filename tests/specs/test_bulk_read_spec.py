"""The replay's bulk read (select_events_of): every event of many aggregates in one query,
exactly what reading them one by one gives, and on PostgreSQL an index read whatever the
planner knows about the table."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.sql import SQL

from domain.core.ids import account_id
from domain.ledger import APPLIED
from tests.support.databases import OnPostgreSQL, OnSQLite, unanalyzed_bulk
from tests.support.ledgers import LedgerFactory
from tests.support.scenarios import one_open_position


def rows(events: Any) -> list[tuple[uuid.UUID, int, str, bytes]]:
    return [(e.originator_id, e.originator_version, e.topic, bytes(e.state)) for e in events]


class BulkReadSpec:
    def test_it_reads_what_reading_each_aggregate_alone_reads_by_aggregate_and_version(
        self, open_ledger: LedgerFactory
    ) -> None:
        ledger = open_ledger()
        assert ledger.execute_batch(one_open_position()) == [APPLIED] * len(one_open_position())
        recorder: Any = (
            ledger.recorder
        )  # a chained recorder: infrastructure/eventstore/sqlite.py, postgres.py
        alice, bob = account_id("alice"), account_id("bob")
        one_by_one = sorted(
            rows([*recorder.select_events(alice), *recorder.select_events(bob)]),
            key=lambda row: (row[0], row[1]),
        )
        assert len(one_by_one) > 2  # alice has more than one event, so order is tested
        asked = [bob, account_id("nobody"), alice, bob, uuid.uuid4()]  # unknowns, a repeat
        assert rows(recorder.select_events_of(asked)) == one_by_one
        assert recorder.select_events_of([]) == []


class TestBulkReadOnSQLite(OnSQLite, BulkReadSpec):
    pass


class TestBulkReadOnPostgreSQL(OnPostgreSQL, BulkReadSpec):
    def test_it_reads_by_index_without_compiling_even_on_a_large_table_without_statistics(
        self, open_ledger: LedgerFactory
    ) -> None:
        """On a table with no statistics (autovacuum off, or not yet run after a bulk load)
        and larger than `effective_cache_size` (a 1M-position store: 6.4 million events), the
        planner may take `= ANY(ids) ORDER BY id, version` for a parallel sequential scan and a
        sort of the whole table, seconds per 500 accounts, and JIT-compile each query; the
        read must be an index read whatever the planner knows. Here the cache is made smaller
        than a modest table instead of the table larger."""
        ledger = open_ledger()
        ledger.execute_batch(one_open_position())
        recorder: Any = ledger.recorder
        with unanalyzed_bulk(recorder) as bulk:
            ids = bulk[:500]
            with recorder.bulk_read() as read:
                read.execute("SET LOCAL effective_cache_size = '1MB'")
                read.execute(SQL("EXPLAIN ") + recorder.events_of_statement(), (ids,))
                plan = "\n".join(str(row["QUERY PLAN"]) for row in read.fetchall())
            found = rows(recorder.select_events_of(ids))
        assert "Seq Scan" not in plan, plan
        assert "Index Scan" in plan or "Bitmap Index Scan" in plan, plan
        assert "JIT" not in plan, plan
        assert [(key, version) for key, version, _, _ in found] == sorted(
            (key, version) for key in ids for version in range(1, 6)
        )
