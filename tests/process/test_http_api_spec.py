"""The HTTP API over a real uvicorn server: every role boundary, pagination, commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from infrastructure.eventstore.database_url import Database
from tests.support.databases import OnPostgreSQL, OnSQLite
from tests.support.http_server import Server, serving
from tests.support.ledgers import command, open_test_ledger, run
from tests.support.scenarios import three_winners_and_a_crash

ACCOUNT_PATHS = ["/accounts/{a}/balance", "/accounts/{a}/fund-flows", "/cycles/c1/explain/{a}"]
AUDITOR_PATHS = ["/insurance-fund/history", "/audit/verify"]
ALL_PATHS = [*ACCOUNT_PATHS, *AUDITOR_PATHS, "/cycles", "/cycles/c1", "/cycles/c1/participants"]


@pytest.fixture
def server(database: Database) -> Iterator[Server]:
    ledger = open_test_ledger(database.env)
    run(ledger, *three_winners_and_a_crash())
    ledger.close()
    with serving(database, ["W1", "L"]) as started:
        yield started


def deposit(account: str, number: int) -> dict[str, Any]:
    return command("deposit", id=f"http-deposit-{account}-{number}", account=account, amount="1")


class HttpApiSpec:
    def test_no_token_or_a_bad_one_is_401_everywhere(self, server: Server) -> None:
        anonymous = server.client(None)
        for path in ALL_PATHS:
            response = anonymous.get(path.format(a="W1"))
            assert response.status_code == 401, path
            assert response.headers["content-type"] == "application/problem+json"
            bad = anonymous.get(path.format(a="W1"), headers={"Authorization": "Bearer llt_x"})
            assert bad.status_code == 401, path
        assert anonymous.post("/commands", json=deposit("W1", 0)).status_code == 401

    def test_a_trader_reads_its_own_account(self, server: Server) -> None:
        trader = server.client("trader:W1")
        balance = trader.get("/accounts/W1/balance").json()
        assert (balance["cash"], balance["margin"]) == ("900.00000000", "148.00000000")
        flows = trader.get("/accounts/W1/fund-flows").json()["items"]
        assert flows[0]["type"] == "socialized_loss"
        assert flows[0]["amount"] == "-32.00000000"
        explained = trader.get("/cycles/c1/explain/W1").json()
        assert explained["share"] == "32.00000000"

    def test_a_trader_never_reads_another_account_in_any_endpoint(self, server: Server) -> None:
        trader = server.client("trader:W1")
        for path in ACCOUNT_PATHS:
            other = trader.get(path.format(a="W2"))
            missing = trader.get(path.format(a="nobody"))
            assert other.status_code == missing.status_code == 404, path
            assert other.json()["title"] == missing.json()["title"]
        for path in AUDITOR_PATHS:
            assert trader.get(path).status_code == 403, path
        shown = trader.get("/cycles/c1").json()
        assert {p["account"] for p in shown["participants"]} == {"W1"}
        listed = trader.get("/cycles/c1/participants").json()["items"]
        assert {p["account"] for p in listed} == {"W1"}
        every_body = json.dumps([trader.get(p.format(a="W1")).text for p in ALL_PATHS])
        assert "W2" not in every_body and "W3" not in every_body

    def test_an_auditor_reads_everything_and_posts_nothing(self, server: Server) -> None:
        auditor = server.client("auditor")
        for path in ALL_PATHS:
            assert auditor.get(path.format(a="W2")).status_code == 200, path
        assert auditor.get("/audit/verify").json()["ok"] is True
        participants = auditor.get("/cycles/c1/participants").json()["items"]
        assert [p["account"] for p in participants] == ["W1", "W2", "W3"]
        assert auditor.post("/commands", json=deposit("W1", 1)).status_code == 403
        assert (
            server.client("trader:W1").post("/commands", json=deposit("W1", 2)).status_code == 403
        )

    def test_posted_commands_follow_the_semantics_of_apply(self, server: Server) -> None:
        operator, auditor = server.client("operator"), server.client("auditor")
        first = operator.post("/commands", json=deposit("W1", 3))
        assert first.json() == [{"index": 0, "id": "http-deposit-W1-3", "outcome": "applied"}]
        again = operator.post("/commands", json=[deposit("W1", 3)])
        assert again.json()[0]["outcome"] == "already applied"
        events = auditor.get("/audit/verify").json()["events"]
        conflicting = {**deposit("W1", 3), "amount": "2"}
        refused = operator.post("/commands", json=[deposit("W1", 4), conflicting])
        assert refused.status_code == 422
        assert refused.json()["index"] == 1
        assert "different content" in refused.json()["detail"]
        after = auditor.get("/audit/verify").json()["events"]
        assert after > events  # the first command of the batch was applied, as apply does
        numbers = operator.post(
            "/commands", content=b'{"type":"deposit","id":"n","account":"W1","amount":1}'
        )
        assert numbers.status_code == 400
        assert "numbers must be strings" in numbers.json()["detail"]
        assert auditor.get("/audit/verify").json()["events"] == after

    def test_posted_batches_and_bodies_are_bounded_before_anything_is_applied(
        self, server: Server
    ) -> None:
        operator, auditor = server.client("operator"), server.client("auditor")
        events = auditor.get("/audit/verify").json()["events"]
        too_many = operator.post("/commands", json=[deposit("W1", n) for n in range(1001)])
        assert too_many.status_code == 400
        assert "at most 1000 commands, this one 1001" in too_many.json()["detail"]
        empty = operator.post("/commands", json=[])
        assert (empty.status_code, empty.json()["detail"]) == (
            400,
            "a batch holds at least one command",
        )
        huge = operator.post("/commands", content=b" " * 1_000_001)
        assert huge.status_code == 413
        assert "at most 1000000 bytes" in huge.json()["detail"]
        streamed = operator.post("/commands", content=iter([b" " * 600_000, b" " * 600_000]))
        assert streamed.status_code == 413  # no declared length: counted as it arrives
        assert auditor.get("/audit/verify").json()["events"] == events  # nothing was applied

    def test_a_participant_cursor_of_non_ascii_digits_is_a_bad_request(
        self, server: Server
    ) -> None:
        auditor = server.client("auditor")
        for cursor in ("\u00b2", "\u0663", "1\u00b2"):  # digits to str.isdigit(), not cursors
            answer = auditor.get("/cycles/c1/participants", params={"cursor": cursor})
            assert answer.status_code == 400, cursor
            assert "is not a cursor this API gave" in answer.json()["detail"]
        assert auditor.get("/cycles/c1/participants", params={"cursor": "1"}).status_code == 200

    def test_fund_flow_pages_neither_skip_nor_repeat_while_entries_arrive(
        self, server: Server
    ) -> None:
        operator, trader = server.client("operator"), server.client("trader:W1")
        operator.post("/commands", json=[deposit("W1", n) for n in range(10, 30)])
        before = [
            item["id"]
            for item in trader.get("/accounts/W1/fund-flows", params={"limit": 500}).json()["items"]
        ]
        seen: list[str] = []
        cursor = None
        for page in range(100):  # bounded
            params: dict[str, Any] = {"limit": 3}
            if cursor:
                params["cursor"] = cursor
            body = trader.get("/accounts/W1/fund-flows", params=params).json()
            seen += [item["id"] for item in body["items"]]
            operator.post("/commands", json=deposit("W1", 100 + page))  # arrives meanwhile
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen))
        newest_first_start = seen.index(before[0])
        assert seen[newest_first_start:] == before


class TestHttpApiOnSQLite(HttpApiSpec, OnSQLite):
    pass


class TestHttpApiOnPostgreSQL(HttpApiSpec, OnPostgreSQL):
    pass
