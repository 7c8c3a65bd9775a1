"""Every event names the accepted command that produced it, and `verify` finds one that none did.

An accepted command is a row beside the events, written in their transaction (its id, content
hash, type, canonical content and the number of events it produced), not an aggregate of its
own; each event's chain row names its command. A forger who appends a correctly chained event
(what `recorder.insert_events` writes for anyone who calls it) without a command, or under a
command that does not count it, is reported at the event's position.
"""

from __future__ import annotations

import copy
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import RecordConflictError, StoredEvent

from domain.core.ids import account_id
from domain.core.postings import EXTERNAL, cash_account, posting
from domain.ledger import ALREADY_APPLIED, APPLIED
from infrastructure.audit.verify import verify
from infrastructure.eventstore.database_url import Database
from infrastructure.readmodels.runner import open_with_read_models
from tests.support.databases import OnPostgreSQL, OnSQLite
from tests.support.ledgers import SpecLedger, command, line, run
from tests.support.scenarios import three_winners_and_a_crash
from tests.support.tampering import Store

FIXTURE = Path(__file__).parents[1] / "fixtures" / "store_0cd64f8"


def tables(database: Database) -> tuple[str, str]:
    events = "stored_events" if database.backend == "sqlite" else "lossledger_events"
    return f"{events}_chain", f"{events}_commands"


def forged_deposit(ledger: Any, account: str) -> StoredEvent:
    """An `Account.Deposited` of 1,000,000 after the account's last event, with a correct
    `cash_after` and postings, encoded as the ledger encodes its events."""
    found = copy.deepcopy(ledger.repository.get(account_id(account)))  # as stored
    amount = Decimal("1000000")
    found.record_deposit(
        amount=amount,
        cash_after=found.cash + amount,
        postings=[posting(EXTERNAL, cash_account(account), amount, "deposit")],
        at="2026-01-01T00:00:00Z",
    )
    stored: StoredEvent = ledger.mapper.to_stored_event(found.collect_events()[-1])
    return stored


def raw(ledger: Any) -> Any:
    """The ledger's chained recorder, as a forger with write access reaches it."""
    return ledger.recorder


def accepted(database: Database) -> list[str]:
    return [row[0] for row in Store(database).sql(f"SELECT command_id FROM {tables(database)[1]}")]


class CommandAttributionSpec:
    def test_each_event_names_its_command_and_each_command_counts_its_events(
        self, ledger: SpecLedger, database: Database
    ) -> None:
        run(ledger, *three_winners_and_a_crash())
        chain, commands = tables(database)
        store = Store(database)
        named = store.sql(f"SELECT command, count(*) FROM {chain} GROUP BY command")
        counted = store.sql(f"SELECT command_id, events FROM {commands}")
        assert None not in dict(named)
        assert dict(named) == dict(counted)
        assert len(counted) == len(three_winners_and_a_crash())
        assert sum(n for _, n in counted) == raw(ledger).max_notification_id()
        topics = {row[0] for row in store.sql(f"SELECT topic FROM {store.events}")}
        assert not any(topic.startswith("domain.command_log:") for topic in topics)
        assert not any(topic.endswith("AccountJoined") for topic in topics)
        assert verify(ledger.recorder).ok  # type: ignore[arg-type]

    def test_a_command_row_keeps_the_canonical_content_and_its_hash(
        self, ledger: SpecLedger, database: Database
    ) -> None:
        document = command("open_account", account="alice", id="open-alice")
        assert ledger.execute_batch([line(document)]) == [APPLIED]
        _, commands = tables(database)
        rows = Store(database).sql(
            f"SELECT command_id, command_type, content, events FROM {commands}"
        )
        assert len(rows) == 1
        command_id, command_type, content, events = rows[0]
        assert (command_id, command_type, events) == ("open-alice", "open_account", 1)
        assert json.loads(content) == document
        assert ledger.execute_batch([line(document)]) == [ALREADY_APPLIED]
        changed = {**document, "account": "bob"}
        assert "applied before with different content" in str(self._refusal(ledger, line(changed)))

    @staticmethod
    def _refusal(ledger: SpecLedger, text: str) -> Exception:
        try:
            ledger.execute_batch([text])
        except Exception as error:  # the refusal is a LedgerError
            return error
        raise AssertionError("the reused id was accepted")

    @pytest.mark.tampers
    def test_a_correctly_chained_event_with_no_command_is_reported_at_its_position(
        self, ledger: SpecLedger
    ) -> None:
        run(ledger, *three_winners_and_a_crash())
        assert verify(ledger.recorder).ok  # type: ignore[arg-type]
        forged = forged_deposit(ledger, "W1")
        (position,) = raw(ledger).insert_events([forged])
        result = verify(ledger.recorder)  # type: ignore[arg-type]
        assert (result.ok, result.first_bad_position) == (False, position)
        assert result.reason == "the event names no command: no accepted command produced it"

    @pytest.mark.tampers
    def test_an_event_under_a_command_that_does_not_count_it_is_reported(
        self, ledger: SpecLedger, database: Database
    ) -> None:
        run(ledger, *three_winners_and_a_crash())
        forged = forged_deposit(ledger, "W1")
        key = (forged.originator_id, forged.originator_version)
        stolen = accepted(database)[0]
        positions = raw(ledger).insert_events([forged], attribution={key: stolen})
        result = verify(ledger.recorder)  # type: ignore[arg-type]
        assert result.ok is False
        assert result.first_bad_position is not None
        assert result.first_bad_position <= positions[0]
        assert "the event's command does not count it" in (result.reason or "")

    @pytest.mark.tampers
    def test_an_event_under_a_command_never_accepted_is_reported(self, ledger: SpecLedger) -> None:
        run(ledger, *three_winners_and_a_crash())
        forged = forged_deposit(ledger, "W1")
        key = (forged.originator_id, forged.originator_version)
        positions = raw(ledger).insert_events([forged], attribution={key: "never-sent"})
        result = verify(ledger.recorder)  # type: ignore[arg-type]
        assert (result.ok, result.first_bad_position) == (False, positions[0])
        assert result.reason == (
            "the event names a command that is not among the accepted commands"
        )

    @pytest.mark.tampers
    def test_verifying_from_a_position_checks_attribution_from_there(
        self, ledger: SpecLedger
    ) -> None:
        run(ledger, *three_winners_and_a_crash())
        forged = forged_deposit(ledger, "W1")
        (position,) = raw(ledger).insert_events([forged])
        assert verify(ledger.recorder, start=position).first_bad_position == position  # type: ignore[arg-type]

    def test_the_store_refuses_a_second_row_of_one_command_id_with_its_events(
        self, ledger: SpecLedger, database: Database
    ) -> None:
        """Behind the look-up: two writers that both found an id absent cannot both save it
        (the second save conflicts and is retried, then finds it applied)."""
        run(ledger, *three_winners_and_a_crash())
        recorder: Any = ledger.recorder
        before = recorder.max_notification_id()
        forged = forged_deposit(ledger, "W1")
        key = (forged.originator_id, forged.originator_version)
        taken = accepted(database)[0]
        with pytest.raises(RecordConflictError):
            recorder.insert_events(
                [forged], attribution={key: taken}, commands=[(taken, "0" * 64, "deposit", "{}", 1)]
            )
        assert recorder.max_notification_id() == before  # the event was rolled back with it
        assert verify(recorder).ok


class TestCommandAttributionOnSQLite(OnSQLite, CommandAttributionSpec):
    pass


class TestCommandAttributionOnPostgreSQL(OnPostgreSQL, CommandAttributionSpec):
    pass


def test_a_store_written_before_attribution_is_checked_from_its_first_attributed_event(
    tmp_path: Path,
) -> None:
    store = tmp_path / "ledger.sqlite"
    shutil.copyfile(FIXTURE / "ledger.sqlite", store)
    ledger, models = open_with_read_models(f"sqlite:///{store}")
    try:
        assert verify(ledger.recorder).ok  # type: ignore[arg-type]
        deposit = command("deposit", account="s7-t0000021", amount="5", id="late-deposit")
        assert ledger.execute_batch([line(deposit)]) == [APPLIED]
        result = verify(ledger.recorder)  # type: ignore[arg-type]
        assert result.ok, result.reason
        forged = forged_deposit(ledger, "s7-t0000021")
        (position,) = raw(ledger).insert_events([forged])
        result = verify(ledger.recorder)  # type: ignore[arg-type]
        assert (result.ok, result.first_bad_position) == (False, position)
    finally:
        models.dispose()
        ledger.close()
