"""The errors of the ledger: one base for business refusals, one for broken invariants."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class LedgerError(Exception):
    """Raised when a command breaks a business rule; nothing is written."""


class InvariantError(AssertionError):
    """Raised when a state the design rules out is reached: a bug, never a refusal."""


def ensure(condition: bool, message: str) -> None:
    """Check an invariant in a way `python -O` cannot strip."""
    if not condition:
        raise InvariantError(message)


def present(value: T | None, message: str) -> T:
    """The value, which an invariant says cannot be missing."""
    if value is None:
        raise InvariantError(message)
    return value


class InvalidCommandError(LedgerError):
    """Raised when a command is malformed: bad JSON, a missing or unknown field, a bad value."""


class ConflictingCommandIdError(LedgerError):
    """Raised when a command id was applied before with different content."""


class UnknownAccountError(LedgerError):
    """Raised when a command names an account that was never opened."""


class AccountAlreadyOpenError(LedgerError):
    """Raised when an account id is opened a second time."""


class AmountNotInQuantaError(LedgerError):
    """Raised when an amount is not a whole, positive number of the asset's quanta."""


class InsufficientAvailableBalanceError(LedgerError):
    """Raised when an amount exceeds what the account may spend (cash less withheld profit)."""


class NoOpenCycleError(LedgerError):
    """Raised when a position command or a settlement arrives while no cycle is open."""


class CycleAlreadyOpenError(LedgerError):
    """Raised when a cycle is opened while another is open, or a cycle id is reused."""


class CycleNotOpenError(LedgerError):
    """Raised when a cycle named in a command is not the open cycle."""


class UnknownContractError(LedgerError):
    """Raised when a contract has no mark in the open cycle."""


class MissingMarkError(LedgerError):
    """Raised when a cycle is opened or settled without a mark for a contract with positions."""


class PositionAlreadyOpenError(LedgerError):
    """Raised when an account opens a second position in a contract."""


class NoOpenPositionError(LedgerError):
    """Raised when a close or a liquidation names a position the account does not hold."""


class InvalidSizeError(LedgerError):
    """Raised when a size is not positive, exceeds the position, or fills do not add up."""


class InsufficientMarginError(LedgerError):
    """Raised when margin is below the initial margin rate, or a close would lose more."""


class PositionNotLiquidatableError(LedgerError):
    """Raised when margin plus unrealized PnL exceeds the maintenance margin at the mark."""


class PolicyError(LedgerError):
    """Raised when a policy field is out of range or may no longer change."""


class TooManyParticipantsError(LedgerError):
    """Raised when a settlement would select more participants than the documented bound."""
