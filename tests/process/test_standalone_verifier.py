"""The standalone verifier (docs/audit/verify_chain.py), written from docs/audit-format.md alone,
agrees with `lossledger verify` on a real ledger: untouched, and after each kind of tampering."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infrastructure.eventstore.database_url import Database, parse_database
from tests.support.cli import applied_by_cli, lossledger
from tests.support.databases import fresh_database
from tests.support.scenarios import three_winners_and_a_crash
from tests.support.tampering import Store

VERIFIER = Path(__file__).resolve().parents[2] / "docs" / "audit" / "verify_chain.py"
SETTLED = "domain.cycles:Cycle.Settled"
CHANGED = "the event does not match its chain hash: updated, replaced or reordered"

Outcome = tuple[int, str, str]  # exit status, stdout, stderr


def lossledger_verify(database: Database, *options: str) -> Outcome:
    done = lossledger("verify", *options, db=database.url)
    return done.returncode, done.stdout, done.stderr


def standalone_verify(database: Database, *options: str) -> Outcome:
    command = [sys.executable, str(VERIFIER), database.url, *options]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    return done.returncode, done.stdout, done.stderr


def both_say(database: Database, *options: str) -> Outcome:
    """Runs both verifiers and asserts they agree exactly; returns what they said."""
    ours, theirs = standalone_verify(database, *options), lossledger_verify(database, *options)
    assert ours == theirs
    return ours


def build_ledger(database: Database, directory: Path) -> list[int]:
    applied_by_cli(three_winners_and_a_crash(), directory, database.url)
    return Store(database).positions()


def rewrite_chain_from(store: Store, start: int) -> None:
    """What an attacker who also rewrites the chain does: recompute every hash from `start`,
    with the standalone verifier's own canonical bytes."""
    spec = importlib.util.spec_from_file_location("verify_chain", VERIFIER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    canonical: Callable[[int, tuple[bytes, int, str, bytes]], bytes] = module.canonical
    select = f"SELECT chain_hash FROM {store.chain} WHERE position = ?"
    chain_hash = bytes(store.sql(select, (start - 1,))[0][0])
    for position in [p for p in store.positions() if p >= start]:
        originator_id, version, topic, state = store.row(position)
        event = (uuid.UUID(str(originator_id)).bytes, version, topic, bytes(state))
        chain_hash = hashlib.sha256(chain_hash + canonical(position, event)).digest()
        store.sql(
            f"UPDATE {store.chain} SET chain_hash = ? WHERE position = ?", (chain_hash, position)
        )


def check_the_verifiers_agree(database: Database, directory: Path) -> None:
    positions = build_ledger(database, directory)
    store = Store(database)
    last = positions[-1]

    # Untouched: both verify every event, to the same head, from 1 and from the middle.
    untouched = both_say(database)
    assert untouched[0] == 0 and untouched[2] == ""
    assert untouched[1].startswith(f"verified {len(positions)} events from position 1; head ")
    assert untouched[1].endswith(f" at position {last}\n")
    middle = positions[len(positions) // 2]
    assert both_say(database, "--from", str(middle))[1] == untouched[1].replace(
        f"verified {len(positions)} events from position 1",
        f"verified {len(positions) - positions.index(middle)} events from position {middle}",
    )

    # One event's state updated: found at its position; restored, the chain verifies again.
    updated = positions[len(positions) // 3]
    original = bytes(store.row(updated)[3])
    store.update_state(updated, original.replace(b'"', b"'", 1))
    assert both_say(database) == (1, "", f"error: position {updated}: {CHANGED}\n")
    store.update_state(updated, original)
    assert both_say(database) == untouched

    # One event deleted: found at its position.
    deleted = positions[len(positions) // 2]
    row = store.row(deleted)
    store.delete(deleted)
    reason = "an event was deleted: its chain row has no event"
    assert both_say(database) == (1, "", f"error: position {deleted}: {reason}\n")
    store.insert(deleted, row)
    assert both_say(database) == untouched

    # One event inserted after the last: found at its position.
    forged: tuple[Any, ...] = (*store.row(positions[1])[:1], 10_000, *store.row(positions[1])[2:])
    store.insert(last + 1, forged)
    reason = "an event was inserted: it has no chain row"
    assert both_say(database) == (1, "", f"error: position {last + 1}: {reason}\n")
    store.delete(last + 1)
    assert both_say(database) == untouched

    # The chain rewritten from the anchored position on: only the settlement's anchor sees it.
    settled = next(p for p in positions if store.row(p)[2] == SETTLED)
    anchor = json.loads(bytes(store.row(settled)[3]))["summary"]["chain_anchor"]["position"]
    assert anchor < settled
    store.update_state(anchor, bytes(store.row(anchor)[3]).replace(b'"', b"'", 1))
    rewrite_chain_from(store, anchor)
    reason = f"the settlement's anchor at position {anchor} differs from the chain"
    assert both_say(database) == (1, "", f"error: position {settled}: {reason}\n")


def test_the_standalone_verifier_agrees_with_lossledger_on_sqlite(tmp_path: Path) -> None:
    check_the_verifiers_agree(parse_database(f"sqlite:///{tmp_path / 'ledger.db'}"), tmp_path)


def test_the_standalone_verifier_agrees_with_lossledger_on_postgresql(tmp_path: Path) -> None:
    with fresh_database("postgresql") as database:
        check_the_verifiers_agree(database, tmp_path)
