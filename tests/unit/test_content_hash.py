"""A command's canonical content is `json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)` of its document: the content hashes stored by every ledger before depend
on it. `content_hash` writes it with orjson; for every document a command line can hold
(strings, booleans, null, objects, arrays, any character but a lone surrogate) the bytes are
the same."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.commands.json_lines import load_json
from domain.commands.models import content_hash

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
DOCUMENTS = st.recursive(
    st.none() | st.booleans() | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)


def by_json(document: Any) -> tuple[str, str]:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text, hashlib.sha256(text.encode("utf-8")).hexdigest()


@settings(max_examples=2_000)
@given(st.dictionaries(TEXT, DOCUMENTS, max_size=8))
def test_the_canonical_content_is_what_json_writes(document: dict[str, Any]) -> None:
    assert content_hash(document) == by_json(document)


def test_every_character_a_line_can_hold_is_written_as_json_writes_it() -> None:
    characters = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(characters), 4096):
        run = "".join(characters[start : start + 4096])
        document = {run: run, "k": [run, True, None, {"z": run}]}
        assert content_hash(document) == by_json(document)


def test_a_parsed_line_hashes_as_its_canonical_form_whatever_the_key_order() -> None:
    first = load_json('{"type":"deposit","id":"d-1","account":"\\u00e9t\\u00e9","amount":"5"}')
    second = load_json('{"amount":"5","account":"été","id":"d-1","type":"deposit"}')
    assert content_hash(first) == content_hash(second) == by_json(first)
    assert content_hash(first)[0] == '{"account":"été","amount":"5","id":"d-1","type":"deposit"}'


def test_what_orjson_cannot_write_is_written_by_json() -> None:
    document = {"big": 2**70, "lone": "\ud800"}
    text, digest = content_hash(document)
    assert text == json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert digest == hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
