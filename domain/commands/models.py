"""The command models (SPEC 7): strict, frozen, validated at the edge.

Amounts, prices and sizes arrive as strings and only as strings; a JSON number, NaN,
Infinity, a duplicated key or an unknown field is refused with a one-line reason. Every bound
of domain/core/limits.py that a single line can break is checked here, before the line costs more
than one pass over its bytes (docs/limits.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from domain.commands.refusals import json_kind, one_line_reason
from domain.core.errors import InvalidCommandError
from domain.core.limits import (
    ASSET_PATTERN,
    CONTRACT_PATTERN,
    IDENTIFIER_PATTERN,
    MAX_FILLS,
    MAX_MARKS,
    MAX_REASON_CHARS,
    quoted,
)
from domain.core.money import parse_decimal

Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
ContractName = Annotated[str, StringConstraints(pattern=CONTRACT_PATTERN)]


def _decimal(value: object, info: ValidationInfo) -> Decimal:
    try:
        return parse_decimal(value, info.field_name or "value")
    except InvalidCommandError as error:
        raise ValueError(str(error)) from None


DecimalString = Annotated[Decimal, BeforeValidator(_decimal)]


class Command(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    type: str
    id: Identifier
    at: str | None = None

    @field_validator("at")
    @classmethod
    def _business_time_is_rfc3339_utc(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return normalize_time(value)


# A time written as format_time writes it: ASCII digits, "Z", microseconds only when not all
# zero. Such a time, once it is known to be a date and time, is its own normal form.
NORMAL_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.(?!000000)[0-9]{6})?Z", re.ASCII
)


def normalize_time(value: str) -> str:
    """An RFC 3339 UTC time, normalized to `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`."""
    if NORMAL_TIME.fullmatch(value):
        try:
            datetime.fromisoformat(value)  # a day and an hour that exist
        except ValueError:
            raise ValueError(f"at is not an RFC 3339 time: {quoted(value)}") from None
        return value
    if len(value) > 40 or "T" not in value:
        raise ValueError(
            f"at must be an RFC 3339 UTC time such as 2026-11-21T08:00:00Z: {quoted(value)}"
        )
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"at is not an RFC 3339 time: {quoted(value)}") from None
    if moment.utcoffset() is None or moment.utcoffset() != UTC.utcoffset(None):
        raise ValueError(f"at must be in UTC (suffix Z or +00:00): {quoted(value)}")
    return format_time(moment)


def format_time(moment: datetime) -> str:
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat()
    return text + "Z"


class SetPolicy(Command):
    type: Literal["set_policy"]
    asset: Annotated[str, StringConstraints(pattern=ASSET_PATTERN)] | None = None
    quantum: DecimalString | None = None
    fund_mode: Literal["share", "first"] | None = None
    fund_share: DecimalString | None = None
    fund_floor: DecimalString | None = None
    profit_cutoff: DecimalString | None = None
    denominator: Literal["selected", "all"] | None = None
    maintenance_margin_rate: (
        DecimalString
        | Annotated[dict[ContractName, DecimalString], Field(max_length=MAX_MARKS)]
        | None
    ) = None
    initial_margin_rate: (
        DecimalString
        | Annotated[dict[ContractName, DecimalString], Field(max_length=MAX_MARKS)]
        | None
    ) = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude={"type", "id", "at"}, exclude_none=True)


class OpenAccount(Command):
    type: Literal["open_account"]
    account: Identifier


class Deposit(Command):
    type: Literal["deposit"]
    account: Identifier
    amount: DecimalString


class Withdraw(Command):
    type: Literal["withdraw"]
    account: Identifier
    amount: DecimalString


class FundDeposit(Command):
    type: Literal["fund_deposit"]
    amount: DecimalString


Marks = Annotated[dict[ContractName, DecimalString], Field(max_length=MAX_MARKS)]


class OpenCycle(Command):
    type: Literal["open_cycle"]
    cycle: Identifier
    marks: Marks


class SettleCycle(Command):
    type: Literal["settle_cycle"]
    cycle: Identifier
    marks: Marks


class OpenPosition(Command):
    type: Literal["open_position"]
    account: Identifier
    contract: ContractName
    side: Literal["long", "short"]
    size: DecimalString
    price: DecimalString
    margin: DecimalString


class ClosePosition(Command):
    type: Literal["close_position"]
    account: Identifier
    contract: ContractName
    size: DecimalString
    price: DecimalString


class Fill(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    price: DecimalString
    size: DecimalString
    account: Identifier | None = None


class Liquidate(Command):
    type: Literal["liquidate"]
    account: Identifier
    contract: ContractName
    mark: DecimalString
    fills: Annotated[list[Fill], Field(min_length=1, max_length=MAX_FILLS)]


class RefundCycle(Command):
    type: Literal["refund_cycle"]
    cycle: Identifier
    amount: DecimalString
    reason: Annotated[str, StringConstraints(min_length=1, max_length=MAX_REASON_CHARS)]


AnyCommand = Annotated[
    SetPolicy
    | OpenAccount
    | Deposit
    | Withdraw
    | FundDeposit
    | OpenCycle
    | SettleCycle
    | OpenPosition
    | ClosePosition
    | Liquidate
    | RefundCycle,
    Field(discriminator="type"),
]
COMMAND_TYPES = (
    "refund_cycle",
    "set_policy",
    "open_account",
    "deposit",
    "withdraw",
    "fund_deposit",
    "open_cycle",
    "open_position",
    "close_position",
    "liquidate",
    "settle_cycle",
)
_ADAPTER: TypeAdapter[AnyCommand] = TypeAdapter(AnyCommand)


def parse_command(document: Any) -> AnyCommand:
    """A command model from a decoded JSON object, or an InvalidCommandError naming the field."""
    if not isinstance(document, dict):
        raise InvalidCommandError(f"a command must be a JSON object, got {json_kind(document)}")
    if "type" not in document:
        raise InvalidCommandError(f"missing field type: expected one of {', '.join(COMMAND_TYPES)}")
    kind = document["type"]
    if kind not in COMMAND_TYPES:
        raise InvalidCommandError(
            f"unknown command type {quoted(kind)}: expected one of {', '.join(COMMAND_TYPES)}"
        )
    try:
        return _ADAPTER.validate_python(document)
    except ValidationError as error:
        raise InvalidCommandError(one_line_reason(error)) from None


def content_hash(document: dict[str, Any]) -> tuple[str, str]:
    """The canonical content of a command and its SHA-256: key order does not matter. The
    canonical form is `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`;
    orjson writes the same bytes ten times faster for what a command line can hold (strings,
    booleans, null, objects and arrays: `load_json` refuses numbers, lone surrogates and
    duplicated keys; tests/unit/test_content_hash.py); what it cannot write goes through json.
    (A number would be written differently, but no command with one is ever accepted.)"""
    try:
        encoded = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # what orjson cannot write (an integer beyond 64 bits, a lone surrogate)
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        encoded = text.encode("utf-8", "surrogatepass")
    return encoded.decode("utf-8", "surrogatepass"), hashlib.sha256(encoded).hexdigest()
