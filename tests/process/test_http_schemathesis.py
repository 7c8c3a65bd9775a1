"""A schemathesis run over /openapi.json against the real server: no server error anywhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from infrastructure.eventstore.database_url import Database
from tests.support.http_server import serving
from tests.support.ledgers import open_test_ledger, run
from tests.support.scenarios import three_winners_and_a_crash

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")


@pytest.mark.parametrize("role", ["operator", "trader:W1"])
def test_no_generated_request_makes_a_server_error(database: Database, role: str) -> None:
    ledger = open_test_ledger(database.env)
    run(ledger, *three_winners_and_a_crash())
    ledger.close()
    with serving(database, ["W1"]) as server:
        result = subprocess.run(
            [
                SCHEMATHESIS,
                "run",
                f"{server.url}/openapi.json",
                "-H",
                f"Authorization: Bearer {server.tokens[role]}",
                "--checks",
                "not_a_server_error",
                "-n",
                "30",
                "--generation-deterministic",
                "--request-timeout",
                "20",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
