"""How the read-model runner reads the log: which events it decodes, and how.

Three things the runner does per event or per batch, each equivalent to the plain way: events no
read model reads are not decoded; the others are decoded with the ledger's own transcodings
through a tighter object hook; and Python's cyclic garbage collector waits while a batch runs.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any, cast

from eventsourcing.persistence import JSONTranscoder, Mapper
from eventsourcing.utils import resolve_topic

from domain.core.encoding import OrjsonTranscoder
from domain.core.memory import collector_paused
from projections.fold import UNREAD_TOPICS


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


# the collector held off while a batch is read, applied and written (domain/core/memory.py)
__all__ = ["ReadingTranscoder", "collector_paused", "is_unread", "reading_mapper"]
