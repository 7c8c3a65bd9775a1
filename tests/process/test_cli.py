"""The command line as a user runs it: real processes, a real SQLite file, exit statuses."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path

from infrastructure.eventstore.database_url import open_ledger, sqlite_url
from tests.support.cli import LOSSLEDGER, applied_by_cli, lossledger
from tests.support.databases import fresh_database
from tests.support.ledgers import line, write_commands, write_lines
from tests.support.scenarios import three_winners_and_a_crash


def test_apply_show_and_replay_a_cycle(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    commands = write_commands(tmp_path / "c.jsonl", three_winners_and_a_crash())
    applied = lossledger("apply", str(commands), db=db)
    assert applied.returncode == 0, applied.stderr
    # the commands' own events: an accepted command is a row, not an event, and the position
    # events name their accounts (no AccountJoined)
    assert "16 applied, 0 already applied, 25 events written" in applied.stdout
    shown = lossledger("cycle", "show", "c1", "--json", db=db)
    document = json.loads(shown.stdout)
    assert (document["deficit"], document["collected"]) == ("100.00000000", "80.00000000")
    replayed = lossledger("cycle", "replay", "c1", db=db)
    assert replayed.returncode == 0
    assert document["digest"] in replayed.stdout
    again = lossledger("apply", str(commands), db=db)
    assert again.returncode == 0
    assert "0 applied, 16 already applied, 0 events written" in again.stdout


def test_apply_names_the_line_the_id_and_the_reason_of_a_refusal(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    commands = write_lines(
        tmp_path / "c.jsonl",
        [
            '{"type":"open_account","id":"a-1","account":"alice"}',
            '{"type":"deposit","id":"d-1","account":"alice","amount":12.5}',
        ],
    )
    result = lossledger("apply", str(commands), db=db)
    assert result.returncode == 1
    assert "line 2: command d-1 refused: numbers must be strings" in " ".join(result.stderr.split())


def test_replay_reports_the_first_difference_of_a_tampered_record(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    applied_by_cli(three_winners_and_a_crash(), tmp_path, db)
    # Someone edits W1's recorded share from 32 to 31 in the database (its LossShared row:
    # account, contract, profit, rank, share, in quanta)
    with sqlite3.connect(db) as connection:
        changed = connection.execute(
            "UPDATE stored_events SET state = CAST(replace(CAST(state AS TEXT), ?, ?) AS BLOB) "
            "WHERE topic = 'domain.cycles:Cycle.LossShared'",
            (",1,3200000000,", ",1,3100000000,"),
        ).rowcount
    assert changed >= 1
    result = lossledger("cycle", "replay", "c1", db=db)
    assert result.returncode == 1
    assert "participants[0][4]: recorded '31', recomputed '32'" in " ".join(result.stderr.split())


def test_show_of_an_unknown_cycle_fails_clearly(tmp_path: Path) -> None:
    open_ledger(sqlite_url(tmp_path / "ledger.db")).close()  # a ledger, with no cycle in it
    result = lossledger("cycle", "show", "nope", db=tmp_path / "ledger.db")
    assert result.returncode == 1
    assert "cycle nope was never opened" in result.stderr


def test_the_demo_applies_settles_and_leaves_its_command_file(tmp_path: Path) -> None:
    out = tmp_path / "demo.jsonl"
    result = lossledger(
        "demo", "--accounts", "300", "--seed", "7", "--out", str(out), db=tmp_path / "demo.db"
    )
    assert result.returncode == 0, result.stderr
    assert "Loss waterfall" in result.stdout
    assert "digest sha256:" in result.stdout
    assert out.stat().st_size > 0
    again = lossledger("apply", str(out), db=tmp_path / "demo.db")
    assert " 0 applied," in " " + again.stdout


def test_apply_history_and_reconcile_on_postgresql(tmp_path: Path) -> None:
    with fresh_database("postgresql") as database:
        applied_by_cli(three_winners_and_a_crash(), tmp_path, database.url)
        history = json.loads(lossledger("history", "W1", "--json", db=database.url).stdout)
        assert history["entries"][-1]["type"] == "socialized_loss"
        assert history["entries"][-1]["amount"] == "-32.00000000"
        reconciled = lossledger("reconcile", db=database.url)
        assert reconciled.returncode == 0, reconciled.stdout
        assert "0 discrepancies" in reconciled.stdout
        rebuilt = lossledger("projections", "rebuild", db=database.url)
        assert "rebuilt from 25 events" in rebuilt.stdout


def test_reconcile_exits_non_zero_and_lists_a_discrepancy(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    applied_by_cli(three_winners_and_a_crash(), tmp_path, db)
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE ll_balances SET withheld = '5' WHERE account = 'W3'")
    result = lossledger("reconcile", "--json", db=db)
    assert result.returncode == 1
    assert json.loads(result.stdout) == [
        {"check": "balance withheld", "key": "W3", "expected": "0", "actual": "5"}
    ]


def test_projections_follow_applies_what_another_process_writes(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    url = f"sqlite:///{db}"
    ledger = open_ledger(url)  # the follower follows a ledger that is stored
    follower = subprocess.Popen(
        [
            LOSSLEDGER,
            "projections",
            "follow",
            "--interval",
            "0.1",
            "--max-seconds",
            "60",
            "--db",
            url,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # Given commands written through the library, which does not catch the read models up
        ledger.execute_batch([line(d) for d in three_winners_and_a_crash()])
        written = ledger.recorder.max_notification_id()
        # Then the follower applies them in the background
        position = 0
        for _ in range(300):
            with sqlite3.connect(db) as connection:
                try:
                    row = connection.execute("SELECT position FROM ll_tracking").fetchone()
                except sqlite3.OperationalError:  # the follower has not created its tables yet
                    row = None
            position = row[0] if row else 0
            if position == written:
                break
            time.sleep(0.1)
        assert position == written
    finally:
        follower.terminate()
        follower.wait(timeout=30)
    assert lossledger("reconcile", db=db).returncode == 0


def test_explain_and_verify_from_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    applied_by_cli(three_winners_and_a_crash(), tmp_path, db)
    explained = json.loads(lossledger("explain", "W1", "--cycle", "c1", "--json", db=db).stdout)
    assert explained["share"] == "32.00000000"
    text = lossledger("explain", "W1", "--cycle", "c1", db=db).stdout
    assert "ranked 1 of 3, selected" in " ".join(text.split())
    verified = lossledger("verify", db=db)
    assert verified.returncode == 0
    assert verified.stdout.startswith("verified ")
    unknown = lossledger("explain", "W1", "--cycle", "nope", db=db)
    assert unknown.returncode == 1
    assert "cycle nope was never opened" in unknown.stderr


def test_apply_refuses_a_retry_bound_it_cannot_use_before_it_writes(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    commands = write_commands(tmp_path / "c.jsonl", three_winners_and_a_crash())
    run = lossledger("apply", str(commands), db=db, env={"LOSSLEDGER_APPLY_ATTEMPTS": "0"})
    assert run.returncode == 2
    assert "LOSSLEDGER_APPLY_ATTEMPTS must be a whole number from 1 to 100, got '0'" in run.stderr
    assert "Traceback" not in run.stderr
    shown = lossledger("cycle", "show", "c1", db=db)
    assert shown.returncode != 0  # nothing was applied
