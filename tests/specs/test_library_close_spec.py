"""The library entry point never drops work: a ledger closed with commands it answered
"applied" and has not saved yet saves them, or raises when it cannot (domain/ledger.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from eventsourcing.persistence import RecordConflictError

from domain.core.errors import LedgerError
from domain.ledger import APPLIED
from infrastructure.eventstore.database_url import Database, open_ledger
from tests.support.databases import OnPostgreSQL, OnSQLite
from tests.support.ledgers import command, event_count, get_account, line


def alice(deposit: str = "1000") -> list[str]:
    return [
        line(command("open_account", account="alice", id="open-alice")),
        line(command("deposit", account="alice", amount=deposit, id="fund-alice")),
    ]


class ClosingSpec:
    backend: str

    def test_commands_executed_and_not_flushed_are_saved_when_the_ledger_is_closed(
        self, database: Database
    ) -> None:
        # Given commands executed through the library, never flushed
        ledger = open_ledger(database.url)
        assert [ledger.execute_line(text) for text in alice()] == [APPLIED, APPLIED]
        # When the ledger is closed
        ledger.close()
        # Then another ledger finds them stored
        reader = open_ledger(database.url)
        try:
            assert get_account(reader, "alice").cash == Decimal("1000")
        finally:
            reader.close()

    def test_closing_after_a_refused_command_saves_what_was_accepted_before_it_and_no_more(
        self, database: Database
    ) -> None:
        # Given alice opened and funded with 1,000, and a withdrawal of 5,000 refused
        ledger = open_ledger(database.url)
        for text in alice():
            ledger.execute_line(text)
        withdrawal = command("withdraw", account="alice", amount="5000", id="too-much")
        with pytest.raises(LedgerError):
            ledger.execute_line(line(withdrawal))
        # When the ledger is closed
        ledger.close()
        # Then the accepted commands are stored, and nothing of the refused one
        reader = open_ledger(database.url)
        try:
            assert get_account(reader, "alice").cash == Decimal("1000")
            assert reader.execute_batch(alice()) == ["already applied"] * 2
        finally:
            reader.close()

    def test_closing_a_ledger_with_nothing_unsaved_writes_nothing(self, database: Database) -> None:
        ledger = open_ledger(database.url)
        ledger.execute_batch(alice())
        written = event_count(ledger)
        ledger.close()
        reader = open_ledger(database.url)
        try:
            assert event_count(reader) == written
        finally:
            reader.close()

    def test_a_close_that_cannot_save_raises_and_writes_nothing_of_the_batch(
        self, database: Database
    ) -> None:
        # Given my ledger believes alice absent, and another writer opens her meanwhile
        mine, theirs = open_ledger(database.url), open_ledger(database.url)
        mine.prefetch(alice()[:1])
        assert theirs.execute_batch(alice("300")) == [APPLIED, APPLIED]
        stored = event_count(theirs)
        assert mine.execute_line(alice()[0]) == APPLIED  # believed absent: no query asked
        # When my ledger is closed, its save conflicts: the close says so
        with pytest.raises(RecordConflictError):
            mine.close()
        # Then nothing of my batch was written, and the other writer's work stands
        try:
            assert event_count(theirs) == stored
            assert get_account(theirs, "alice").cash == Decimal("300")
        finally:
            theirs.close()


class TestClosingOnSQLite(ClosingSpec, OnSQLite):
    pass


class TestClosingOnPostgreSQL(ClosingSpec, OnPostgreSQL):
    pass
