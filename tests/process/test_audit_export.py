"""`audit export`: the files an auditor receives, and the report rendered in a real browser."""

from __future__ import annotations

import base64
import csv
import json
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from infrastructure.eventstore.chain import link
from tests.support.cli import applied_by_cli, lossledger
from tests.support.ledgers import command
from tests.support.scenarios import three_winners_and_a_crash


def exported(tmp_path: Path) -> Path:
    db = tmp_path / "ledger.db"
    documents = [
        *three_winners_and_a_crash(),
        command("refund_cycle", cycle="c1", amount="8", reason="recovered"),
    ]
    applied_by_cli(documents, tmp_path, db)
    out = tmp_path / "export"
    result = lossledger("audit", "export", "c1", "--out", str(out), db=db)
    assert result.returncode == 0, result.stderr
    return out


def test_the_export_holds_participants_postings_and_events(tmp_path: Path) -> None:
    out = exported(tmp_path)
    participants = json.loads((out / "participants.json").read_text())
    assert [(p["account"], p["share"]) for p in participants] == [
        ("W1", "32.00000000"),
        ("W2", "24.00000000"),
        ("W3", "24.00000000"),
    ]
    with (out / "participants.csv").open() as handle:
        assert [row["share"] for row in csv.DictReader(handle)] == [
            "32.00000000",
            "24.00000000",
            "24.00000000",
        ]
    postings = json.loads((out / "postings.json").read_text())
    shares = sum(Decimal(p["amount"]) for p in postings if p["kind"] == "socialized_loss")
    refunds = sum(Decimal(p["amount"]) for p in postings if p["kind"] == "refund")
    assert (shares, refunds) == (Decimal(80), Decimal(8))
    types = {event["type"] for event in json.loads((out / "events.json").read_text())}
    assert {
        "Cycle.TakeoverExecuted",
        "Cycle.LossShared",
        "InsuranceFund.FundDrawn",
        "Cycle.Settled",
        "Cycle.Refunded",
        "Account.RefundReceived",
    } <= types


def test_the_chain_segment_re_verifies_offline_up_to_the_anchor(tmp_path: Path) -> None:
    chain = json.loads((exported(tmp_path) / "chain.json").read_text())
    previous = bytes.fromhex(chain["previous_chain_hash"])
    for entry in chain["segment"]:
        event = StoredEvent(
            UUID(entry["originator_id"]),
            entry["originator_version"],
            entry["topic"],
            base64.b64decode(entry["state_base64"]),
        )
        previous = link(previous, entry["position"], event)
        assert previous.hex() == entry["chain_hash"]
        if entry["position"] == chain["anchor"]["position"]:
            assert previous.hex() == chain["anchor"]["hash"]
    assert chain["segment"][-1]["topic"] == "domain.cycles:Cycle.Settled"


def test_the_report_renders_its_charts_in_headless_chromium(tmp_path: Path) -> None:
    report = exported(tmp_path) / "report.html"
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed: `make test` installs it"
    profile = tmp_path / "profile"
    flags = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    dom = subprocess.run(
        [*flags, "--virtual-time-budget=5000", "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout
    assert 'data-rendered="yes"' in dom, "the report's script ran"
    for step in ("deficit", "fund", "shared", "uncovered"):
        assert f'data-step="{step}"' in dom
    assert dom.count("data-rank=") == 3
    screenshot = tmp_path / "report.png"
    subprocess.run(
        [*flags, "--window-size=1100,1400", f"--screenshot={screenshot}", report.as_uri()],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert screenshot.stat().st_size > 10_000, "a rendered page, not a blank one"
