"""The Application: one method per use case, and the command dispatcher behind `apply`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import datetime_now_with_tzinfo
from eventsourcing.persistence import DecimalAsStr, JSONTranscoder

from domain.accounts import Account
from domain.command_log import CommandRecord
from domain.commands.models import (
    AnyCommand,
    Deposit,
    FundDeposit,
    OpenAccount,
    SetPolicy,
    Withdraw,
    content_hash,
    format_time,
    load_json,
    parse_command,
)
from domain.core.errors import AccountAlreadyOpenError, ConflictingCommandIdError, LedgerError
from domain.core.ids import account_id, command_id
from domain.core.money import require_quanta
from domain.core.policy import apply_policy_change, policy_to_record
from domain.core.postings import EXTERNAL, INSURANCE_FUND, PLATFORM, cash_account, posting
from domain.handlers import refunds, settlement, trading
from domain.handlers.unit_of_work import UnitOfWork
from domain.insurance_fund import InsuranceFund
from domain.registry import Registry

APPLIED = "applied"
PREFETCH_CHUNK = 500  # ids per existence query
ALREADY_APPLIED = "already applied"


class DecimalAsPlainString(DecimalAsStr):
    """Stored amounts read as written: "0.00000000", never "0E-8" (same name, same decoding)."""

    def encode(self, obj: Decimal) -> str:
        text = str(obj)  # three times faster than format(); the same text without an exponent
        return text if "E" not in text else format(obj, "f")


class LossLedger(Application[UUID]):
    """The socialized-loss ledger. Commands in, events out, one atomic save per batch."""

    name = "lossledger"
    env: ClassVar[dict[str, str]] = {
        "AGGREGATE_CACHE_MAXSIZE": "200000",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
        "AGGREGATE_CACHE_FASTFORWARD": "n",
    }
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        InsuranceFund: 200,
        Registry: 200,
    }

    def __init__(
        self,
        env: dict[str, str] | None = None,
        clock: Callable[[], datetime] = datetime_now_with_tzinfo,
    ) -> None:
        super().__init__(env)
        self.clock = clock
        self.unit = UnitOfWork(self, lambda: format_time(self.clock()))
        self.events_written = 0  # by this instance, whoever asked for the save
        self._parsed: dict[str | bytes, Any] = {}

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DecimalAsPlainString())

    # --- commands ----------------------------------------------------------------------------

    def execute_line(self, line: str | bytes) -> str:
        """Parse and execute one JSON Lines command; LedgerError when refused."""
        document = self._parsed.pop(line, None)  # parsed once already by `prefetch`
        if document is None:
            document = load_json(line)
        return self.execute(parse_command(document), document)

    def execute(self, command: AnyCommand, document: dict[str, Any]) -> str:
        """Run one command into the unit of work (saved at the next `flush`)."""
        content, digest = content_hash(document)
        record = self.unit.find(command_id(command.id), CommandRecord)
        if record is not None:
            if record.content_hash == digest:
                return ALREADY_APPLIED
            raise ConflictingCommandIdError(
                f"command id {command.id} was applied before with different content"
            )
        at = command.at or self.unit.clock()
        if command.type == "settle_cycle":
            self.flush()  # so that the chain anchor in the settlement covers every prior command
        self.unit.begin_command()
        try:
            self._dispatch(command, at)
        except LedgerError:
            self.unit.ensure_unchanged()
            raise
        except BaseException:
            self.discard()  # whatever the command half-did, in the cache too, is forgotten
            raise
        self.unit.touch(
            CommandRecord(
                command=command.id, command_type=command.type, content=content, content_hash=digest
            )
        )
        return APPLIED

    def prefetch(self, lines: Sequence[str | bytes]) -> None:
        """Look up, a few queries in all, which of the coming commands' ids and new accounts
        are stored yet, so that executing them asks the store nothing about the others.
        A line that does not parse is left for `execute_line` to refuse."""
        existing = getattr(self.recorder, "existing_originators", None)
        if existing is None:
            return
        wanted: set[UUID] = set()
        self._parsed = {}  # the batch's documents, for execute_line: each line parsed once
        for line in lines:
            try:
                document = load_json(line)
            except LedgerError:
                continue
            if not isinstance(document, dict):
                continue
            self._parsed[line] = document
            if isinstance(document.get("id"), str):
                wanted.add(command_id(document["id"]))
            if document.get("type") == "open_account" and isinstance(document.get("account"), str):
                wanted.add(account_id(document["account"]))
        cache: Any = self.repository.cache
        unknown = sorted(
            key
            for key in wanted
            if key not in self.unit.pending and (cache is None or key not in cache.cache)
        )
        for start in range(0, len(unknown), PREFETCH_CHUNK):
            chunk = unknown[start : start + PREFETCH_CHUNK]
            self.unit.absent.update(set(chunk) - existing(chunk))

    def flush(self) -> int:
        """Save what the accepted commands changed; the number of events written."""
        written = self.unit.flush()
        self.events_written += written
        return written

    def discard(self) -> None:
        self.unit.discard()

    def close(self) -> None:
        """Save what the accepted commands changed, then release the store: a command answered
        "applied" is not dropped by closing (`discard` first drops it on purpose). A refused
        command left nothing to save; a save that fails is raised, the store released all the
        same."""
        try:
            if self.unit.pending:
                self.flush()
        finally:
            super().close()

    def apply_lines(self, lines: list[str]) -> list[str]:
        """Execute and save commands with the semantics of `apply`: the commands before a
        refusal are saved, the refused one writes nothing, and its error is raised."""
        outcomes = []
        self.prefetch(lines)
        try:
            for line in lines:
                outcomes.append(self.execute_line(line))
        except LedgerError:
            self.flush()
            raise
        except BaseException:
            self.discard()
            raise
        self.flush()
        return outcomes

    def _dispatch(self, command: AnyCommand, at: str) -> None:
        handlers: dict[str, Callable[[Any, str], None]] = {
            "set_policy": self._set_policy,
            "open_account": self._open_account,
            "deposit": self._deposit,
            "withdraw": self._withdraw,
            "fund_deposit": self._fund_deposit,
            "open_cycle": lambda c, at: settlement.open_cycle(self.unit, c, at),
            "settle_cycle": lambda c, at: settlement.settle_cycle(self.unit, c, at),
            "open_position": lambda c, at: trading.open_position(self.unit, c, at),
            "close_position": lambda c, at: trading.close_position(self.unit, c, at),
            "liquidate": lambda c, at: trading.liquidate(self.unit, c, at),
            "refund_cycle": lambda c, at: refunds.refund_cycle(self.unit, c, at),
        }
        handlers[command.type](command, at)

    def _set_policy(self, command: SetPolicy, at: str) -> None:
        registry = self.unit.registry()
        policy = apply_policy_change(
            registry.policy,
            command.changes(),
            # a cycle opened with the old quantum books with it: no change after that either
            money_booked=registry.money_booked or bool(registry.cycles),
        )
        registry.record_policy(policy=policy_to_record(policy), at=at)
        self.unit.touch(registry)

    def _open_account(self, command: OpenAccount, at: str) -> None:
        if self.unit.find(account_id(command.account), Account) is not None:
            raise AccountAlreadyOpenError(f"account {command.account} is already open")
        self.unit.touch(Account(account=command.account, at=at))

    def _money_booked(self, at: str) -> None:
        registry = self.unit.registry()
        if not registry.money_booked:
            registry.record_money_booked(at=at)
            self.unit.touch(registry)

    def _deposit(self, command: Deposit, at: str) -> None:
        account = trading.require_account(self.unit, command.account)
        amount = require_quanta(command.amount, self.unit.policy().quantum, "amount")
        account.record_deposit(
            amount=amount,
            cash_after=account.cash + amount,
            postings=[posting(EXTERNAL, cash_account(account.account), amount, "deposit")],
            at=at,
        )
        self.unit.touch(account)
        self._money_booked(at)

    def _withdraw(self, command: Withdraw, at: str) -> None:
        account = trading.require_account(self.unit, command.account)
        amount = require_quanta(command.amount, self.unit.policy().quantum, "amount")
        account.require_available(amount, "withdrawal")
        account.record_withdrawal(
            amount=amount,
            cash_after=account.cash - amount,
            postings=[posting(cash_account(account.account), EXTERNAL, amount, "withdrawal")],
            at=at,
        )
        self.unit.touch(account)

    def _fund_deposit(self, command: FundDeposit, at: str) -> None:
        amount = require_quanta(command.amount, self.unit.policy().quantum, "amount")
        fund = self.unit.insurance_fund(at)
        fund.record_deposit(
            amount=amount,
            balance_after=fund.balance + amount,
            postings=[posting(PLATFORM, INSURANCE_FUND, amount, "fund_deposit")],
            at=at,
        )
        self.unit.touch(fund)
        self._money_booked(at)
