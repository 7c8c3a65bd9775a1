"""A refused command's reason in one line: pydantic's validation error, named by its field.

The path is written as a user reads it (fills[1].price, marks.BTCUSDT); a value is quoted
within bounds (domain/core/limits.py `quoted`), so that a reason never carries a line break,
markup or a megabyte.
"""

from __future__ import annotations

import re

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from domain.core.limits import (
    ASSET_PATTERN,
    CONTRACT_PATTERN,
    IDENTIFIER_PATTERN,
    MAX_CONTRACT_CHARS,
    MAX_IDENTIFIER_CHARS,
    quoted,
)


def json_kind(value: object) -> str:
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


def one_line_reason(error: ValidationError) -> str:
    """The first error of a command's validation as one line that names the field."""
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
        "string_type": f"{location} must be a JSON string, not {json_kind(first['input'])}",
        "dict_type": f"{location} must be a JSON object, not {json_kind(first['input'])}",
        "model_type": f"{location} must be a JSON object, not {json_kind(first['input'])}",
        "list_type": f"{location} must be a JSON array, not {json_kind(first['input'])}",
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
