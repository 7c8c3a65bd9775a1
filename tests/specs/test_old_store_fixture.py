"""A store written by the ledger at commit e07684b loads, replays, verifies and settles.

`tests/fixtures/store_e07684b/` holds a SQLite store written by the ledger at commit e07684b:
the demo market of seed 7 with 40 accounts (one settled cycle with a deficit), a refund of it,
a policy change, a second cycle opened over the carried positions, a withdrawal and its
settlement. Stored topics name the aggregates' modules and the audit chain hashes them, so the
aggregates must still load under the topics written then. Beside the store lie the command file
that made it and the documents the ledger of e07684b printed for it (`cycle show --json`,
`history --json`, `explain --json`). The same command file applied to a fresh store on either
backend gives the digests recorded then.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.queries.cycle_report import cycle_document
from domain.queries.explain import explain
from domain.queries.replay import replay_cycle
from infrastructure.apply.runner import apply_file
from infrastructure.audit.verify import verify
from infrastructure.readmodels.queries import account_history
from infrastructure.readmodels.reconcile import reconcile
from infrastructure.readmodels.runner import ReadModels, open_with_read_models
from tests.support.databases import fresh_database
from tests.support.ledgers import write_commands

FIXTURE = Path(__file__).parents[1] / "fixtures" / "store_e07684b"
CYCLES = ("s7-cycle-1", "s7-cycle-2")
HEAD = (507, "a110f3131aacdc6ee61e68cfd19c9c4ea3850c3b26be4aa50ee45fcd81feb471")
ACCOUNT = "s7-t0000021"


def recorded(name: str) -> Any:
    return json.loads((FIXTURE / name).read_text(encoding="utf-8"))


def as_printed(document: dict[str, Any]) -> Any:
    """A document as `--json` prints it: the same dumps the command line uses."""
    return json.loads(json.dumps(document, ensure_ascii=False))


@pytest.fixture
def old_store(tmp_path: Path) -> Iterator[tuple[Any, ReadModels]]:
    store = tmp_path / "ledger.sqlite"
    shutil.copyfile(FIXTURE / "ledger.sqlite", store)
    ledger, models = open_with_read_models(f"sqlite:///{store}")
    yield ledger, models
    models.dispose()
    ledger.close()


def test_the_old_store_verifies_to_the_head_it_was_written_with(old_store: Any) -> None:
    ledger, _ = old_store
    verification = verify(ledger.recorder)
    assert verification.ok, verification.reason
    assert (verification.head_position, verification.head_hash) == HEAD


def test_every_cycle_of_the_old_store_replays_to_its_recorded_digest(old_store: Any) -> None:
    ledger, _ = old_store
    for cycle in CYCLES:
        replay = replay_cycle(ledger, cycle)
        assert replay.differences == []
        assert replay.digest == recorded(f"{cycle}.json")["digest"]


def test_the_old_store_shows_and_explains_what_the_old_code_printed(old_store: Any) -> None:
    ledger, models = old_store
    for cycle in CYCLES:
        assert as_printed(cycle_document(ledger, cycle)) == recorded(f"{cycle}.json")
    assert as_printed(explain(ledger, ACCOUNT, CYCLES[0])) == recorded(f"explain-{ACCOUNT}.json")
    models.rebuild()
    history = account_history(models.engine, ACCOUNT)
    assert as_printed(history) == recorded(f"history-{ACCOUNT}.json")
    assert reconcile(models) == []


def test_the_old_store_applies_its_commands_again_as_already_applied(old_store: Any) -> None:
    ledger, _ = old_store
    result = apply_file(ledger, FIXTURE / "commands.jsonl")
    assert result.ok, result.reason
    assert (result.applied, result.events_written) == (0, 0)
    assert result.already_applied == len(
        (FIXTURE / "commands.jsonl").read_text(encoding="utf-8").splitlines()
    )


def test_the_old_store_opens_and_settles_a_next_cycle(old_store: Any, tmp_path: Path) -> None:
    ledger, _ = old_store
    marks = {"BTCUSDT": "81000", "ETHUSDT": "2800", "XRPUSDT": "2.0", "BNBUSDT": "810"}
    marks |= {"SOLUSDT": "129", "DOGEUSDT": "0.138"}
    commands = tmp_path / "next.jsonl"
    lines = [
        {"type": "open_cycle", "id": "next-open", "cycle": "s7-cycle-3", "marks": marks},
        {"type": "settle_cycle", "id": "next-settle", "cycle": "s7-cycle-3", "marks": marks},
    ]
    write_commands(commands, lines)
    result = apply_file(ledger, commands)
    assert result.ok, result.reason
    assert replay_cycle(ledger, "s7-cycle-3").differences == []
    verification = verify(ledger.recorder)
    assert verification.ok, verification.reason
    assert verification.head_position > HEAD[0]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_fixture_commands_give_the_old_digests_on_a_fresh_store(backend: str) -> None:
    with fresh_database(backend) as database:
        ledger, models = open_with_read_models(database.url)
        try:
            result = apply_file(ledger, FIXTURE / "commands.jsonl")
            assert result.ok, result.reason
            for cycle in CYCLES:
                digest = cycle_document(ledger, cycle)["digest"]
                assert digest == recorded(f"{cycle}.json")["digest"]
        finally:
            models.dispose()
            ledger.close()
