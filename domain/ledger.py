"""The Application: one method per use case, and the command dispatcher behind `apply`."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate, datetime_now_with_tzinfo
from eventsourcing.persistence import JSONTranscoder, Recording

from domain.accounts import Account
from domain.command_log import CommandRecord
from domain.commands.json_lines import load_json
from domain.commands.models import (
    AnyCommand,
    content_hash,
    format_time,
    parse_command,
)
from domain.core.encoding import DecimalAsPlainString
from domain.core.errors import ConflictingCommandIdError, LedgerError
from domain.core.ids import account_id, command_id
from domain.core.limits import IDENTIFIER_PATTERN
from domain.handlers import cash, refunds, settlement, trading
from domain.handlers.event_store import EventStoreConstructor, event_store_of
from domain.handlers.unit_of_work import UnitOfWork
from domain.insurance_fund import InsuranceFund
from domain.registry import Registry

APPLIED = "applied"
IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
PREFETCH_CHUNK = 500  # ids per existence query
ALREADY_APPLIED = "already applied"
# Each command type's handler: checks every rule, then records on the unit of work's aggregates.
HANDLERS: dict[str, Callable[[UnitOfWork, Any, str], None]] = {
    "set_policy": cash.set_policy,
    "open_account": cash.open_account,
    "deposit": cash.deposit,
    "withdraw": cash.withdraw,
    "fund_deposit": cash.fund_deposit,
    "open_cycle": settlement.open_cycle,
    "settle_cycle": settlement.settle_cycle,
    "open_position": trading.open_position,
    "close_position": trading.close_position,
    "liquidate": trading.liquidate,
    "refund_cycle": refunds.refund_cycle,
}


class LossLedger(Application[UUID]):
    """The socialized-loss ledger. Commands in, events out, one atomic save per batch."""

    name = "lossledger"
    env: ClassVar[dict[str, str]] = {
        "AGGREGATE_CACHE_MAXSIZE": "200000",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        # the library's JSON, written by orjson (domain/core/encoding.py)
        "TRANSCODER_TOPIC": "domain.core.encoding:OrjsonTranscoder",
        "MAPPER_TOPIC": "domain.core.encoding:LedgerMapper",
    }
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        InsuranceFund: 200,
        Registry: 200,
    }

    def __init__(
        self,
        env: dict[str, str] | None = None,
        clock: Callable[[], datetime] = datetime_now_with_tzinfo,
        event_store: EventStoreConstructor | None = None,
    ) -> None:
        super().__init__(env)
        self.clock = clock
        self.store = event_store_of(self, event_store)
        self.unit = UnitOfWork(self, self.store, lambda: format_time(self.clock()))
        self.events_written = 0  # by this instance, whoever asked for the save
        self._parsed: dict[str | bytes, tuple[dict[str, Any], str, str]] = {}

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DecimalAsPlainString())

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's save of aggregates, each step as `Application.save` takes it, but
        collecting their events without its per-object protocol checks: Python 3.11's
        `isinstance` against a runtime-checkable protocol costs about 11 µs a command (its
        events, or an event, are told apart by their type here: the ledger saves only
        aggregates)."""
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        for aggregate in objs:
            if aggregate is None:
                continue
            if not isinstance(aggregate, Aggregate):
                processing.collect_events(aggregate, **kwargs)  # the library's own way
                continue
            processing.events.extend(aggregate.collect_events())
            processing.aggregates[aggregate.id] = aggregate
        processing.saved_kwargs.update(kwargs)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        self.notify(processing.events)  # the library's deprecated hook, kept as it calls it
        return recordings

    # --- commands ----------------------------------------------------------------------------

    def execute_line(self, line: str | bytes) -> str:
        """Parse and execute one JSON Lines command; LedgerError when refused."""
        parsed = self._parsed.pop(line, None)  # parsed and hashed once already by `prefetch`
        if parsed is None:
            document = load_json(line)
            if not isinstance(document, dict):
                parse_command(document)  # refused, with the model's reason
            parsed = document, *content_hash(document)
        document, content, digest = parsed
        if self._applied_before(document, digest):
            return ALREADY_APPLIED
        return self._execute(parse_command(document), content, digest)

    def _applied_before(self, document: dict[str, Any], digest: str) -> bool:
        """Whether the document's id was accepted with this very content (looked up ahead by
        `prefetch`, or saved earlier in this batch): the document that was validated and
        applied then, recognised without validating or executing it again."""
        known = document.get("id")
        return isinstance(known, str) and self.unit.known_command_hash(known) == digest

    def execute(self, command: AnyCommand, document: dict[str, Any]) -> str:
        """Run one command into the unit of work (saved at the next `flush`)."""
        content, digest = content_hash(document)
        return self._execute(command, content, digest)

    def _execute(self, command: AnyCommand, content: str, digest: str) -> str:
        applied = self.unit.stored_command_hash(command.id)
        if applied is None and self.store.may_hold_command_records():
            record = self.unit.find(command_id(command.id), CommandRecord)
            applied = None if record is None else record.content_hash
        if applied is not None:
            if applied == digest:
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
        if self.store.keeps_commands():
            self.unit.accept_command(command.id, command.type, content, digest)
        else:  # a store without command rows keeps an aggregate per command
            self.unit.touch(
                CommandRecord(
                    command=command.id,
                    command_type=command.type,
                    content=content,
                    content_hash=digest,
                )
            )
        return APPLIED

    def prefetch(self, lines: Sequence[str | bytes]) -> None:
        """Look up, a few queries in all, which of the coming commands' ids and new accounts
        are stored yet, so that executing them asks the store nothing about the others.
        A line that does not parse is left for `execute_line` to refuse."""
        wanted: set[UUID] = set()
        commands: set[str] = set()
        records = self.store.may_hold_command_records()
        # the batch's documents and content hashes, for execute_line: each line parsed once
        self._parsed = {}
        for line in lines:
            try:
                document = load_json(line)
            except LedgerError:
                continue
            if not isinstance(document, dict):
                continue
            self._parsed[line] = (document, *content_hash(document))
            if isinstance(document.get("id"), str) and IDENTIFIER.fullmatch(document["id"]):
                commands.add(document["id"])  # an id the command model would refuse is not asked
                if records:
                    wanted.add(command_id(document["id"]))
        self.unit.stored_commands = {}  # the look-ups of the batch before are not kept
        self._look_up_commands(sorted(commands - set(self.unit.commands)))
        for document, _, digest in self._parsed.values():
            # a line applied before asks nothing more: its account is not looked up
            opened = document.get("type") == "open_account" and document.get("account")
            if isinstance(opened, str) and not self._applied_before(document, digest):
                wanted.add(account_id(opened))
        unknown = sorted(
            key for key in wanted if key not in self.unit.pending and not self.store.is_cached(key)
        )
        for start in range(0, len(unknown), PREFETCH_CHUNK):
            chunk = unknown[start : start + PREFETCH_CHUNK]
            existing = self.store.existing(chunk)
            if existing is None:  # this store cannot look ids up in bulk: each is loaded alone
                return
            self.unit.absent.update(set(chunk) - existing)

    def _look_up_commands(self, commands: list[str]) -> None:
        """The stored content hash of each of the batch's command ids, PREFETCH_CHUNK ids a
        query; a store without command rows leaves them to be looked up one by one."""
        for start in range(0, len(commands), PREFETCH_CHUNK):
            chunk = commands[start : start + PREFETCH_CHUNK]
            found = self.store.command_hashes(chunk)
            if found is None:
                return
            self.unit.stored_commands.update({command: found.get(command) for command in chunk})

    def account(self, key: UUID) -> Account | None:
        """An account as it stands: the rows of the cycle boundaries recorded since its last
        event applied to it (domain/handlers/unit_of_work.py), saved with its next command."""
        return self.unit.find(key, Account)

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

    def execute_batch(self, lines: list[str]) -> list[str]:
        """Execute and save a batch of lines: the commands before a refusal are saved, the
        refused one writes nothing, and its error is raised. No retry: a conflicting save
        raises too (`infrastructure/apply/runner.py` applies lines with the bounded retries)."""
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
        HANDLERS[command.type](self.unit, command, at)
