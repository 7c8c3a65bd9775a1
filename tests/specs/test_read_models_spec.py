"""The read models: balances, fund flows, fund history, cycles; rebuilt equals incremental."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from infrastructure.eventstore.database_url import Database
from infrastructure.readmodels.queries import account_history, parse_as_of
from infrastructure.readmodels.reconcile import reconcile
from infrastructure.readmodels.runner import ReadModels
from infrastructure.readmodels.tables import (
    READ_MODELS,
    balances,
    fund_flows,
    insurance_fund_history,
    tracking,
)
from tests.support.databases import OnPostgreSQL, OnSQLite
from tests.support.ledgers import LedgerFactory, command, run
from tests.support.scenarios import three_winners_and_a_crash


def dump(models: ReadModels) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read model, in key order."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with models.engine.connect() as connection:
        for table in READ_MODELS:
            keys = list(table.primary_key.columns)
            rows = connection.execute(select(table).order_by(*keys)).all()
            tables[table.name] = [tuple(row) for row in rows]
    return tables


def with_dated_commands() -> list[dict[str, Any]]:
    """The three-winners crash with business times: deposits on the 20th, the cycle on the 21st."""
    documents = three_winners_and_a_crash()
    for number, document in enumerate(documents):
        day = "20" if document["type"] in ("open_account", "deposit", "fund_deposit") else "21"
        document["at"] = f"2026-11-{day}T08:{number:02d}:00Z"
    return documents


def caught_up(
    open_ledger: LedgerFactory, database: Database, documents: list[dict[str, Any]]
) -> ReadModels:
    """Apply the commands, then catch the read models up."""
    ledger = open_ledger()
    run(ledger, *documents)
    models = ReadModels(ledger, database)
    models.catch_up()
    return models


class ReadModelsSpec:
    """The read models on every backend."""

    def test_a_participant_sees_its_share_in_its_history(
        self, open_ledger: LedgerFactory, database: Database
    ) -> None:
        models = caught_up(open_ledger, database, three_winners_and_a_crash())
        history = account_history(models.engine, "W1")
        shares = [e for e in history["entries"] if e["type"] == "socialized_loss"]
        assert [(e["amount"], e["cycle"], e["contract"]) for e in shares] == [
            ("-32.00000000", "c1", "BTCUSDT")
        ]
        assert Decimal(history["balance"]["margin"]) == Decimal("148")
        assert Decimal(history["balance"]["cash"]) == Decimal("900")

    def test_history_as_of_a_business_time_stops_there(
        self, open_ledger: LedgerFactory, database: Database
    ) -> None:
        models = caught_up(open_ledger, database, with_dated_commands())
        before_cycle = account_history(models.engine, "W1", parse_as_of("2026-11-20T23:59:59Z"))
        assert [e["type"] for e in before_cycle["entries"]] == ["deposit"]
        assert {key: Decimal(value) for key, value in before_cycle["balance"].items()} == {
            "cash": Decimal(1000),
            "margin": 0,
            "withheld": 0,
            "available": Decimal(1000),
        }
        after = account_history(models.engine, "W1", parse_as_of("2026-11-22T00:00:00Z"))
        assert after["entries"][-1]["type"] == "socialized_loss"
        # after everything, the as-of balance is the current one (margin moves included)
        now = account_history(models.engine, "W1")
        assert {k: Decimal(v) for k, v in after["balance"].items()} == {
            k: Decimal(v) for k, v in now["balance"].items()
        }

    def test_the_fund_history_shows_top_ups_surpluses_and_draws(
        self, open_ledger: LedgerFactory, database: Database
    ) -> None:
        documents = three_winners_and_a_crash()
        liquidation = next(d for d in documents if d["type"] == "liquidate")
        liquidation["fills"] = [{"price": "95", "size": "5"}, {"price": "80", "size": "5"}]
        models = caught_up(open_ledger, database, documents)
        with models.engine.connect() as connection:
            rows = connection.execute(
                select(
                    insurance_fund_history.c.type,
                    insurance_fund_history.c.amount,
                    insurance_fund_history.c.balance_after,
                ).order_by(insurance_fund_history.c.notification_id)
            ).all()
        # top-up 100; fill 5 @ 95 is 5 x 5 = 25 above bankruptcy; fill 5 @ 80 loses 50:
        # draw round_down(50 x 0.2) = 10
        assert [tuple(row) for row in rows] == [
            ("top_up", "100.00000000", "100.00000000"),
            ("surplus", "25.00000000", "125.00000000"),
            ("draw", "-10.00000000", "115.00000000"),
        ]

    def test_a_rebuild_equals_the_incremental_read_models_row_for_row(
        self, open_ledger: LedgerFactory, database: Database
    ) -> None:
        ledger = open_ledger()
        models = ReadModels(ledger, database)
        for document in with_dated_commands():  # caught up after every command
            run(ledger, document)
            models.catch_up()
        run(ledger, command("withdraw", account="W2", amount="50", at="2026-11-22T00:00:00Z"))
        models.catch_up()
        incremental = dump(models)
        assert incremental["ll_fund_flows"]
        models.rebuild()
        assert dump(models) == incremental
        assert reconcile(models) == []

    def test_two_runners_catching_up_at_once_apply_every_event_exactly_once(
        self, open_ledger: LedgerFactory, database: Database
    ) -> None:
        ledger = open_ledger()
        run(ledger, *three_winners_and_a_crash())
        runners = [ReadModels(open_ledger(), database) for _ in range(2)]
        threads = [threading.Thread(target=runner.catch_up) for runner in runners]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        with runners[0].engine.connect() as connection:
            flows = connection.execute(select(fund_flows)).all()
            position = connection.execute(select(tracking.c.position)).scalar_one()
        assert position == runners[0].log_position()
        assert len(flows) == len({(row.notification_id, row.entry) for row in flows})
        assert reconcile(runners[0]) == []

    @pytest.mark.tampers
    def test_reconcile_names_a_balance_that_disagrees_with_its_account(
        self, open_ledger: LedgerFactory, database: Database
    ) -> None:
        models = caught_up(open_ledger, database, three_winners_and_a_crash())
        with models.engine.begin() as connection:
            connection.execute(
                balances.update().where(balances.c.account == "W2").values(cash="901.00000000")
            )
        found = reconcile(models)
        assert {
            "check": "balance cash",
            "key": "W2",
            "expected": "900.00000000",
            "actual": "901.00000000",
        } in found


class TestReadModelsOnSQLite(ReadModelsSpec, OnSQLite):
    pass


class TestReadModelsOnPostgreSQL(ReadModelsSpec, OnPostgreSQL):
    pass


class AsOfSpec:
    def test_history_as_of_adds_up_entries_whose_times_arrived_out_of_order(
        self, open_ledger: LedgerFactory, database: Database
    ) -> None:
        # deposits of 100 at 10:00, 50 at 12:00 and 25 at 11:00, in that log order
        models = caught_up(
            open_ledger,
            database,
            [
                command("open_account", account="A", at="2026-11-21T09:00:00Z"),
                command("deposit", account="A", amount="100", at="2026-11-21T10:00:00Z"),
                command("deposit", account="A", amount="50", at="2026-11-21T12:00:00Z"),
                command("deposit", account="A", amount="25", at="2026-11-21T11:00:00Z"),
            ],
        )
        at_half_past_eleven = account_history(
            models.engine, "A", parse_as_of("2026-11-21T11:30:00Z")
        )
        assert Decimal(at_half_past_eleven["balance"]["cash"]) == Decimal(125)


class TestAsOfOnSQLite(AsOfSpec, OnSQLite):
    pass


class TestAsOfOnPostgreSQL(AsOfSpec, OnPostgreSQL):
    pass
