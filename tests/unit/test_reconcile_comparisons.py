"""Reconciliation's comparisons: what counts as a read model agreeing with its aggregate."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.accounts import Account
from domain.core.postings import EXTERNAL, cash_account, posting
from domain.insurance_fund import InsuranceFund
from projections.reconcile import account_discrepancies, fund_discrepancies, zero_sum

AT = "2026-11-21T00:00:00Z"
HUNDRED = Decimal("100.00000000")


def alice_with_a_hundred() -> Account:
    alice = Account(account="alice", at=AT)
    entry = posting(EXTERNAL, cash_account("alice"), HUNDRED, "deposit")
    alice.record_deposit(amount=HUNDRED, cash_after=HUNDRED, postings=[entry], at=AT)
    return alice


def balance_row(cash: str) -> dict[str, Any]:
    return {"cash": cash, "margin": "0", "withheld": "0", "available": cash}


def test_books_that_add_up_to_zero_agree() -> None:
    ledger = {EXTERNAL: -HUNDRED, cash_account("alice"): HUNDRED}
    assert list(zero_sum(ledger)) == []


def test_books_one_quantum_off_zero_are_named() -> None:
    ledger = {EXTERNAL: -HUNDRED, cash_account("alice"): HUNDRED + Decimal("0.00000001")}
    assert list(zero_sum(ledger)) == [
        {
            "check": "zero sum",
            "key": "all ledger accounts",
            "expected": "0",
            "actual": "0.00000001",
        }
    ]


def test_a_balance_row_that_mirrors_the_account_agrees() -> None:
    ledger = {cash_account("alice"): HUNDRED}
    assert list(account_discrepancies(alice_with_a_hundred(), balance_row("100"), ledger)) == []


def test_an_edited_balance_row_is_named_by_field_and_account() -> None:
    ledger = {cash_account("alice"): HUNDRED}
    found = list(account_discrepancies(alice_with_a_hundred(), balance_row("1000"), ledger))
    assert [(d["check"], d["key"]) for d in found] == [
        ("balance cash", "alice"),
        ("balance available", "alice"),
    ]


def test_a_ledger_account_that_differs_from_the_cash_is_named() -> None:
    found = list(account_discrepancies(alice_with_a_hundred(), balance_row("100"), {}))
    assert [(d["check"], d["expected"], d["actual"]) for d in found] == [
        ("ledger cash", "100.00000000", "0")
    ]


def test_fund_rows_without_a_fund_are_named_and_none_agree() -> None:
    assert list(fund_discrepancies(None, [], {})) == []
    found = list(fund_discrepancies(None, [{"amount": "1", "balance_after": "1"}], {}))
    assert found == [{"check": "insurance fund history", "key": "rows", "expected": 0, "actual": 1}]


def test_fund_history_whose_amounts_do_not_add_up_to_the_balance_is_named() -> None:
    fund = InsuranceFund(at=AT)
    fund.record_deposit(amount=HUNDRED, balance_after=HUNDRED, postings=[], at=AT)
    ledger = {"insurance_fund": HUNDRED}
    rows = [{"amount": "90", "balance_after": "100"}]
    found = list(fund_discrepancies(fund, rows, ledger))
    assert [(d["check"], d["actual"]) for d in found] == [("insurance fund history amounts", "90")]
