"""The trader's account: cash, isolated-margin positions, and the cycle profit withheld."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.core.errors import (
    InsufficientAvailableBalanceError,
    NoOpenPositionError,
    PositionAlreadyOpenError,
)
from domain.core.ids import account_id
from domain.core.money import ZERO, fmt_plain
from domain.core.positions import Position
from domain.core.postings import Posting


def unnamed_account(state: dict[str, Any]) -> None:
    """A position event of version 1 did not name its account."""
    state["account"] = None


class RecordsPosition:
    """What a position event does to its account: the contract's record replaced, the cash
    after it, and the records as the cycle's position events leave them."""

    contract: str
    position: dict[str, Any]
    cash_after: Decimal
    cycle: str

    def apply(self, aggregate: Any) -> None:
        aggregate.positions = {**aggregate.positions, self.contract: self.position}
        aggregate.cash = self.cash_after
        aggregate.book_cycle, aggregate.book_state = self.cycle, "open"


class Account(Aggregate):
    """A trader's account. Public methods check the rules; `@event` methods only assign."""

    @staticmethod
    def create_id(account: str, at: str) -> UUID:
        return account_id(account)

    @event("Opened")
    def __init__(self, account: str, at: str) -> None:
        self.account = account
        self.cash = ZERO
        self.positions: dict[str, dict[str, Any]] = {}
        # The cycle the position records belong to, and whether they are as that cycle's
        # position events left them ("open") or as its settlement left them ("settled"). A
        # cycle that records its boundaries in chunks changes the records without an event
        # of the account's: the unit of work applies its rows when the account is next loaded.
        self.book_cycle: str | None = None
        self.book_state = "open"

    # --- reading -------------------------------------------------------------------------

    def position(self, contract: str) -> Position | None:
        record = self.positions.get(contract)
        return None if record is None else Position.from_record(record)

    def open_position(self, contract: str) -> Position:
        position = self.position(contract)
        if position is None or not position.is_open:
            raise NoOpenPositionError(f"account {self.account} holds no position in {contract}")
        return position

    @property
    def margin(self) -> Decimal:
        return sum((Decimal(r["margin"]) for r in self.positions.values()), ZERO)

    @property
    def withheld(self) -> Decimal:
        """Profit realized in the open cycle: not withdrawable until the cycle settles."""
        return sum((max(ZERO, Decimal(r["realized"])) for r in self.positions.values()), ZERO)

    @property
    def available(self) -> Decimal:
        return self.cash - self.withheld

    def require_available(self, amount: Decimal, purpose: str) -> None:
        if amount > self.available:
            raise InsufficientAvailableBalanceError(
                f"{purpose} of {fmt_plain(amount)} exceeds the available balance "
                f"{fmt_plain(self.available)} of account {self.account}"
                + (
                    f" ({fmt_plain(self.withheld)} withheld until settlement)"
                    if self.withheld
                    else ""
                )
            )

    def require_no_open_position(self, contract: str) -> None:
        position = self.position(contract)
        if position is not None and position.is_open:
            raise PositionAlreadyOpenError(
                f"account {self.account} already holds a position in {contract}"
            )

    # --- events: each carries its postings and the state after it ---------------------------

    # The events of every command (a deposit, a withdrawal, a position opened, closed or
    # liquidated) are classes with their own `apply`, triggered directly: the library's
    # `@event` method maps and filters its arguments twice more per event (5 µs of a 10 µs
    # event). The class, its name and its fields are those the `@event` method made: the
    # same topic and the same stored state.

    class Deposited(Aggregate.Event):
        amount: Decimal
        cash_after: Decimal
        postings: list[Posting]
        at: str

        def apply(self, aggregate: Any) -> None:
            aggregate.cash = self.cash_after

    def record_deposit(
        self, amount: Decimal, cash_after: Decimal, postings: list[Posting], at: str
    ) -> None:
        self.trigger_event(
            self.Deposited, amount=amount, cash_after=cash_after, postings=postings, at=at
        )

    class Withdrawn(Aggregate.Event):
        amount: Decimal
        cash_after: Decimal
        postings: list[Posting]
        at: str

        def apply(self, aggregate: Any) -> None:
            aggregate.cash = self.cash_after

    def record_withdrawal(
        self, amount: Decimal, cash_after: Decimal, postings: list[Posting], at: str
    ) -> None:
        self.trigger_event(
            self.Withdrawn, amount=amount, cash_after=cash_after, postings=postings, at=at
        )

    # The position events name their account: a read of the cycle's range of the log
    # (domain/core/book.py) knows whose position each record is without an event per account
    # on the cycle. Stored before they did (version 1), they read with `account` None: their
    # cycle recorded an `AccountJoined` for the account instead.

    class PositionOpened(RecordsPosition, Aggregate.Event):
        class_version = 2
        account: str | None
        cycle: str
        contract: str
        side: str
        size: Decimal
        price: Decimal
        margin: Decimal
        via: str
        position: dict[str, Any]
        cash_after: Decimal
        postings: list[Posting]
        at: str
        upcast_v1_v2 = staticmethod(unnamed_account)

    def record_position_opened(
        self,
        account: str | None,
        cycle: str,
        contract: str,
        side: str,
        size: Decimal,
        price: Decimal,
        margin: Decimal,
        via: str,
        position: dict[str, Any],
        cash_after: Decimal,
        postings: list[Posting],
        at: str,
    ) -> None:
        self.trigger_event(
            self.PositionOpened,
            account=account,
            cycle=cycle,
            contract=contract,
            side=side,
            size=size,
            price=price,
            margin=margin,
            via=via,
            position=position,
            cash_after=cash_after,
            postings=postings,
            at=at,
        )

    class PositionClosed(RecordsPosition, Aggregate.Event):
        class_version = 2
        account: str | None
        cycle: str
        contract: str
        size: Decimal
        price: Decimal
        realized_pnl: Decimal
        margin_released: Decimal
        position: dict[str, Any]
        cash_after: Decimal
        postings: list[Posting]
        at: str
        upcast_v1_v2 = staticmethod(unnamed_account)

    def record_position_closed(
        self,
        account: str | None,
        cycle: str,
        contract: str,
        size: Decimal,
        price: Decimal,
        realized_pnl: Decimal,
        margin_released: Decimal,
        position: dict[str, Any],
        cash_after: Decimal,
        postings: list[Posting],
        at: str,
    ) -> None:
        self.trigger_event(
            self.PositionClosed,
            account=account,
            cycle=cycle,
            contract=contract,
            size=size,
            price=price,
            realized_pnl=realized_pnl,
            margin_released=margin_released,
            position=position,
            cash_after=cash_after,
            postings=postings,
            at=at,
        )

    class PositionLiquidated(RecordsPosition, Aggregate.Event):
        class_version = 2
        account: str | None
        cycle: str
        contract: str
        side: str
        size: Decimal
        entry_price: Decimal
        mark: Decimal
        bankruptcy_price: Decimal
        margin_lost: Decimal
        liquidation_pnl: Decimal
        position: dict[str, Any]
        cash_after: Decimal
        postings: list[Posting]
        at: str
        upcast_v1_v2 = staticmethod(unnamed_account)

    def record_position_liquidated(
        self,
        account: str | None,
        cycle: str,
        contract: str,
        side: str,
        size: Decimal,
        entry_price: Decimal,
        mark: Decimal,
        bankruptcy_price: Decimal,
        margin_lost: Decimal,
        liquidation_pnl: Decimal,
        position: dict[str, Any],
        cash_after: Decimal,
        postings: list[Posting],
        at: str,
    ) -> None:
        self.trigger_event(
            self.PositionLiquidated,
            account=account,
            cycle=cycle,
            contract=contract,
            side=side,
            size=size,
            entry_price=entry_price,
            mark=mark,
            bankruptcy_price=bankruptcy_price,
            margin_lost=margin_lost,
            liquidation_pnl=liquidation_pnl,
            position=position,
            cash_after=cash_after,
            postings=postings,
            at=at,
        )

    @event("CarriedPositionsMarked")
    def record_carried_positions_marked(
        self,
        cycle: str,
        marks: dict[str, Decimal],
        positions: dict[str, dict[str, Any]],
        cash_after: Decimal,
        postings: list[Posting],
        at: str,
    ) -> None:
        self.positions = positions
        self.cash = cash_after
        self.book_cycle, self.book_state = cycle, "open"

    @event("CycleSettled")
    def record_cycle_settled(
        self,
        cycle: str,
        bookings: list[dict[str, Any]],
        shares: list[dict[str, Any]],
        positions: dict[str, dict[str, Any]],
        cash_after: Decimal,
        postings: list[Posting],
        at: str,
    ) -> None:
        self.positions = positions
        self.cash = cash_after
        self.book_cycle, self.book_state = cycle, "settled"

    @event("RowsApplied")
    def record_rows_applied(
        self,
        cycle: str,
        boundary: str,
        rows: list[str],
        positions: dict[str, dict[str, Any]],
        cash_after: Decimal,
        at: str,
    ) -> None:
        """The account's rows of a cycle boundary (`boundary` is "settled" or "opened"),
        cited as `rows`, applied: the records and cash they leave. The postings are the rows'
        own, recorded on the cycle's chunk event; this event repeats none of them."""
        self.positions = positions
        self.cash = cash_after
        self.book_cycle, self.book_state = cycle, "settled" if boundary == "settled" else "open"

    @event("RefundReceived")
    def record_refund(
        self,
        cycle: str,
        refunds: list[dict[str, Any]],
        reason: str,
        cash_after: Decimal,
        postings: list[Posting],
        at: str,
    ) -> None:
        self.cash = cash_after
