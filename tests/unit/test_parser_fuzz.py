"""Fuzzing the command parser: whatever arrives, `load_json` and `parse_command` answer with a
refusal of their own (an InvalidCommandError with a one-line, bounded reason) or a command, never
a crash.

They are fed arbitrary bytes, arbitrary text (lone surrogates included), arbitrary JSON documents
(floats, huge integers, NaN) shaped like commands, and the hostile shapes of
tests/support/fuzzing.py. Valid commands round-trip. The same lines on a real ledger:
tests/specs/test_parser_fuzz_on_a_ledger.py.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from domain.commands.json_lines import command_id_for_message, load_batch, load_json
from domain.commands.models import content_hash, parse_command
from domain.core.errors import InvalidCommandError, LedgerError
from domain.core.limits import IDENTIFIER_PATTERN, MAX_BATCH_COMMANDS
from tests.support.fuzzing import (
    ANY_CHARACTER,
    ANY_LINES,
    HOSTILE_SHAPES,
    JSON_VALUES,
    VALID_COMMANDS,
    fuzz,
    mutated_commands,
)
from tests.support.ledgers import assert_one_clear_line


def refusal_or_command(line: str | bytes) -> InvalidCommandError | Any:
    """The parsed command, or the refusal; anything else raised fails the property."""
    try:
        return parse_command(load_json(line))
    except InvalidCommandError as error:
        return error


def check(line: str | bytes) -> None:
    outcome = refusal_or_command(line)
    if isinstance(outcome, LedgerError):
        assert_one_clear_line(str(outcome))


# --- the properties -------------------------------------------------------------------------


@fuzz(400)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_parsed_or_refused_clearly(line: bytes) -> None:
    check(line)


@fuzz(400)
@given(st.text(ANY_CHARACTER, max_size=300))
def test_arbitrary_text_with_surrogates_is_parsed_or_refused_clearly(line: str) -> None:
    check(line)
    check(line.encode("utf-8", "surrogatepass"))


@fuzz(400)
@given(JSON_VALUES)
def test_arbitrary_json_documents_are_parsed_or_refused_clearly(document: Any) -> None:
    check(json.dumps(document, allow_nan=True))
    check(json.dumps(document, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass"))


@fuzz(600)
@given(mutated_commands())
def test_commands_with_one_field_broken_are_parsed_or_refused_clearly(
    document: dict[str, Any],
) -> None:
    check(json.dumps(document, allow_nan=True))


@fuzz(150)
@given(HOSTILE_SHAPES)
def test_hostile_shapes_are_refused_clearly(line: str) -> None:
    outcome = refusal_or_command(line)
    if isinstance(outcome, LedgerError):
        assert_one_clear_line(str(outcome))


def reads_as_written(parsed: Any, written: Any) -> bool:
    """Whether a parsed value is the written one: decimals by value, fills field by field."""
    if isinstance(parsed, Decimal):
        return parsed == Decimal(written)
    if isinstance(parsed, BaseModel):
        return all(reads_as_written(getattr(parsed, key), value) for key, value in written.items())
    if isinstance(parsed, dict):
        return parsed.keys() == written.keys() and all(
            reads_as_written(parsed[key], written[key]) for key in parsed
        )
    if isinstance(parsed, list):
        return len(parsed) == len(written) and all(map(reads_as_written, parsed, written))
    return bool(parsed == written)


@fuzz(300)
@given(VALID_COMMANDS, st.randoms(use_true_random=False))
def test_valid_commands_round_trip(document: dict[str, Any], random: Any) -> None:
    # Given a valid command, written with its keys in any order
    keys = list(document)
    random.shuffle(keys)
    shuffled = {key: document[key] for key in keys}
    # When it is parsed
    command = parse_command(load_json(json.dumps(shuffled)))
    # Then every field reads back as written, and its content does not depend on key order
    for field, value in document.items():
        assert reads_as_written(getattr(command, field), value), field
    assert content_hash(shuffled) == content_hash(document)
    assert command_id_for_message(json.dumps(document)) == document["id"]


@fuzz(300)
@given(ANY_LINES | st.builds(json.dumps, JSON_VALUES))
def test_the_id_quoted_in_a_refusal_is_one_the_ledger_accepts(line: str | bytes) -> None:
    identifier = command_id_for_message(line)
    assert identifier is None or re.fullmatch(IDENTIFIER_PATTERN, identifier)


@fuzz(200)
@given(st.lists(VALID_COMMANDS, max_size=3) | JSON_VALUES)
def test_a_batch_is_a_bounded_list_of_objects_or_refused_clearly(batch: Any) -> None:
    try:
        documents = load_batch(json.dumps(batch, allow_nan=True))
    except InvalidCommandError as error:
        assert_one_clear_line(str(error))
    else:
        assert 1 <= len(documents) <= MAX_BATCH_COMMANDS
        assert all(isinstance(document, dict) for document in documents)


def test_a_batch_of_one_more_than_the_bound_is_refused() -> None:
    command = '{"type":"open_account","id":"a","account":"a"}'
    assert (
        len(load_batch("[" + ",".join([command] * MAX_BATCH_COMMANDS) + "]")) == MAX_BATCH_COMMANDS
    )
    with pytest.raises(InvalidCommandError, match=f"at most {MAX_BATCH_COMMANDS} commands"):
        load_batch("[" + ",".join([command] * (MAX_BATCH_COMMANDS + 1)) + "]")
