"""How the read-model runner reads the log: which events it decodes, and how.

Four things the runner does per event or per batch, each equivalent to the plain way: events no
read model reads are not decoded; an Account event, nine in ten of a log, is read as its stored
state (`StateReader`), the others are decoded with the ledger's own transcodings through a
tighter object hook; and Python's cyclic garbage collector waits while a batch runs.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any, cast

import orjson
from eventsourcing.persistence import DecimalAsStr, JSONTranscoder, Mapper, StoredEvent
from eventsourcing.utils import resolve_topic

from domain.core.encoding import OrjsonTranscoder, may_hold_long_integer
from domain.core.memory import collector_paused
from infrastructure.readmodels.log import LoggedEvent
from projections.fold import UNREAD_TOPICS
from projections.rows import DECIMAL_TAG


@cache
def class_topic(stored_topic: str) -> str:
    """The topic of the class a stored topic resolves to (a renamed topic: its new name)."""
    cls = resolve_topic(stored_topic)
    return f"{cls.__module__}:{cls.__qualname__}"


def is_unread(stored_topic: str) -> bool:
    """Whether no read model reads events of this topic: they are not decoded."""
    return class_topic(stored_topic).startswith(UNREAD_TOPICS)


class ReadingTranscoder(JSONTranscoder):
    """A copy of the ledger's JSON transcoder for reading: the same transcodings, the same
    objects decoded, its object hook one closure where the library's is a method trying three
    lookups (a tenth of a decode; every name it does not know goes to the library's hook)."""

    def __init__(self, source: JSONTranscoder) -> None:
        super().__init__()
        self.names, self.types = dict(source.names), dict(source.types)
        decoders = {name: transcoding.decode for name, transcoding in self.names.items()}
        library_hook = self._decode_obj

        def hook(obj: dict[str, Any]) -> Any:
            if len(obj) == 2 and "_type_" in obj and "_data_" in obj:
                decode = decoders.get(obj["_type_"])
                return library_hook(obj) if decode is None else decode(obj["_data_"])
            return obj

        self.decoder = json.JSONDecoder(object_hook=hook)


# The transcoders whose stored states a ReadingTranscoder decodes as they do: the library's, and
# the ledger's (domain/core/encoding.py), which writes the same bytes.
PLAIN_JSON = (JSONTranscoder, OrjsonTranscoder)


def reading_mapper(mapper: Mapper[Any]) -> Mapper[Any]:
    """The mapper the runner decodes with: the ledger's, with a ReadingTranscoder when the
    events are plain JSON (neither compressed nor encrypted)."""
    transcoder = mapper.transcoder
    if mapper.cipher or mapper.compressor or type(transcoder) not in PLAIN_JSON:
        return mapper
    return Mapper(ReadingTranscoder(cast(JSONTranscoder, transcoder)))


class StateReader:
    """Reads an event as its state: the attributes the mapper would give the event, except
    that each Decimal is left as the transcoder wrote it, {"_type_": "decimal_str", "_data_":
    text}, for the fold to decode (`projections.rows.number`) where it reads an amount.

    The state is orjson's reading of the stored JSON: a fifth of the time the library's
    decoder takes with its object hook, for an event that is mostly amounts the read models
    never read (prices, sizes, the timestamp). The mapper decodes the event instead, and its
    attributes are the state, when the events are compressed or encrypted, when an upcast is
    due (the state was stored by an older version of its class), when orjson cannot read the
    JSON (NaN, a lone surrogate: the library's decoder reads or refuses it, as without this
    reader), and when the JSON may hold an integer beyond 64 bits (orjson reads it as a
    float). `originator_id` and `originator_version` are the notification's, not the state's.
    """

    def __init__(self, mapper: Mapper[Any]) -> None:
        self.mapper = reading_mapper(mapper)
        transcoder = mapper.transcoder
        self.as_stored = (
            self.mapper is not mapper  # plain JSON: reading_mapper replaced the transcoder
            and isinstance(transcoder, JSONTranscoder)
            and getattr(type(transcoder.names.get(DECIMAL_TAG)), "decode", None)
            is DecimalAsStr.decode
        )

    def state(self, stored: StoredEvent | LoggedEvent) -> dict[str, Any]:
        """The event's state (see the class), a new dict of its own: of a stored event, or of
        an event as the runner reads the log."""
        if self.as_stored and not may_hold_long_integer(stored.state):
            try:
                state = orjson.loads(stored.state)
            except orjson.JSONDecodeError:
                state = None
            if type(state) is dict and state.get("class_version", 1) == class_version(stored.topic):
                return state
        event = stored.stored() if isinstance(stored, LoggedEvent) else stored
        state = dict(vars(self.mapper.to_domain_event(event)))
        del state["originator_id"], state["originator_version"]
        return state


@cache
def class_version(stored_topic: str) -> int:
    """The version of the class a stored topic resolves to: a state of another version is
    upcast (or, stored by a newer version, decoded as the mapper decodes it)."""
    return int(getattr(resolve_topic(stored_topic), "class_version", 1))


# the collector held off while a batch is read, applied and written (domain/core/memory.py)
__all__ = ["ReadingTranscoder", "StateReader", "collector_paused", "is_unread", "reading_mapper"]
