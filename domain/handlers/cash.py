"""Cash and ledger-wide commands: the policy, accounts, deposits, withdrawals, fund top-ups.

Each checks its rules first, then records on its aggregate and touches it in the unit of work.
"""

from __future__ import annotations

from domain.accounts import Account
from domain.commands.models import Deposit, FundDeposit, OpenAccount, SetPolicy, Withdraw
from domain.core.errors import AccountAlreadyOpenError
from domain.core.ids import account_id
from domain.core.money import require_quanta
from domain.core.policy import apply_policy_change, policy_to_record
from domain.core.postings import EXTERNAL, INSURANCE_FUND, PLATFORM, cash_account, posting
from domain.handlers.trading import require_account
from domain.handlers.unit_of_work import UnitOfWork


def set_policy(uow: UnitOfWork, command: SetPolicy, at: str) -> None:
    registry = uow.registry()
    policy = apply_policy_change(
        registry.policy,
        command.changes(),
        # a cycle opened with the old quantum books with it: no change after that either
        money_booked=registry.money_booked or bool(registry.cycles),
    )
    registry.record_policy(policy=policy_to_record(policy), at=at)
    uow.touch(registry)


def open_account(uow: UnitOfWork, command: OpenAccount, at: str) -> None:
    if uow.find(account_id(command.account), Account) is not None:
        raise AccountAlreadyOpenError(f"account {command.account} is already open")
    uow.touch(Account(account=command.account, at=at))


def _money_booked(uow: UnitOfWork, at: str) -> None:
    registry = uow.registry()
    if not registry.money_booked:
        registry.record_money_booked(at=at)
        uow.touch(registry)


def deposit(uow: UnitOfWork, command: Deposit, at: str) -> None:
    account = require_account(uow, command.account)
    amount = require_quanta(command.amount, uow.policy().quantum, "amount")
    account.record_deposit(
        amount=amount,
        cash_after=account.cash + amount,
        postings=[posting(EXTERNAL, cash_account(account.account), amount, "deposit")],
        at=at,
    )
    uow.touch(account)
    _money_booked(uow, at)


def withdraw(uow: UnitOfWork, command: Withdraw, at: str) -> None:
    account = require_account(uow, command.account)
    amount = require_quanta(command.amount, uow.policy().quantum, "amount")
    account.require_available(amount, "withdrawal")
    account.record_withdrawal(
        amount=amount,
        cash_after=account.cash - amount,
        postings=[posting(cash_account(account.account), EXTERNAL, amount, "withdrawal")],
        at=at,
    )
    uow.touch(account)


def fund_deposit(uow: UnitOfWork, command: FundDeposit, at: str) -> None:
    amount = require_quanta(command.amount, uow.policy().quantum, "amount")
    fund = uow.insurance_fund(at)
    fund.record_deposit(
        amount=amount,
        balance_after=fund.balance + amount,
        postings=[posting(PLATFORM, INSURANCE_FUND, amount, "fund_deposit")],
        at=at,
    )
    uow.touch(fund)
    _money_booked(uow, at)
