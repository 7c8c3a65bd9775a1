"""Bearer tokens of the HTTP API: printed once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Engine, insert, select

from domain.core.errors import LedgerError
from infrastructure.readmodels.tables import tokens

Role = Literal["trader", "auditor", "operator"]
ROLES: tuple[Role, ...] = ("trader", "auditor", "operator")
PREFIX = "llt_"


class TokenError(LedgerError):
    """Raised when a token is asked for with a role or an account that does not fit."""


@dataclass(frozen=True)
class Principal:
    role: Role
    account: str | None

    def may_read(self, account: str) -> bool:
        return self.role != "trader" or self.account == account


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(engine: Engine, role: str, account: str | None) -> str:
    if role not in ROLES:
        raise TokenError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if (role == "trader") != (account is not None):
        raise TokenError("a trader token names its --account; other roles name none")
    token = PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as connection:
        connection.execute(
            insert(tokens).values(
                token_hash=_hash(token),
                role=role,
                account=account,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
        )
    return token


def principal_for(engine: Engine, token: str) -> Principal | None:
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    with engine.connect() as connection:
        row = connection.execute(
            select(tokens.c.role, tokens.c.account).where(tokens.c.token_hash == _hash(token))
        ).first()
    return None if row is None else Principal(row.role, row.account)
