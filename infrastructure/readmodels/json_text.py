"""The JSON text of a balance row's positions, the very text `json.dumps(value)` writes.

SQLAlchemy encodes a JSON column's value with `json.dumps`, which sets up an encoder in Python
at every call: three quarters of the time it takes for a balance row's positions, a dict of
{contract: {"margin": text, "realized": text}}, written for every account a batch changes.
`balance_positions` writes that shape's text itself (each string quoted by the standard
library's own C function), and hands any other value to `json.dumps`; `reading_positions` reads
that text back as the column type reads it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring_ascii as quote  # what json.dumps quotes with
from typing import Any

import orjson


def balance_positions(value: Any) -> str:
    """`json.dumps(value)`: the same text for every value."""
    if type(value) is dict:
        try:
            parts = [
                f'{quote(contract)}: {{"margin": {quote(record["margin"])}, '
                f'"realized": {quote(record["realized"])}}}'
                for contract, record in value.items()
                if type(record) is dict and len(record) == 2 and next(iter(record)) == "margin"
            ]
        except (KeyError, TypeError):  # not the shape: a key or a figure that is no text
            parts = None
        if parts is not None and len(parts) == len(value):
            return "{" + ", ".join(parts) + "}"
    return json.dumps(value)


def reading_positions(own: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A balance row's positions read from their stored text as `own`, the column type's
    result processor, reads them: by orjson when they are of the shape a balance row writes
    (contracts, each a dict of text: orjson reads those as json.loads does, in a fifth of the
    time), by `own` otherwise (a number, a text orjson refuses, any other shape)."""

    def read(value: Any) -> Any:
        if type(value) is str:
            try:
                positions = orjson.loads(value)
            except orjson.JSONDecodeError:
                return own(value)
            if type(positions) is dict and all(
                type(record) is dict and all(type(text) is str for text in record.values())
                for record in positions.values()
            ):
                return positions
        return own(value)

    return read
