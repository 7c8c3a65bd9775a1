"""Reading one JSON Lines command line (SPEC 7) within the bounds of domain/core/limits.py.

A line is refused, with a one-line reason, unless it is UTF-8 within MAX_LINE_BYTES, nests at
most MAX_JSON_DEPTH levels, and holds no number (amounts are decimal strings), no NaN or
Infinity, no duplicated key and no lone surrogate. Each check costs at most one pass over the
line, before the JSON parser (which recurses once per level) sees it.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from domain.core.errors import InvalidCommandError
from domain.core.limits import (
    IDENTIFIER_PATTERN,
    MAX_BATCH_COMMANDS,
    MAX_JSON_DEPTH,
    MAX_LINE_BYTES,
    quoted,
)


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise InvalidCommandError(f"duplicated key {quoted(key)} in one object")
        document[key] = value
    return document


def _refuse_number(text: str) -> Any:
    if len(text) > 24 or "e" in text.lower():
        shown = text if len(text) <= 24 else text[:21] + "..."
        raise InvalidCommandError(
            f"numbers must be strings, plain decimals without an exponent: got {shown}"
        )
    raise InvalidCommandError(f'numbers must be strings: write "{text}" instead of {text}')


def _refuse_constant(text: str) -> Any:
    raise InvalidCommandError(f"{text} is not allowed: numbers are decimal strings")


# One decoder for every line: `json.loads` with hooks builds a decoder a call (a tenth of a line).
_DECODER = json.JSONDecoder(
    parse_float=_refuse_number,
    parse_int=_refuse_number,
    parse_constant=_refuse_constant,
    object_pairs_hook=_refuse_duplicate_keys,
)
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_DEPTH_CHANGE = {"[": 1, "{": 1, "]": -1, "}": -1}
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _nesting_depth_exceeds(text: str, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit` (strings skipped), in linear time:
    the JSON parser recurses once per level, and a line of brackets would overflow the stack."""
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_DEPTH_CHANGE.__getitem__, brackets)), default=0) > limit


def _text_of(line: str | bytes) -> str:
    """The line as text, refused unless it is UTF-8 (no lone surrogate) within MAX_LINE_BYTES."""
    if len(line) > MAX_LINE_BYTES:
        raise InvalidCommandError(f"line is longer than {MAX_LINE_BYTES} bytes")
    if isinstance(line, str):
        try:
            encoded = line.encode("utf-8")
        except UnicodeEncodeError as error:
            raise InvalidCommandError(
                f"line is not valid Unicode: lone surrogate at character {error.start + 1}"
            ) from None
        if len(encoded) > MAX_LINE_BYTES:
            raise InvalidCommandError(f"line is longer than {MAX_LINE_BYTES} bytes")
        text = line
    else:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidCommandError(
                f"line is not valid UTF-8 (byte {error.start + 1}: {error.reason})"
            ) from None
    if text.startswith("\ufeff"):
        raise InvalidCommandError("line starts with a byte-order mark: write UTF-8 without a BOM")
    return text


def _refuse_escaped_surrogates(text: str, value: Any) -> None:
    """A \\ud800 escape without its pair decodes to a string no UTF-8 store can hold."""
    if "\\u" not in text:
        return
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidCommandError(
            "line is not valid Unicode: a \\u escape encodes a lone surrogate"
        ) from None


def load_json(line: str | bytes) -> Any:
    """A JSON value with no floats, no NaN or Infinity and no duplicated keys, within bounds."""
    text = _text_of(line)
    if _nesting_depth_exceeds(text, MAX_JSON_DEPTH):
        raise InvalidCommandError(f"arrays and objects nest more than {MAX_JSON_DEPTH} levels")
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as error:
        raise InvalidCommandError(f"not valid JSON: {error.msg} at column {error.colno}") from None
    _refuse_escaped_surrogates(text, value)
    return value


def load_batch(body: str | bytes) -> list[dict[str, Any]]:
    """The commands of a JSON batch (POST /commands): one object, or an array of 1 to
    MAX_BATCH_COMMANDS objects. The body is one line for MAX_LINE_BYTES and MAX_JSON_DEPTH."""
    parsed = load_json(body)
    documents = parsed if isinstance(parsed, list) else [parsed]
    if not documents:
        raise InvalidCommandError("a batch holds at least one command")
    if len(documents) > MAX_BATCH_COMMANDS:
        raise InvalidCommandError(
            f"a batch holds at most {MAX_BATCH_COMMANDS} commands, this one {len(documents)}"
        )
    for index, document in enumerate(documents):
        if not isinstance(document, dict):
            raise InvalidCommandError(f"command {index} of the batch is not a JSON object")
    return documents


def command_id_for_message(line: str | bytes) -> str | None:
    """The id of a refused line, for the error message: only an id the ledger could have
    accepted (so a message never carries a line break, markup or a megabyte), else None."""
    try:
        if len(line) > MAX_LINE_BYTES or _nesting_depth_exceeds(
            line if isinstance(line, str) else line.decode("utf-8", "replace"), MAX_JSON_DEPTH
        ):
            return None
        value = json.loads(line).get("id")  # leniently: numbers and NaN are no reason here
    except Exception:  # any line that is no JSON object simply has no readable id
        return None
    if isinstance(value, str) and re.fullmatch(IDENTIFIER_PATTERN, value):
        return value
    return None
