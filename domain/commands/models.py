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
from pydantic_core import ErrorDetails

from domain.commands.json_lines import load_batch as load_batch
from domain.commands.json_lines import load_json as load_json
from domain.core.errors import InvalidCommandError
from domain.core.limits import (
    ASSET_PATTERN,
    CONTRACT_PATTERN,
    IDENTIFIER_PATTERN,
    MAX_CONTRACT_CHARS,
    MAX_IDENTIFIER_CHARS,
    MAX_REASON_CHARS,
    quoted,
)
from domain.core.limits import MAX_FILLS as MAX_FILLS
from domain.core.limits import MAX_LINE_BYTES as MAX_LINE_BYTES
from domain.core.limits import MAX_MARKS as MAX_MARKS
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


def normalize_time(value: str) -> str:
    """An RFC 3339 UTC time, normalized to `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`."""
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
        raise InvalidCommandError(f"a command must be a JSON object, got {_json_kind(document)}")
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
        raise InvalidCommandError(_one_line(error)) from None


def _json_kind(value: object) -> str:
    kinds = {bool: "a boolean", type(None): "null", list: "an array", dict: "an object"}
    return kinds.get(type(value), "a string" if isinstance(value, str) else "a number")


_PATTERN_RULES = {
    IDENTIFIER_PATTERN: f"1 to {MAX_IDENTIFIER_CHARS} of A-Z a-z 0-9 _ . : @ -",
    CONTRACT_PATTERN: f"1 to {MAX_CONTRACT_CHARS} of A-Z a-z 0-9 _ . -",
    ASSET_PATTERN: "1 to 12 of A-Z 0-9",
}
_UNION_FIELDS = ("maintenance_margin_rate", "initial_margin_rate")
_PLAIN_PART = re.compile(r"[A-Za-z0-9_\-]{1,40}")


def _location(parts: tuple[int | str, ...]) -> str:
    """A field path for a message: fills[1].price, marks.BTCUSDT, marks['a b']."""
    text = ""
    for index, part in enumerate(parts):
        if index == 1 and parts[0] in _UNION_FIELDS:
            continue  # pydantic's name of a member of the union (a rate or a map of rates)
        if isinstance(part, int):
            text += f"[{part + 1}]"  # numbered from 1, as the liquidation's own checks number fills
        elif _PLAIN_PART.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{quoted(part)}]" if text else quoted(part)
    return text or "command"


def _first_error(error: ValidationError) -> ErrorDetails:
    """The first field's error; of a union's members, the one that went deepest into the input
    (a map of rates with a bad rate is reported as that rate, not as "not a string")."""
    details = error.errors(include_url=False)
    first = details[0]
    field = first["loc"][:2]
    return max(
        (detail for detail in details if detail["loc"][:2] == field),
        key=lambda detail: len(detail["loc"]),
    )


def _one_line(error: ValidationError) -> str:
    first = _first_error(error)
    parts, kind, context = first["loc"][1:], first["type"], first.get("ctx", {})
    key = None
    if parts and parts[-1] == "[key]":
        parts, key = parts[:-2], parts[-2]
    location = _location(parts)
    given = f", got {quoted(first['input'])}"
    messages = {
        "missing": f"missing field {location}",
        "extra_forbidden": f"unknown field {location}",
        "string_type": f"{location} must be a JSON string, not {_json_kind(first['input'])}",
        "dict_type": f"{location} must be a JSON object, not {_json_kind(first['input'])}",
        "model_type": f"{location} must be a JSON object, not {_json_kind(first['input'])}",
        "list_type": f"{location} must be a JSON array, not {_json_kind(first['input'])}",
        "literal_error": f"{location} must be {context.get('expected')}{given}",
        "too_long": f"{location} has more than {context.get('max_length')} items",
        "too_short": f"{location} needs at least {context.get('min_length')} item",
        "string_too_long": f"{location} is longer than {context.get('max_length')} characters",
        "string_too_short": f"{location} must not be empty",
    }
    if kind == "string_pattern_mismatch":
        rule = _PATTERN_RULES.get(str(context.get("pattern")), "see docs/limits.md")
        refused = "has characters or a length the ledger does not allow"
        if key is not None:
            return f"{location} key {quoted(key)} {refused} ({rule})"
        return f"{location} {refused} ({rule}){given}"
    if kind == "value_error":
        message = str(first["msg"]).removeprefix("Value error, ")
        for named in {str(parts[-1]), str(parts[0])} if parts else set():
            if message.startswith(f"{named} "):  # our validators name the field: use the path
                return location + message[len(named) :]
        return message
    return messages.get(kind, f"{location}: {first['msg']}")


def content_hash(document: dict[str, Any]) -> tuple[str, str]:
    """The canonical content of a command and its SHA-256: key order does not matter."""
    content = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return content, hashlib.sha256(content.encode("utf-8")).hexdigest()
