"""The event store's JSON, written by orjson: the library's format, byte for byte.

eventsourcing's `JSONTranscoder` writes a state with the standard library's encoder: compact
separators, no ASCII escaping, and each value of a registered type (a decimal, a datetime) as
{"_type_": name, "_data_": text} through its `default`. A settlement's chunk events hold a
million rows, and that encoder is a quarter of their save. `OrjsonTranscoder.encode` writes the
same bytes with orjson: the same separators and key order, UTF-8 unescaped, and the registered
types through the same `default` (orjson is told to pass datetimes and subclasses of the
built-in types to it, as the standard encoder does). Decoding is the library's.

What orjson writes its own way never reaches it:
- a `UUID` (orjson writes it as a plain string, the library as its transcoding): no event's
  field holds one (tests/unit/test_encoding.py checks every event class), and `LedgerMapper`
  encodes snapshots, which copy an aggregate's attributes whatever they hold, the library's way;
- a float (orjson writes NaN as null): no event's field is a float, and an amount is a decimal
  (`FloatOperation` is trapped).
What orjson refuses (a set, an integer beyond 64 bits, a key that is not a string, a lone
surrogate) goes to the standard encoder, which writes it or raises as it always did.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from eventsourcing.domain import CanSnapshotAggregate
from eventsourcing.persistence import (
    Cipher,
    Compressor,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoder,
)

from domain.core.money import stored_text

OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


class OrjsonTranscoder(JSONTranscoder):
    """The library's JSON transcoder, encoding with orjson; `library` is the same transcoder
    encoding with the standard library (the same registered transcodings)."""

    def __init__(self) -> None:
        super().__init__()
        self.library = JSONTranscoder()
        self.library.types, self.library.names = self.types, self.names

    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, default=self._encode_obj, option=OPTIONS)
        except TypeError:  # orjson.JSONEncodeError: what orjson will not write, as above
            return super().encode(obj)


class LedgerMapper(Mapper[Any]):
    """The library's mapper, except that a snapshot is encoded by the standard library."""

    def __init__(
        self,
        transcoder: Transcoder,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
    ) -> None:
        super().__init__(transcoder, compressor, cipher)
        library = transcoder.library if isinstance(transcoder, OrjsonTranscoder) else transcoder
        self.snapshots = Mapper[Any](library, compressor, cipher)

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        if isinstance(domain_event, CanSnapshotAggregate):
            return self.snapshots.to_stored_event(domain_event)
        return super().to_stored_event(domain_event)


class DecimalAsPlainString(DecimalAsStr):
    """Stored amounts read as written: "0.00000000", never "0E-8" (same name, same decoding)."""

    def encode(self, obj: Decimal) -> str:
        return stored_text(obj)
