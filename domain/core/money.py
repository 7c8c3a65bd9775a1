"""Money: exact decimals, the asset quantum, and the few rounding helpers.

Every rounding names its mode at the call site. Amounts cross boundaries as strings.
"""

from __future__ import annotations

import decimal
import re
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal
from fractions import Fraction

from domain.core.errors import AmountNotInQuantaError, InvalidCommandError, InvariantError
from domain.core.limits import MAX_DECIMAL_CHARS, MAX_FRACTION_DIGITS, MAX_INTEGER_DIGITS, quoted

# SPEC 3: compute exactly at high precision, round only where an amount is booked.
PRECISION_DIGITS = 80

DEFAULT_QUANTUM = Decimal("0.00000001")
DEFAULT_ASSET = "USDT"

ZERO = Decimal(0)


def ledger_context() -> decimal.Context:
    """The arithmetic context of the ledger: exact to 80 digits, floats refused."""
    context = decimal.Context(prec=PRECISION_DIGITS, rounding=ROUND_HALF_EVEN)
    context.traps[decimal.FloatOperation] = True
    context.traps[decimal.Inexact] = False
    return context


decimal.setcontext(ledger_context())
decimal.DefaultContext.prec = PRECISION_DIGITS
decimal.DefaultContext.traps[decimal.FloatOperation] = True


_NOT_PLAIN = re.compile(r"[^0-9.\-]")
_PLAIN_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DIGITS_RULE = (
    f"at most {MAX_INTEGER_DIGITS} digits before and {MAX_FRACTION_DIGITS} after the point, "
    f"{MAX_DECIMAL_CHARS} characters in all"
)


def parse_decimal(text: object, field: str) -> Decimal:
    """A decimal from a command's string; never from a float, never NaN or infinite.

    The checks run in a fixed order, each before any work that the input could make costly:
    type, blanks, characters, length, form, digits. Only then is the Decimal built.
    """
    if not isinstance(text, str):
        raise InvalidCommandError(f'{field} must be a decimal string such as "12.5"')
    if not text or text.strip() != text:
        raise InvalidCommandError(f"{field} must be a plain decimal string, got {quoted(text)}")
    if _NOT_PLAIN.search(text):
        raise InvalidCommandError(
            f"{field} must be a plain decimal string (digits, one point, an optional leading "
            f"minus; no exponent), got {quoted(text)}"
        )
    if len(text) > MAX_DECIMAL_CHARS:
        raise InvalidCommandError(
            f"{field} has more digits than the ledger allows ({_DIGITS_RULE})"
        )
    if not _PLAIN_DECIMAL.fullmatch(text):
        raise InvalidCommandError(f"{field} is not a decimal number: {quoted(text)}")
    whole, _, fraction = text.lstrip("-").partition(".")
    if len(whole.lstrip("0")) > MAX_INTEGER_DIGITS or len(fraction) > MAX_FRACTION_DIGITS:
        raise InvalidCommandError(
            f"{field} has more digits than the ledger allows ({_DIGITS_RULE})"
        )
    return Decimal(text)


def require_positive(value: Decimal, field: str) -> Decimal:
    if value <= 0:
        raise InvalidCommandError(f"{field} must be greater than zero, got {fmt_plain(value)}")
    return value


def require_quanta(amount: Decimal, quantum: Decimal, field: str) -> Decimal:
    """A commanded amount must be positive and a whole number of quanta: never rounded silently."""
    if amount <= 0:
        raise AmountNotInQuantaError(f"{field} must be greater than zero, got {fmt_plain(amount)}")
    if amount % quantum != 0:
        raise AmountNotInQuantaError(
            f"{field} {fmt_plain(amount)} is not a whole number of quanta ({fmt_plain(quantum)})"
        )
    return amount.quantize(quantum)


def book(value: Decimal, quantum: Decimal) -> Decimal:
    """PnL, takeover losses and surpluses are booked half-even to the quantum (SPEC 3)."""
    return _no_negative_zero(value.quantize(quantum, rounding=ROUND_HALF_EVEN))


def book_exact(value: Fraction, quantum: Decimal) -> Decimal:
    """An exact rational amount booked half-even to the quantum (no intermediate rounding)."""
    quanta = round(value / Fraction(quantum))  # Fraction rounds half to even
    return _no_negative_zero(Decimal(quanta) * quantum)


def round_down(value: Decimal, quantum: Decimal) -> Decimal:
    return _no_negative_zero(value.quantize(quantum, rounding=ROUND_DOWN))


def round_up(value: Decimal, quantum: Decimal) -> Decimal:
    return _no_negative_zero(value.quantize(quantum, rounding=ROUND_UP))


def fmt(amount: Decimal, quantum: Decimal) -> str:
    """An amount as a plain decimal string at the quantum: "12.00000000"."""
    return format(_no_negative_zero(amount.quantize(quantum, rounding=ROUND_HALF_EVEN)), "f")


def places_of(quantum: Decimal) -> int | None:
    """The decimal places of a quantum that is a power of ten at most 1 (0.01 -> 2), else None."""
    sign, digits, exponent = quantum.as_tuple()
    if sign == 0 and digits == (1,) and isinstance(exponent, int) and exponent <= 0:
        return -exponent
    return None


def quanta_text(count: int, places: int) -> str:
    """`fmt(count x 10**-places, 10**-places)` written from the integer: "12.50000000"."""
    if not places:
        return str(count)
    digits = str(-count if count < 0 else count).rjust(places + 1, "0")
    text = f"{digits[:-places]}.{digits[-places:]}"
    return "-" + text if count < 0 else text


def fmt_plain(value: Decimal) -> str:
    """A price, size or rate as a plain decimal string without exponent or trailing zeros."""
    if value == 0:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def stored_text(value: Decimal) -> str:
    """A decimal as the event store writes it: its own digits (trailing zeros kept), never an
    exponent (`str` is three times faster than `format` and the same without one)."""
    text = str(value)
    return text if "E" not in text else format(value, "f")


def _no_negative_zero(value: Decimal) -> Decimal:
    return value.copy_abs() if value.is_zero() else value


def to_quanta(amount: Decimal, quantum: Decimal) -> int:
    """A booked amount as its whole number of quanta; an amount finer than the quantum is a bug."""
    count = amount / quantum  # exact: an amount's digits are bounded far below the context's
    whole = int(count)
    if count != whole:  # the message is formatted only then: this runs once per position
        raise InvariantError(
            f"a booked amount is a whole number of quanta, not {fmt_plain(amount)}"
        )
    return whole


def from_quanta(count: int, quantum: Decimal) -> Decimal:
    """Whole quanta as an amount at the quantum: 1,200,000,000 quanta of 1E-8 are 12.00000000."""
    return quantum * count
