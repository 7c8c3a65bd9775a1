"""A real `lossledger serve` process on a free port of this machine, for the HTTP specs."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from infrastructure.entrypoints.http.tokens import create_token
from infrastructure.eventstore.database_url import Database
from infrastructure.readmodels.runner import ReadModels
from tests.support.cli import LOSSLEDGER
from tests.support.ledgers import open_test_ledger


@dataclass(frozen=True)
class Server:
    url: str
    tokens: dict[str, str]  # "operator", "auditor", "trader:W1", ...

    def client(self, who: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(database: Database, traders: list[str]) -> Iterator[Server]:
    """Start the server over `database`, with one token per role and per trader."""
    ledger = open_test_ledger(database.env)
    models = ReadModels(ledger, database)
    tokens = {role: create_token(models.engine, role, None) for role in ("operator", "auditor")}
    tokens |= {f"trader:{a}": create_token(models.engine, "trader", a) for a in traders}
    models.dispose()
    ledger.close()
    port = free_port()
    process = subprocess.Popen(
        [LOSSLEDGER, "serve", "--port", str(port), "--db", database.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # bounded: 30 s at most
            try:
                if httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("the server did not start")
        yield Server(url, tokens)
    finally:
        process.terminate()
        process.wait(timeout=30)
