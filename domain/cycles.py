"""The settlement cycle: its marks, its deficit, the accounts with positions, its settlement."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.core.errors import CycleNotOpenError, MissingMarkError, UnknownContractError
from domain.core.ids import cycle_id
from domain.core.money import ZERO
from domain.core.postings import Posting


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
        self.opening_marks = dict(marks)
        self.marks = dict(marks)
        self.policy_version = policy_version
        self.accounts: set[str] = set(carried_accounts)
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
        missing = sorted(contracts - set(marks))
        if missing:
            raise MissingMarkError(f"{purpose} needs a mark for {', '.join(missing)}")

    @event("AccountJoined")
    def record_account_joined(self, account: str) -> None:
        self.accounts.add(account)  # in place: a cycle may hold a million accounts

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

    @event("LossShared")
    def record_loss_shared(
        self, account: str, contract: str, profit: Decimal, rank: int, share: Decimal, at: str
    ) -> None:
        self.participants.append(
            {
                "account": account,
                "contract": contract,
                "profit": profit,
                "rank": rank,
                "share": share,
            }
        )

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
