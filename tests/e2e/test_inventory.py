"""The emergency-material ledger end to end (issue 5): CLI -> ers.inventory -> worker -> SQL ledger."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from schemas import InventoryMovement, encode
from tests.integration.harness import TopicReader, WorkerProcess, send

pytestmark = pytest.mark.integration
MATERIALS_OFFICER = "+8613800000009"  # plans/arxan-roster.yaml: feng_li


@pytest.fixture(scope="module")
def worker(broker: str, twilio_api, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    process = WorkerProcess(broker, tmp_path_factory.mktemp("worker"), twilio_api).start()
    yield process
    process.stop()


def ers(worker: WorkerProcess, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], env=worker.env, cwd=worker.workdir,
                          capture_output=True, text=True, timeout=120)


def stock_of(worker: WorkerProcess, depot: str, item: str) -> float:
    result = ers(worker, "inventory", "stock", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["stock"]
    return sum(r["on_hand"] for r in rows if r["depot"] == depot and r["item"] == item)


def test_receive_dispatch_and_a_refused_dispatch(worker: WorkerProcess, twilio_api, broker: str) -> None:
    received = ers(worker, "inventory", "receive", "--depot", "yirshi", "--item", "activated_carbon",
                   "--quantity", "3", "--expires", "2030-06-30")
    assert received.returncode == 0, received.stderr
    assert stock_of(worker, "yirshi", "activated_carbon") == 3

    dispatched = ers(worker, "inventory", "dispatch", "--depot", "yirshi", "--item", "activated_carbon",
                     "--quantity", "1", "--reason", "drill")
    assert dispatched.returncode == 0, dispatched.stderr
    assert stock_of(worker, "yirshi", "activated_carbon") == 2

    too_much = ers(worker, "inventory", "dispatch", "--depot", "yirshi", "--item", "activated_carbon",
                   "--quantity", "5")
    assert too_much.returncode == 1 and "refused" in too_much.stderr, too_much.stderr
    assert stock_of(worker, "yirshi", "activated_carbon") == 2
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not [m for m in twilio_api.messages if m.to == MATERIALS_OFFICER]:
        time.sleep(0.2)
    notice = [m for m in twilio_api.messages if m.to == MATERIALS_OFFICER]
    assert notice and "【物资】" in notice[0].body and "伊尔施" in notice[0].body, notice


def test_a_redelivered_movement_changes_nothing(worker: WorkerProcess, broker: str) -> None:
    import datetime as dt

    movement = InventoryMovement(kind="receipt", depot_id="bailang", item_id="sandbags", quantity=100, unit="个",
                                 occurred_at=dt.datetime.now(dt.timezone.utc))
    for _ in range(3):
        send(broker, worker.topic("inventory"), encode(movement), key="bailang")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and stock_of(worker, "bailang", "sandbags") < 100:
        time.sleep(0.3)
    time.sleep(2)
    assert stock_of(worker, "bailang", "sandbags") == 100


def test_bad_names_and_units_are_refused_before_sending(worker: WorkerProcess) -> None:
    unknown_item = ers(worker, "inventory", "receive", "--depot", "yirshi", "--item", "charcoal", "--quantity", "1")
    assert unknown_item.returncode == 2 and "unknown item 'charcoal'" in unknown_item.stderr
    unknown_depot = ers(worker, "inventory", "receive", "--depot", "moon", "--item", "pac", "--quantity", "1")
    assert unknown_depot.returncode == 2 and "unknown depot 'moon'" in unknown_depot.stderr
    wrong_unit = ers(worker, "inventory", "receive", "--depot", "yirshi", "--item", "pac", "--quantity", "1",
                     "--unit", "kg")
    assert wrong_unit.returncode == 2 and "expected 't'" in wrong_unit.stderr


def test_coverage_report_on_the_arxan_data(worker: WorkerProcess, tmp_path) -> None:
    result = ers(worker, "inventory", "coverage", "--json", "--png", str(tmp_path / "map.png"))
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert report["covered"] is (result.returncode == 0)
    sources = {e["source_id"] for e in report["items"]}
    assert {"halaha_dashankuang", "tailings_example", "yirshi_wwtp_outfall"} <= sources
    carbon = [e for e in report["items"] if e["source_id"] == "yirshi_wwtp_outfall" and e["item_id"] == "activated_carbon"]
    assert carbon and carbon[0]["in_window"] == 2  # the 2 t left at Yirshi after the dispatches above
    assert (tmp_path / "map.png").stat().st_size > 10_000


def test_an_orange_incident_gets_a_materials_proposal_that_can_be_confirmed(
        worker: WorkerProcess, twilio_api, broker: str) -> None:
    import datetime as dt

    received = ers(worker, "inventory", "receive", "--depot", "yirshi", "--item", "quicklime", "--quantity", "25")
    assert received.returncode == 0, received.stderr
    incidents = TopicReader(broker, worker.topic("incidents"))
    reading = {"station_id": "tailings_example_online", "observed_at": dt.datetime.now(dt.timezone.utc).isoformat(),
               "measurements": [{"parameter": "phreatic_depth", "value": 4.2, "unit": "m"}]}  # < 4.4 m: orange
    send(broker, worker.topic("readings"), reading, key="tailings_example_online")
    records = incidents.wait_for(lambda rs: any(r["type"] == "incident.opened" and r["source_id"] == "tailings_example"
                                                for r in rs), timeout=10)
    opened = next(r for r in records if r["type"] == "incident.opened" and r["source_id"] == "tailings_example")
    assert opened["level"] == "orange"
    proposal = opened["materials"]
    lime = [a for a in proposal["allocations"] if a["item_id"] == "quicklime"]
    assert lime == [{"item_id": "quicklime", "depot_id": "yirshi", "quantity": 20.0, "unit": "t",
                     "arrival_minutes": lime[0]["arrival_minutes"], "in_window": True}]
    assert proposal["missing"].get("pumps") == 6  # nobody holds pumps
    assert proposal["line"].startswith("物资:")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not [m for m in twilio_api.messages if opened["code"] in m.body]:
        time.sleep(0.2)
    pages = [m for m in twilio_api.messages if opened["code"] in m.body]
    assert pages and any("物资" in m.body for m in pages), [m.body for m in pages]

    confirmed = ers(worker, "inventory", "confirm", opened["code"])
    assert confirmed.returncode == 0, confirmed.stderr
    assert stock_of(worker, "yirshi", "quicklime") == 5
    again = ers(worker, "inventory", "confirm", opened["code"])  # the same dispatches: recorded once
    assert again.returncode == 0, again.stderr
    assert stock_of(worker, "yirshi", "quicklime") == 5
