"""Fuzzing the command parser (issue 7): whatever arrives, the ledger answers with a refusal of
its own (a LedgerError with a one-line, bounded reason) or a command, never a crash.

`load_json` and `parse_command` are fed arbitrary bytes, arbitrary text (lone surrogates
included), arbitrary JSON documents (floats, huge integers, NaN) shaped like commands, and the
hostile shapes that broke parsers before: deep nesting, exponent bombs, giant digit strings, NUL
bytes, byte-order marks. `execute_line` gets the same on a real ledger, and a refused line
leaves the store as it was. Valid commands round-trip.

LOSSLEDGER_FUZZ_EXAMPLES scales every property (default 1; the figures in
docs/hostile-input.md come from a run with 20).
"""

from __future__ import annotations

import json
import os
import re
import string
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from domain.commands.json_lines import command_id_for_message, load_batch
from domain.commands.models import content_hash, load_json, parse_command
from domain.core.errors import InvalidCommandError, LedgerError
from domain.core.limits import IDENTIFIER_PATTERN, MAX_BATCH_COMMANDS, MAX_JSON_DEPTH
from tests.support.ledgers import SpecLedger, event_count, open_test_ledger

SCALE = int(os.environ.get("LOSSLEDGER_FUZZ_EXAMPLES", "1"))
MAX_REASON_LENGTH = 300  # characters of a refusal's reason, whatever the input


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def refusal_or_command(line: str | bytes) -> InvalidCommandError | Any:
    """The parsed command, or the refusal; anything else raised fails the property."""
    try:
        return parse_command(load_json(line))
    except InvalidCommandError as error:
        return error


def assert_clear(error: LedgerError) -> None:
    reason = str(error)
    assert reason, "a refusal names its reason"
    assert len(reason.splitlines()) == 1, f"one line: {reason!r}"
    assert len(reason) <= MAX_REASON_LENGTH, f"bounded: {len(reason)} characters"


def check(line: str | bytes) -> None:
    outcome = refusal_or_command(line)
    if isinstance(outcome, LedgerError):
        assert_clear(outcome)


# --- building blocks ------------------------------------------------------------------------

ANY_CHARACTER = st.characters(exclude_categories=[])  # surrogates included
IDENTIFIERS = st.text(string.ascii_letters + string.digits + "_.:@-", min_size=1, max_size=128)
CONTRACTS = st.text(string.ascii_uppercase + string.digits, min_size=1, max_size=32)
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**60), max_value=10**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(ANY_CHARACTER, max_size=40)
    | st.sampled_from(["1e999999", "NaN", "-Infinity", "0x10", "1_000", " 1", "\u0661", "", "-0"])
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def decimals(places: int = 8, positive: bool = True) -> st.SearchStrategy[str]:
    """Decimal strings within the ledger's bounds (whole numbers of the quantum for amounts)."""
    low = 1 if positive else -(10**17)
    return st.builds(
        lambda units: format(Decimal(units).scaleb(-places), "f"),
        st.integers(min_value=low, max_value=10**17),
    )


RATES = decimals(places=4) | st.dictionaries(CONTRACTS, decimals(places=4), max_size=3)
VALID_COMMANDS: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("set_policy"), "id": IDENTIFIERS},
        optional={
            "asset": st.text(string.ascii_uppercase + string.digits, min_size=1, max_size=12),
            "quantum": st.sampled_from(["0.01", "0.00000001", "1"]),
            "fund_mode": st.sampled_from(["share", "first"]),
            "fund_share": decimals(places=4),
            "fund_floor": decimals(),
            "profit_cutoff": decimals(places=4),
            "denominator": st.sampled_from(["selected", "all"]),
            "maintenance_margin_rate": RATES,
            "initial_margin_rate": RATES,
        },
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("close_position"),
            "id": IDENTIFIERS,
            "account": IDENTIFIERS,
            "contract": CONTRACTS,
            "size": decimals(places=6),
            "price": decimals(places=2),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("refund_cycle"),
            "id": IDENTIFIERS,
            "cycle": IDENTIFIERS,
            "amount": decimals(),
            "reason": st.text(min_size=1, max_size=500),
        }
    ),
    st.fixed_dictionaries(
        {"type": st.just("open_account"), "id": IDENTIFIERS, "account": IDENTIFIERS}
    ),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["deposit", "withdraw"]),
            "id": IDENTIFIERS,
            "account": IDENTIFIERS,
            "amount": decimals(),
        }
    ),
    st.fixed_dictionaries(
        {"type": st.just("fund_deposit"), "id": IDENTIFIERS, "amount": decimals()}
    ),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["open_cycle", "settle_cycle"]),
            "id": IDENTIFIERS,
            "cycle": IDENTIFIERS,
            "marks": st.dictionaries(CONTRACTS, decimals(places=4), max_size=5),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("open_position"),
            "id": IDENTIFIERS,
            "account": IDENTIFIERS,
            "contract": CONTRACTS,
            "side": st.sampled_from(["long", "short"]),
            "size": decimals(places=6),
            "price": decimals(places=2),
            "margin": decimals(),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("liquidate"),
            "id": IDENTIFIERS,
            "account": IDENTIFIERS,
            "contract": CONTRACTS,
            "mark": decimals(places=2),
            "fills": st.lists(
                st.fixed_dictionaries({"price": decimals(places=2), "size": decimals(places=6)}),
                min_size=1,
                max_size=4,
            ),
        },
        optional={"at": st.just("2026-11-21T08:00:00Z")},
    ),
)


@st.composite
def mutated_commands(draw: st.DrawFn) -> dict[str, Any]:
    """A valid command with one field replaced, removed or added, by any JSON value."""
    document = dict(draw(VALID_COMMANDS))
    field = draw(st.sampled_from([*document, "surplus", "at"]))
    action = draw(st.sampled_from(["replace", "remove"]))
    if action == "remove":
        document.pop(field, None)
    else:
        document[field] = draw(JSON_VALUES)
    return document


def nested(depth: int, opening: str) -> str:
    closing = {"[": "]", "{": "}"}[opening]
    inner = '{"a":' if opening == "{" else "["
    return inner * depth + ("1" if opening == "[" else '"x"') + closing * depth


DEPOSIT_HEAD = '{"type":"deposit","id":"d","account":"a","amount":'


def deposit_of(amount_json: str) -> str:
    """A deposit whose amount is the given raw JSON text."""
    return DEPOSIT_HEAD + amount_json + "}"


def with_key(key: str) -> str:
    """An account opening with one more key, written as is (surrogates and all)."""
    document = {"type": "open_account", "id": "a", "account": "a", key: "1"}
    return json.dumps(document, ensure_ascii=False)


LENGTHS = st.integers(1, 200_000)
EXPONENTS = st.integers(0, 10**12)
HOSTILE_SHAPES = st.one_of(
    st.builds(lambda n: "[" * n, st.integers(1, 100_000)),
    st.builds(lambda n: '{"a":' * n, st.integers(1, 100_000)),
    st.builds(nested, st.integers(MAX_JSON_DEPTH - 2, 3_000), st.sampled_from(["[", "{"])),
    st.builds(lambda n, sign: deposit_of(f"{sign}1e{n}"), EXPONENTS, st.sampled_from(["", "-"])),
    st.builds(lambda n: deposit_of(f'"1e{n}"'), EXPONENTS),
    st.builds(lambda n: deposit_of('"' + "9" * n + '"'), LENGTHS),
    st.builds(lambda n: deposit_of("9" * n), LENGTHS),
    st.builds(lambda n: deposit_of('"0.' + "0" * n + '1"'), LENGTHS),
    st.builds(lambda text: "\ufeff" + text, st.text(max_size=20)),
    st.builds(lambda n: deposit_of('"1' + "\x00" * n + '"'), st.integers(1, 5)),
    st.builds(lambda code: deposit_of(f'"\\u{code:04x}"'), st.integers(0xD800, 0xDFFF)),
    st.builds(with_key, st.text(ANY_CHARACTER, max_size=200)),
)


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
        assert_clear(outcome)


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
@given(
    st.binary(max_size=200)
    | st.text(ANY_CHARACTER, max_size=200)
    | st.builds(json.dumps, JSON_VALUES)
)
def test_the_id_quoted_in_a_refusal_is_one_the_ledger_accepts(line: str | bytes) -> None:
    identifier = command_id_for_message(line)
    assert identifier is None or re.fullmatch(IDENTIFIER_PATTERN, identifier)


@fuzz(200)
@given(st.lists(VALID_COMMANDS, max_size=3) | JSON_VALUES)
def test_a_batch_is_a_bounded_list_of_objects_or_refused_clearly(batch: Any) -> None:
    try:
        documents = load_batch(json.dumps(batch, allow_nan=True))
    except InvalidCommandError as error:
        assert_clear(error)
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


# --- on a ledger ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzzed_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpecLedger]:
    """One SQLite ledger for every example (hypothesis runs examples in one test call)."""
    path: Path = tmp_path_factory.mktemp("fuzz") / "ledger.db"
    ledger = open_test_ledger(
        {
            "PERSISTENCE_MODULE": "infrastructure.eventstore.chain:SQLiteChainedFactory",
            "SQLITE_DBNAME": str(path),
        }
    )
    ledger.apply_lines(
        [
            '{"type":"open_account","id":"a-alice","account":"alice"}',
            '{"type":"deposit","id":"d-alice","account":"alice","amount":"100"}',
            '{"type":"open_cycle","id":"o-c1","cycle":"c1","marks":{"BTCUSDT":"100"}}',
        ]
    )
    yield ledger
    ledger.close()


@fuzz(300)
@given(
    st.binary(max_size=200)
    | st.text(ANY_CHARACTER, max_size=200)
    | st.builds(lambda d: json.dumps(d, allow_nan=True), mutated_commands())
    | HOSTILE_SHAPES
)
def test_execute_line_refuses_with_a_ledger_error_and_writes_nothing(
    fuzzed_ledger: SpecLedger, line: str | bytes
) -> None:
    events_before = event_count(fuzzed_ledger)
    try:
        fuzzed_ledger.apply_lines([line])  # type: ignore[list-item]  # bytes lines are read too
    except LedgerError as error:
        assert_clear(error)
        assert event_count(fuzzed_ledger) == events_before
