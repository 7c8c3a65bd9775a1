"""The command models (SPEC 7): strict, frozen, validated at the edge.

Amounts, prices and sizes arrive as strings and only as strings; a JSON number, NaN,
Infinity, a duplicated key or an unknown field is refused with a one-line reason.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

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

from domain.errors import InvalidCommandError
from domain.money import parse_decimal

MAX_LINE_BYTES = 1_000_000
MAX_FILLS = 1_000
MAX_MARKS = 1_000

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:@\-]{1,128}$")]
ContractName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,32}$")]


def _decimal(value: object, info: ValidationInfo) -> Decimal:
    try:
        return parse_decimal(value, info.field_name or "value")
    except InvalidCommandError as error:
        raise ValueError(str(error)) from None


def _decimal_in_map(value: object) -> Decimal:
    try:
        return parse_decimal(value, "value")
    except InvalidCommandError as error:
        raise ValueError(str(error)) from None


DecimalString = Annotated[Decimal, BeforeValidator(_decimal)]
MapDecimal = Annotated[Decimal, BeforeValidator(_decimal_in_map)]


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


def normalize_time(value: str) -> str:
    """An RFC 3339 UTC time, normalized to `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`."""
    if len(value) > 40 or "T" not in value:
        raise ValueError(f"at must be an RFC 3339 UTC time such as 2026-11-21T08:00:00Z: {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"at is not an RFC 3339 time: {value!r}") from None
    if moment.utcoffset() is None or moment.utcoffset() != UTC.utcoffset(None):
        raise ValueError(f"at must be in UTC (suffix Z or +00:00): {value!r}")
    return format_time(moment)


def format_time(moment: datetime) -> str:
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat()
    return text + "Z"


class SetPolicy(Command):
    type: Literal["set_policy"]
    asset: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,12}$")] | None = None
    quantum: DecimalString | None = None
    fund_mode: Literal["share", "first"] | None = None
    fund_share: DecimalString | None = None
    fund_floor: DecimalString | None = None
    profit_cutoff: DecimalString | None = None
    denominator: Literal["selected", "all"] | None = None
    maintenance_margin_rate: (
        DecimalString
        | Annotated[dict[ContractName, MapDecimal], Field(max_length=MAX_MARKS)]
        | None
    ) = None
    initial_margin_rate: (
        DecimalString
        | Annotated[dict[ContractName, MapDecimal], Field(max_length=MAX_MARKS)]
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


Marks = Annotated[dict[ContractName, MapDecimal], Field(max_length=MAX_MARKS)]


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
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


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


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise InvalidCommandError(f"duplicated key {key!r} in one object")
        document[key] = value
    return document


def _refuse_number(text: str) -> Any:
    raise InvalidCommandError(f'numbers must be strings: write "{text}" instead of {text}')


def _refuse_constant(text: str) -> Any:
    raise InvalidCommandError(f"{text} is not allowed: numbers are decimal strings")


def load_json(line: str | bytes) -> Any:
    """A JSON value with no floats, no NaN or Infinity and no duplicated keys."""
    if len(line) > MAX_LINE_BYTES:
        raise InvalidCommandError(f"line is longer than {MAX_LINE_BYTES} bytes")
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidCommandError(f"line is not valid UTF-8 (byte {error.start})") from None
    try:
        return json.loads(
            line,
            parse_float=_refuse_number,
            parse_int=_refuse_number,
            parse_constant=_refuse_constant,
            object_pairs_hook=_refuse_duplicate_keys,
        )
    except json.JSONDecodeError as error:
        raise InvalidCommandError(f"not valid JSON: {error.msg} at column {error.colno}") from None


def parse_command(document: Any) -> AnyCommand:
    """A command model from a decoded JSON object, or an InvalidCommandError naming the field."""
    if not isinstance(document, dict):
        raise InvalidCommandError("a command must be a JSON object")
    kind = document.get("type")
    if kind not in COMMAND_TYPES:
        raise InvalidCommandError(
            f"unknown command type {kind!r}: expected one of {', '.join(COMMAND_TYPES)}"
        )
    try:
        return _ADAPTER.validate_python(document)
    except ValidationError as error:
        raise InvalidCommandError(_one_line(error)) from None


def _one_line(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    location = ".".join(str(part) for part in first["loc"][1:]) or "command"
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "missing":
        return f"missing field {location}"
    if first["type"] == "extra_forbidden":
        return f"unknown field {location}"
    if first["type"] == "string_pattern_mismatch":
        return f"{location} has characters or a length the ledger does not allow"
    return f"{location}: {message}"


def content_hash(document: dict[str, Any]) -> tuple[str, str]:
    """The canonical content of a command and its SHA-256: key order does not matter."""
    content = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return content, hashlib.sha256(content.encode("utf-8")).hexdigest()
