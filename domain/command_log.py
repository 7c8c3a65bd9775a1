"""The record of every accepted command: what makes `apply` idempotent by id."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.core.ids import command_id


class CommandRecord(Aggregate):
    """One per command id, created in the same atomic save as the command's events."""

    @staticmethod
    def create_id(command: str, **_: Any) -> UUID:
        return command_id(command)

    @event("Accepted")
    def __init__(self, command: str, command_type: str, content: str, content_hash: str) -> None:
        self.command = command
        self.command_type = command_type
        self.content_hash = content_hash
