"""The event store's JSON, written by orjson: the library's format, byte for byte.

eventsourcing's `JSONTranscoder` writes a state with the standard library's encoder: compact
separators, no ASCII escaping, and each value of a registered type (a decimal, a datetime) as
{"_type_": name, "_data_": text} through its `default`. A settlement's chunk events hold a
million rows, and that encoder is a quarter of their save. `OrjsonTranscoder.encode` writes the
same bytes with orjson: the same separators and key order, UTF-8 unescaped, and the registered
types through the same `default` (orjson is told to pass datetimes and subclasses of the
built-in types to it, as the standard encoder does).

Decoding is the library's, except for an event class marked `flat_state` (a settlement's chunk
events, whose rows are plain numbers and strings): its state, whose only transcoded values are
its own top-level fields, is read by orjson and those fields decoded one by one. A state that
holds a transcoded value anywhere else (`"_type_"` appears more often than at the top), a run of
19 digits (orjson reads an integer beyond 64 bits as a float, the library as the integer), or
that orjson will not read, is decoded the library's way.

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

from collections.abc import Callable, Hashable
from decimal import Decimal
from typing import Any, cast

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
    Transcoding,
    find_id_convertor,
)
from eventsourcing.utils import resolve_topic

from domain.core.money import stored_text

# Nineteen digits in a row: perhaps an integer beyond 64 bits, which orjson reads as a float
# where the library's JSON decoder reads an int (a run inside a string is counted too). Found
# with every digit made a "9" and every other byte a space: a tenth of a regular expression's
# time, which tries a match at every byte.
DIGITS_AS_NINES = bytes(ord("9") if b"0"[0] <= byte <= b"9"[0] else ord(" ") for byte in range(256))
LONG_DIGITS = b"9" * 19


def may_hold_long_integer(stored_state: bytes) -> bool:
    """Whether a stored state has a run of 19 digits, which orjson may not read as written."""
    return LONG_DIGITS in stored_state.translate(DIGITS_AS_NINES)


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
        self._default: Callable[[Any], Any] = self._encode_obj

    def register(self, transcoding: Transcoding) -> None:
        """As the library registers it; a transcoding of `Decimal`, the type of most values an
        event holds, is called straight from orjson's default (a fifth of an event's encoding
        went to the library's lookup of it)."""
        super().register(transcoding)
        if transcoding.type is Decimal:
            name, encode, library = transcoding.name, transcoding.encode, self._encode_obj

            def default(value: Any) -> Any:
                if value.__class__ is Decimal:
                    return {"_type_": name, "_data_": encode(value)}
                return library(value)

            self._default = default

    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, default=self._default, option=OPTIONS)
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

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        cls = resolve_topic(stored_event.topic)
        if getattr(cls, "flat_state", False) and not self.cipher and not self.compressor:
            event_state = self._flat_state(stored_event.state)
            if event_state is not None:
                return _domain_event(cls, stored_event, event_state)
        return super().to_domain_event(stored_event)

    def _flat_state(self, stored_state: bytes) -> dict[str, Any] | None:
        """A flat state read by orjson, its top-level transcoded values decoded; None when it
        holds one anywhere else, or orjson cannot read it (the library decodes it then)."""
        transcoder = self.transcoder
        if not isinstance(transcoder, JSONTranscoder):
            return None
        if may_hold_long_integer(stored_state):
            return None
        try:
            state = orjson.loads(stored_state)
        except orjson.JSONDecodeError:
            return None
        if state.__class__ is not dict:
            return None
        decoded = 0
        for key, value in state.items():
            if value.__class__ is dict:
                if len(value) != 2 or "_type_" not in value or "_data_" not in value:
                    return None
                state[key] = transcoder._decode_obj(value)  # the library's own hook
                decoded += 1
        return state if stored_state.count(b'"_type_"') == decoded else None


def _domain_event(cls: type, stored_event: StoredEvent, event_state: dict[str, Any]) -> Any:
    """The event of a decoded state, as the library's `Mapper.to_domain_event` makes it: the
    originator id converted to the class's id type, and the state upcast to its class version."""
    convert = find_id_convertor(cls, cast(Hashable, type(stored_event.originator_id)))
    event_state["originator_id"] = convert(stored_event.originator_id)
    event_state["originator_version"] = stored_event.originator_version
    class_version = getattr(cls, "class_version", 1)
    from_version = event_state.pop("class_version", 1)
    while from_version < class_version:
        getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(event_state)
        from_version += 1
    domain_event: Any = object.__new__(cls)
    object.__setattr__(domain_event, "__dict__", event_state)
    return domain_event


class DecimalAsPlainString(DecimalAsStr):
    """Stored amounts read as written: "0.00000000", never "0E-8" (same name, same decoding)."""

    def encode(self, obj: Decimal) -> str:
        return stored_text(obj)
