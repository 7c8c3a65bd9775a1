"""The books must balance: aggregate state agrees with the postings, and the sum is zero."""

from __future__ import annotations

from decimal import Decimal

from eventsourcing.application import AggregateNotFoundError

from domain.core.ids import INSURANCE_FUND_ID, account_id
from domain.core.postings import INSURANCE_FUND, cash_account, margin_account
from domain.insurance_fund import InsuranceFund
from domain.ledger import LossLedger
from tests.support.ledgers import balances


def check_books(ledger: LossLedger, accounts: list[str]) -> dict[str, Decimal]:
    """Assert the double-entry invariants; return the balances for further checks."""
    books = balances(ledger)
    assert sum(books.values(), Decimal(0)) == 0
    for name in accounts:
        account = ledger.account(account_id(name))  # as it stands, settlements applied
        if account is None:  # not opened yet: no money either
            assert books.get(cash_account(name), Decimal(0)) == 0, name
            continue
        assert books.get(cash_account(name), Decimal(0)) == account.cash, name
        assert books.get(margin_account(name), Decimal(0)) == account.margin, name
    try:
        fund: InsuranceFund = ledger.repository.get(INSURANCE_FUND_ID)
    except AggregateNotFoundError:
        assert books.get(INSURANCE_FUND, Decimal(0)) == 0
    else:
        assert isinstance(fund, InsuranceFund)
        assert books.get(INSURANCE_FUND, Decimal(0)) == fund.balance
    return books
