"""The insurance fund: receives surpluses and top-ups, bears part of each cycle's deficit."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.core.ids import INSURANCE_FUND_ID
from domain.core.money import ZERO
from domain.core.postings import Posting


class InsuranceFund(Aggregate):
    """One per ledger. Its balance is a ledger account (`insurance_fund`) like any other."""

    @staticmethod
    def create_id(at: str) -> UUID:
        return INSURANCE_FUND_ID

    @event("Created")
    def __init__(self, at: str) -> None:
        self.balance = ZERO

    @event("Deposited")
    def record_deposit(
        self, amount: Decimal, balance_after: Decimal, postings: list[Posting], at: str
    ) -> None:
        self.balance = balance_after

    @event("SurplusReceived")
    def record_surplus(
        self,
        cycle: str,
        account: str,
        contract: str,
        amount: Decimal,
        balance_after: Decimal,
        postings: list[Posting],
        at: str,
    ) -> None:
        self.balance = balance_after

    @event("FundDrawn")
    def record_draw(
        self,
        cycle: str,
        amount: Decimal,
        balance_before: Decimal,
        balance_after: Decimal,
        postings: list[Posting],
        at: str,
    ) -> None:
        self.balance = balance_after
