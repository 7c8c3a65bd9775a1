"""The JSON text of a balance row's positions, the very text `json.dumps(value)` writes.

SQLAlchemy encodes a JSON column's value with `json.dumps`, which sets up an encoder in Python
at every call: three quarters of the time it takes for a balance row's positions, a dict of
{contract: {"margin": text, "realized": text}}, written for every account a batch changes.
`balance_positions` writes that shape's text itself (each string quoted by the standard
library's own C function), and hands any other value to `json.dumps`.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii as quote  # what json.dumps quotes with
from typing import Any


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
