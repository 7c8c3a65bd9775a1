"""Stores written by the ledger at earlier commits load, replay, verify, re-apply and settle.

Each of `tests/fixtures/store_<commit>/` holds a SQLite store written by the ledger at that
commit: the demo market of seed 7 with 40 accounts (one settled cycle with a deficit), a refund
of it, a policy change, a second cycle opened over the carried positions, a withdrawal and its
settlement. `e07684b` recorded a settlement with an event per account and per participant;
`0cd64f8` in chunk events, with a `CommandRecord` aggregate per command and an `AccountJoined`
per account on the cycle. Stored topics name the aggregates' modules and the audit chain hashes
them, so the aggregates must still load under the topics written then. Beside each store lie the
command file that made it (the same file for both) and the documents the ledger of that commit
printed for it (`cycle show --json`, `history --json`, `explain --json`). The same command file
applied to a fresh store on either backend gives the digests recorded then.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from domain.queries.cycle_report import cycle_document
from domain.queries.explain import explain
from domain.queries.replay import replay_cycle
from infrastructure.apply.runner import apply_file
from infrastructure.audit.verify import verify
from infrastructure.eventstore.database_url import existing_ledger, parse_database
from infrastructure.readmodels.queries import account_history
from infrastructure.readmodels.reconcile import reconcile
from infrastructure.readmodels.runner import ReadModels, open_with_read_models
from tests.support.databases import fresh_database
from tests.support.ledgers import write_commands

FIXTURES = Path(__file__).parents[1] / "fixtures"
CYCLES = ("s7-cycle-1", "s7-cycle-2")
# each fixture's commit and the chain head that verify printed for it then
HEADS = {
    "e07684b": (507, "a110f3131aacdc6ee61e68cfd19c9c4ea3850c3b26be4aa50ee45fcd81feb471"),
    "0cd64f8": (395, "227fd7771ad4d4c1dc392bf70d658613fd42baf285b27f26160233fc0d52a460"),
}
ACCOUNT = "s7-t0000021"
COMMANDS = FIXTURES / "store_e07684b" / "commands.jsonl"  # the same file made both


@dataclass(frozen=True)
class OldStore:
    commit: str
    ledger: Any
    models: ReadModels

    @property
    def head(self) -> tuple[int, str]:
        return HEADS[self.commit]

    def recorded(self, name: str) -> Any:
        path = FIXTURES / f"store_{self.commit}" / name
        return json.loads(path.read_text(encoding="utf-8"))


def as_printed(document: dict[str, Any]) -> Any:
    """A document as `--json` prints it: the same dumps the command line uses."""
    return json.loads(json.dumps(document, ensure_ascii=False))


@pytest.fixture(params=sorted(HEADS))
def old_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OldStore]:
    store = tmp_path / "ledger.sqlite"
    shutil.copyfile(FIXTURES / f"store_{request.param}" / "ledger.sqlite", store)
    ledger, models = open_with_read_models(f"sqlite:///{store}")
    yield OldStore(request.param, ledger, models)
    models.dispose()
    ledger.close()


def test_the_old_store_verifies_to_the_head_it_was_written_with(old_store: OldStore) -> None:
    verification = verify(old_store.ledger.recorder)
    assert verification.ok, verification.reason
    assert (verification.head_position, verification.head_hash) == old_store.head


def test_every_cycle_of_the_old_store_replays_to_its_recorded_digest(old_store: OldStore) -> None:
    for cycle in CYCLES:
        replay = replay_cycle(old_store.ledger, cycle)
        assert replay.differences == []
        assert replay.digest == old_store.recorded(f"{cycle}.json")["digest"]


def test_the_old_store_shows_and_explains_what_the_old_code_printed(old_store: OldStore) -> None:
    ledger, models, recorded = old_store.ledger, old_store.models, old_store.recorded
    for cycle in CYCLES:
        assert as_printed(cycle_document(ledger, cycle)) == recorded(f"{cycle}.json")
    assert as_printed(explain(ledger, ACCOUNT, CYCLES[0])) == recorded(f"explain-{ACCOUNT}.json")
    models.rebuild()
    history = account_history(models.engine, ACCOUNT)
    assert as_printed(history) == recorded(f"history-{ACCOUNT}.json")
    assert reconcile(models) == []


def test_the_old_store_applies_its_commands_again_as_already_applied(old_store: OldStore) -> None:
    result = apply_file(old_store.ledger, COMMANDS)
    assert result.ok, result.reason
    assert (result.applied, result.events_written) == (0, 0)
    assert result.already_applied == len(COMMANDS.read_text(encoding="utf-8").splitlines())


def test_the_old_store_opens_and_settles_a_next_cycle(old_store: OldStore, tmp_path: Path) -> None:
    ledger = old_store.ledger
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
    assert verification.head_position > old_store.head[0]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_fixture_commands_give_the_old_digests_on_a_fresh_store(backend: str) -> None:
    with fresh_database(backend) as database:
        ledger, models = open_with_read_models(database.url)
        try:
            result = apply_file(ledger, COMMANDS)
            assert result.ok, result.reason
            for cycle in CYCLES:
                digest = cycle_document(ledger, cycle)["digest"]
                for commit in HEADS:
                    path = FIXTURES / f"store_{commit}" / f"{cycle}.json"
                    assert digest == json.loads(path.read_text(encoding="utf-8"))["digest"]
        finally:
            models.dispose()
            ledger.close()


@pytest.mark.parametrize("commit", sorted(HEADS))
def test_the_old_store_reads_and_verifies_as_the_read_only_commands_open_it(
    commit: str, tmp_path: Path
) -> None:
    """`verify`, `cycle show` and `cycle replay` open a store without creating tables: one
    made before command rows has neither the commands table nor the chain's command column,
    and reads as written before events named their command, unchanged."""
    store = tmp_path / "ledger.sqlite"
    shutil.copyfile(FIXTURES / f"store_{commit}" / "ledger.sqlite", store)
    before = store.read_bytes()
    ledger = existing_ledger(parse_database(f"sqlite:///{store}"))
    try:
        verification = verify(ledger.recorder)  # type: ignore[arg-type]
        assert verification.ok, verification.reason
        assert (verification.head_position, verification.head_hash) == HEADS[commit]
        for cycle in CYCLES:
            recorded = json.loads(
                (FIXTURES / f"store_{commit}" / f"{cycle}.json").read_text(encoding="utf-8")
            )
            assert as_printed(cycle_document(ledger, cycle)) == recorded
            assert replay_cycle(ledger, cycle).differences == []
    finally:
        ledger.close()
    assert store.read_bytes() == before
