"""A ledger for the specifications, and commands written as documents."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder
from freezegun.api import FakeDatetime

from domain.accounts import Account
from domain.core.errors import LedgerError
from domain.core.ids import account_id
from domain.ledger import LossLedger
from projections.fold import balances_from_events


class FakeDatetimeAsISO(DatetimeAsISO):
    """Lets events be saved while freezegun replaces datetime (a known eventsourcing pitfall)."""

    type = FakeDatetime
    name = "fake_datetime_iso"


class SpecLedger(LossLedger):
    name = "lossledger"  # the production table names, not the subclass's

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(FakeDatetimeAsISO())


def open_test_ledger(env: dict[str, str]) -> SpecLedger:
    return SpecLedger(env=env)


def sqlite_test_ledger(path: Path) -> SpecLedger:
    """A ledger on a SQLite file of its own, outside the `database` fixture."""
    return open_test_ledger(
        {
            "PERSISTENCE_MODULE": "infrastructure.eventstore.sqlite:SQLiteChainedFactory",
            "SQLITE_DBNAME": str(path),
        }
    )


# Opens the ledger on the test's database (the `open_ledger` fixture of tests/conftest.py).
LedgerFactory = Callable[[], SpecLedger]


Document = dict[str, Any]

_counter = iter(range(1, 10**9))


def command(kind: str, **fields: Any) -> dict[str, Any]:
    """A command document with a fresh id unless one is given."""
    fields.setdefault("id", f"{kind}-{next(_counter)}")
    return {"type": kind, **fields}


def line(document: dict[str, Any]) -> str:
    return json.dumps(document)


def write_lines(path: Path, texts: Iterable[str]) -> Path:
    """A command file: one line a text."""
    path.write_text("".join(text + "\n" for text in texts), encoding="utf-8")
    return path


def write_commands(path: Path, documents: Iterable[Document]) -> Path:
    """A command file: one line a command document."""
    return write_lines(path, (line(document) for document in documents))


def run(ledger: LossLedger, *documents: dict[str, Any]) -> list[str]:
    """Apply commands as one batch and save them; raises the refusal of the first bad one."""
    return ledger.execute_batch([line(document) for document in documents])


def refusal(ledger: LossLedger, document: dict[str, Any]) -> LedgerError:
    try:
        run(ledger, document)
    except LedgerError as error:
        return error
    raise AssertionError(f"command was not refused: {document}")


MAX_REASON_LENGTH = 300  # characters of a refusal's reason, whatever the input


def assert_one_clear_line(reason: str | None, expected: str | None = None) -> None:
    """A refusal's reason: there, one line, bounded; matching `expected` when given."""
    assert reason, "a refusal names its reason"
    assert len(reason.splitlines()) == 1, f"one line: {reason!r}"
    assert len(reason) <= MAX_REASON_LENGTH, f"{len(reason)} characters: {reason[:80]!r}..."
    if expected is not None:
        assert re.search(expected, reason, re.IGNORECASE), f"{expected!r} not in {reason!r}"


def stored_events(ledger: LossLedger) -> list[Any]:
    notifications = ledger.recorder.select_notifications(start=1, limit=10**9)
    return [ledger.mapper.to_domain_event(n) for n in notifications]


def balances(ledger: LossLedger) -> dict[str, Decimal]:
    return balances_from_events(stored_events(ledger))


def event_count(ledger: LossLedger) -> int:
    return len(ledger.recorder.select_notifications(start=1, limit=10**9))


def market(accounts: Iterable[str], deposit: str = "10000") -> list[dict[str, Any]]:
    """Open and fund accounts."""
    documents = []
    for account in accounts:
        documents.append(command("open_account", account=account))
        documents.append(command("deposit", account=account, amount=deposit))
    return documents


def get_account(ledger: LossLedger, name: str) -> Account:
    account = ledger.account(account_id(name))  # as it stands, settlements applied
    assert isinstance(account, Account)
    return account


def btc_position(account: str, side: str, size: str, margin: str, price: str = "100") -> Document:
    """An open_position command in BTCUSDT."""
    return command(
        "open_position",
        account=account,
        contract="BTCUSDT",
        side=side,
        size=size,
        price=price,
        margin=margin,
    )


def btc_liquidation(account: str, mark: str, fills: list[dict[str, str]]) -> Document:
    """A liquidate command in BTCUSDT."""
    return command("liquidate", account=account, contract="BTCUSDT", mark=mark, fills=fills)
