"""The same command file gives the same cycle, digest and read models on both backends."""

from __future__ import annotations

from pathlib import Path

from domain.queries.cycle_report import cycle_document
from domain.queries.replay import replay_cycle
from infrastructure.apply.runner import apply_file
from infrastructure.readmodels.reconcile import reconcile
from infrastructure.readmodels.runner import ReadModels
from infrastructure.tools.market import generate, lines
from tests.support.databases import database_closers, fresh_database
from tests.support.ledgers import open_test_ledger, write_lines


def test_a_market_settles_to_the_same_digest_on_sqlite_and_postgresql(tmp_path: Path) -> None:
    market = generate(accounts=300, seed=5)
    commands = tmp_path / "market.jsonl"
    write_lines(commands, lines(market))
    documents = {}
    for backend in ("sqlite", "postgresql"):
        with fresh_database(backend) as database:
            ledger = open_test_ledger(database.env)
            database_closers.setdefault(database.url, []).append(ledger.close)
            result = apply_file(ledger, commands)
            assert result.ok, result.reason
            models = ReadModels(ledger, database)
            models.catch_up()
            assert reconcile(models) == []
            models.dispose()
            assert replay_cycle(ledger, market.cycle).differences == []
            documents[backend] = cycle_document(ledger, market.cycle)
    assert documents["sqlite"]["participants"], "the crash left somebody to share the loss"
    assert documents["sqlite"] == documents["postgresql"]
