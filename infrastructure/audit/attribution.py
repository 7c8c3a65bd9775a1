"""`verify`'s check that every event was produced by an accepted command.

Each chain row names the command whose save wrote its event, and each accepted command's row
counts the events it produced (docs/audit-format.md). From the first event that names a
command on, every event must name one, every command named must be stored, and the commands'
counts must add up to the events that name them: an event appended without a command (or
under a command that does not count it) is reported with its position. A store written
before events named their command is checked from its first attributed event on. The chain
hash does not cover the command column: like the chain itself, attribution is consistent
under a rewrite by someone with write access, which only an anchor kept outside the store
can reveal.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from infrastructure.eventstore.chain import AttributionCounts


@runtime_checkable
class AttributingRecorder(Protocol):
    def attribution_counts(self, start: int) -> AttributionCounts: ...
    def first_unknown_command(self, start: int) -> int | None: ...
    def first_miscounted(self, start: int) -> int | None: ...


def attribution_problem(recorder: Any, start: int = 1) -> tuple[int, str] | None:
    """The first position, from `start` on, whose event no accepted command accounts for,
    and why; None when every event is accounted for (or the store keeps no command rows)."""
    if not isinstance(recorder, AttributingRecorder):
        return None
    counts = recorder.attribution_counts(start)
    if counts.first_attributed is None:
        return None  # written before events named their command
    found: list[tuple[int, str]] = []
    if counts.first_unattributed is not None:
        found.append(
            (
                counts.first_unattributed,
                "the event names no command: no accepted command produced it",
            )
        )
    if counts.attributed_events != counts.counted_events:
        unknown = recorder.first_unknown_command(start)
        if unknown is not None:
            found.append(
                (unknown, "the event names a command that is not among the accepted commands")
            )
        else:
            position = recorder.first_miscounted(start)
            reason = (
                f"{counts.attributed_events} events name a command, the accepted commands "
                f"produced {counts.counted_events}: the event's command does not count it"
            )
            if position is not None:
                found.append((position, reason))
            elif start == 1:  # a command's events gone with their chain rows: none to name
                found.append((counts.first_attributed, reason))
            # else the events miscounted all lie before `start`: taken as verified before
    return min(found) if found else None
