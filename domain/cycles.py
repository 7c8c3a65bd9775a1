"""The settlement cycle: its marks, its deficit, the accounts with positions, its settlement."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from decimal import Decimal
from itertools import groupby
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import StoredEvent

from domain.core.book import require_marks
from domain.core.errors import CycleNotOpenError, UnknownContractError, ensure
from domain.core.ids import account_key, cycle_id
from domain.core.money import ZERO, fmt_plain
from domain.core.postings import Posting
from domain.core.settlement_rows import (
    S_ACCOUNT,
    S_CONTRACT,
    S_PROFIT,
    S_RANK,
    S_SHARE,
    Row,
    booking_postings,
    decode_amount,
    opening_postings,
    row_ref,
    share_postings,
)


class Cycle(Aggregate):
    """One settlement cycle, opened and settled by commands; one is open at a time."""

    @staticmethod
    def create_id(cycle: str, **_: Any) -> UUID:
        return cycle_id(cycle)

    @event("Opened")
    def __init__(
        self,
        cycle: str,
        marks: dict[str, Decimal],
        policy_version: int,
        carried_accounts: list[str],
        at: str,
    ) -> None:
        self.cycle = cycle
        self.opened_at = at
        self.settled_at: str | None = None
        self.settled_version: int | None = None  # of the Settled event
        # Per chunk of the settlement, in account order: its first and last account, the
        # version of its PositionsSettled and of its LossShared (None: no participant in it).
        self.chunks: list[tuple[str, str, int, int | None]] = []
        self.opening_chunks: list[tuple[str, str, int]] = []
        self.opening_marks = dict(marks)
        self.marks = dict(marks)
        self.policy_version = policy_version
        # The carried accounts and, in a store written before position events named their
        # account, every account that joined by an AccountJoined; with each one's aggregate
        # id (hex) -> name: how a read of the cycle's log range names those events' accounts.
        self.accounts: set[str] = set(carried_accounts)
        self.account_keys: dict[str, str] = {account_key(a): a for a in carried_accounts}
        self.deficit = ZERO
        self.takeovers = 0
        self.settled = False
        self.settlement: dict[str, Any] | None = None
        self.participants: list[dict[str, Any]] = []
        self.uncovered = ZERO
        self.refunded = ZERO
        self.refunds: list[dict[str, Any]] = []

    def require_open(self) -> None:
        if self.settled:
            raise CycleNotOpenError(f"cycle {self.cycle} is settled")

    def require_contract(self, contract: str) -> None:
        if contract not in self.marks:
            raise UnknownContractError(
                f"contract {contract} has no mark in cycle {self.cycle}: "
                "name it in the cycle's marks when opening the cycle"
            )

    @staticmethod
    def require_marks(marks: dict[str, Decimal], contracts: set[str], purpose: str) -> None:
        require_marks(marks, contracts, purpose)

    @event("AccountJoined")
    def record_account_joined(self, account: str) -> None:
        self.joined(account)

    def joined(self, account: str) -> None:
        """What an AccountJoined does (also applied from its stored state, `reconstruct`)."""
        self.accounts.add(account)  # in place: a cycle may hold a million accounts
        self.account_keys[account_key(account)] = account

    @event("TakeoverExecuted")
    def record_takeover(
        self,
        account: str,
        contract: str,
        side: str,
        mark: Decimal,
        bankruptcy_price: Decimal,
        reference: Decimal,
        position_margin: Decimal,
        position_size: Decimal,
        fill: int,
        price: Decimal,
        size: Decimal,
        receiver: str | None,
        loss: Decimal,
        surplus: Decimal,
        deficit_after: Decimal,
        at: str,
    ) -> None:
        self.deficit = deficit_after
        self.takeovers += 1
        self.marks[contract] = mark

    class OpeningBooked(Aggregate.Event):
        """A chunk of the opening book: the carried positions of a run of accounts, marked to
        the cycle's opening mark (domain/core/settlement_rows.py names the columns)."""

        flat_state = True  # decoded by orjson (domain/core/encoding.py): rows of plain values

        chunk: int
        first: str
        last: str
        quantum: Decimal
        rows: list[Row]
        at: str

        def postings_by_account(self) -> Iterator[tuple[str, list[Row], list[Posting]]]:
            for account, rows in by_account(self.rows):
                yield account, rows, opening_postings(account, rows, self.quantum)

        @property
        def postings(self) -> list[Posting]:
            return [p for _, _, postings in self.postings_by_account() for p in postings]

    @event(OpeningBooked)
    def record_opening_booked(
        self, chunk: int, first: str, last: str, quantum: Decimal, rows: list[Row], at: str
    ) -> None:
        self.opening_chunks.append((first, last, self.version + 1))

    class PositionsSettled(Aggregate.Event):
        """A chunk of the settlement's booking rows: every position record of a run of
        accounts, its cycle profit booked (domain/core/settlement_rows.py names the columns)."""

        flat_state = True  # decoded by orjson (domain/core/encoding.py): rows of plain values

        chunk: int
        first: str
        last: str
        quantum: Decimal
        rows: list[Row]
        at: str

        def postings_by_account(self) -> Iterator[tuple[str, list[Row], list[Posting]]]:
            for account, rows in by_account(self.rows):
                yield account, rows, booking_postings(account, rows, self.quantum)

        @property
        def postings(self) -> list[Posting]:
            return [p for _, _, postings in self.postings_by_account() for p in postings]

    @event(PositionsSettled)
    def record_positions_settled(
        self, chunk: int, first: str, last: str, quantum: Decimal, rows: list[Row], at: str
    ) -> None:
        self.chunks.append((first, last, self.version + 1, None))

    class LossShared(Aggregate.Event):
        """The participants of a run of accounts (the accounts of the booking chunk recorded
        just before it), each with its rank, its share and where the share was taken from.

        Stores written before the settlement was recorded in chunks hold one LossShared per
        participant (version 1: account, contract, profit, rank, share); it reads as a chunk of
        one row without a chunk number, whose share was booked by the account's own
        `CycleSettled` (so it carries no postings here)."""

        class_version = 2
        flat_state = True  # decoded by orjson (domain/core/encoding.py): rows of plain values

        chunk: int | None
        first: str
        last: str
        quantum: Decimal | None
        rows: list[Row]
        at: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            row = [
                state.pop("account"),
                state.pop("contract"),
                fmt_plain(state.pop("profit")),
                state.pop("rank"),
                fmt_plain(state.pop("share")),
                None,
                None,
            ]
            state.update(chunk=None, first=row[0], last=row[0], quantum=None, rows=[row])

        def postings_by_account(self) -> Iterator[tuple[str, list[Row], list[Posting]]]:
            if self.chunk is None or self.quantum is None:
                return
            for account, rows in by_account(self.rows):
                yield account, rows, share_postings(account, rows, self.quantum)

        @property
        def postings(self) -> list[Posting]:
            return [p for _, _, postings in self.postings_by_account() for p in postings]

    @event(LossShared)
    def record_loss_shared(
        self,
        chunk: int | None,
        first: str,
        last: str,
        quantum: Decimal | None,
        rows: list[Row],
        at: str,
    ) -> None:
        version = self.version + 1
        reference = f"{self.id}:{version}"
        if chunk is not None:
            booked_first, booked_last, booked, _ = self.chunks[-1]
            self.chunks[-1] = (booked_first, booked_last, booked, version)
        self.participants += [
            {
                "account": row[S_ACCOUNT],
                "contract": row[S_CONTRACT],
                "profit": decode_amount(row[S_PROFIT], quantum or ZERO),
                "rank": row[S_RANK],
                "share": decode_amount(row[S_SHARE], quantum or ZERO),
                "ref": reference if chunk is None else row_ref(reference, index),
            }
            for index, row in enumerate(rows)
        ]

    @event("DeficitUncovered")
    def record_deficit_uncovered(self, amount: Decimal, postings: list[Posting], at: str) -> None:
        self.uncovered = amount

    @event("Settled")
    def record_settled(
        self,
        marks: dict[str, Decimal],
        summary: dict[str, Any],
        carried_accounts: list[str],
        at: str,
    ) -> None:
        self.settled = True
        self.settled_at = at
        self.settled_version = self.version + 1
        if self.chunks:  # the chunks list participants in account order
            self.participants.sort(key=lambda p: int(p["rank"]))
        self.marks = dict(marks)
        self.settlement = summary
        self.carried_accounts = carried_accounts

    @event("Refunded")
    def record_refunded(
        self,
        amount: Decimal,
        reason: str,
        command: str,
        allocations: list[dict[str, Any]],
        refunded_after: Decimal,
        at: str,
    ) -> None:
        self.refunded = refunded_after
        self.refunds.append(
            {
                "command": command,
                "amount": amount,
                "reason": reason,
                "at": at,
                "allocations": allocations,
            }
        )


def by_account(rows: list[Row]) -> Iterator[tuple[str, list[Row]]]:
    for account, group in groupby(rows, key=lambda row: str(row[0])):
        yield account, list(group)


JOINED_TOPIC = "domain.cycles:Cycle.AccountJoined"


def reconstruct(
    aggregate_id: UUID,
    stored: Iterable[tuple[int, str, bytes]],
    decode: Callable[[StoredEvent], Any],
    kept: list[Any] | None = None,
    unkept: Collection[str] = (),
) -> Cycle | None:
    """A cycle from its stored events, (version, topic, state) in version order, as the
    repository rebuilds it, except that each `AccountJoined` is applied from its stored account
    name without building the event (a cycle may hold a million: 1 µs each instead of 12
    through the mapper). The other events, decoded, are appended to `kept` when given, except
    those of the `unkept` topics (a settlement's booking chunks hold a row per position)."""
    cycle: Cycle | None = None
    for version, topic, state in stored:
        if topic == JOINED_TOPIC and cycle is not None:
            ensure(version == cycle.version + 1, "a cycle's events in order")
            cycle.joined(orjson.loads(state)["account"])
            cycle.version = version
        else:
            decoded = decode(StoredEvent(aggregate_id, version, topic, state))
            cycle = decoded.mutate(cycle)
            if kept is not None and topic not in unkept:
                kept.append(decoded)
    return cycle
