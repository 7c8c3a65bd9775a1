"""Hypothesis strategies for command lines: valid commands, commands with one field broken, and
the hostile shapes that parsers fail on (deep nesting, exponent bombs, giant digit strings, NUL
bytes, byte-order marks, lone surrogates).

LOSSLEDGER_FUZZ_EXAMPLES scales every property that uses `fuzz` (default 1; the figures in
docs/hostile-input.md come from a run with 20).
"""

from __future__ import annotations

import json
import os
import string
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from domain.core.limits import MAX_JSON_DEPTH

SCALE = int(os.environ.get("LOSSLEDGER_FUZZ_EXAMPLES", "1"))


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


ANY_CHARACTER = st.characters(exclude_categories=[])  # surrogates included
# Lines of anything: bytes, or text with surrogates
ANY_LINES = st.binary(max_size=200) | st.text(ANY_CHARACTER, max_size=200)
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
