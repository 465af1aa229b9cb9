"""The Arxan plan through the real broker (issue 3): opened, level raised, folded downstream; and a
worker killed mid-sequence and restarted gives exactly the same incident events."""
from __future__ import annotations

import datetime as dt
import signal
import uuid
from collections.abc import Iterator

import pytest

from contingency import IncidentBook, evaluate, load_plan, on_detection
from schemas import StationReport, encode
from tests.integration.harness import DEFAULT_PLAN, TopicReader, WorkerProcess, send

pytestmark = pytest.mark.integration


def sequence() -> list[StationReport]:
    base = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=30)  # all in the past

    def report(minutes: int, station: str, parameter: str, value: float, unit: str) -> StationReport:
        return StationReport(event_id=uuid.uuid4(), station_id=station, observed_at=base + dt.timedelta(minutes=minutes),
                             measurements=[{"parameter": parameter, "value": value, "unit": unit}])

    return [
        report(0, "tailings_example_online", "seepage_flow", 7.5, "L/s"),        # 渗流量 > 5 L/s: yellow, opens
        report(10, "tailings_example_online", "phreatic_depth", 4.2, "m"),       # 浸润线埋深 < 4.4 m: orange, raises
        report(20, "hlh_dsk_auto", "ammonia_nitrogen", 1.4, "mg/L"),             # downstream > III: folded, raises
    ]


def expected_events(reports: list[StationReport]) -> list[dict]:
    """The same reports through the pure domain, in process: what the pipeline must publish."""
    plan = load_plan(DEFAULT_PLAN)
    states: dict = {}
    book = IncidentBook()
    events = []
    for report in reports:
        states[report.station_id], detections = evaluate(plan, states.get(report.station_id), report,
                                                         report.observed_at)
        for detection in detections:
            book, produced = on_detection(plan, book, detection, report.observed_at)
            events += produced
    return [e.model_dump(mode="json") for e in events]


def incident_view(records: list[dict]) -> list[tuple]:
    return [(r["type"], r["incident_id"], r["source_id"], r.get("level")) for r in records]


@pytest.fixture
def worker(broker: str, twilio_api, tmp_path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(broker, tmp_path, twilio_api)
    yield process
    process.stop()


def wait_for_count(reader: TopicReader, count: int, timeout: float = 15) -> list[dict]:
    return reader.wait_for(lambda rs: len({r["event_id"] for r in rs}) >= count, timeout)


def unique(records: list[dict]) -> list[dict]:
    seen: dict[str, dict] = {}
    for record in records:
        assert seen.setdefault(record["event_id"], record) == record, "same event id, different content"
    return list(seen.values())


def test_opened_raised_and_folded_downstream(broker: str, worker: WorkerProcess) -> None:
    reports = sequence()
    expected = expected_events(reports)
    assert [(e["type"], e.get("level")) for e in expected] == [
        ("incident.opened", "yellow"), ("incident.updated", "orange"), ("incident.updated", "red")]
    assert len({e["incident_id"] for e in expected}) == 1, "the downstream exceedance is folded, not a new incident"

    worker.start()
    incidents = TopicReader(broker, worker.topic("incidents"))
    for report in reports:
        send(broker, worker.topic("readings"), encode(report), key=report.station_id)
    published = unique(wait_for_count(incidents, len(expected)))
    incidents.settle(3)
    assert incident_view(unique(incidents.records)) == incident_view(expected)
    assert [r["event_id"] for r in published] == [e["event_id"] for e in expected]


def test_a_worker_killed_mid_sequence_gives_the_same_events(broker: str, worker: WorkerProcess) -> None:
    reports = sequence()
    expected = expected_events(reports)
    worker.start()
    incidents = TopicReader(broker, worker.topic("incidents"))
    readings = worker.topic("readings")

    send(broker, readings, encode(reports[0]), key=reports[0].station_id)
    wait_for_count(incidents, 1)
    send(broker, readings, encode(reports[1]), key=reports[1].station_id)
    worker.kill(signal.SIGKILL)           # somewhere between reading, state write, output and commit
    worker.start()
    # The readings are minutes apart in reality; readings of two stations sent at the same instant
    # may be evaluated in either order (they live in different partitions), so keep the sequence.
    # The killed member holds its partitions until its 10 s session expires; on a loaded machine the
    # rebalance and table recovery that follow take a while longer.
    wait_for_count(incidents, 2, timeout=60)
    send(broker, readings, encode(reports[2]), key=reports[2].station_id)

    wait_for_count(incidents, len(expected))
    incidents.settle(3)
    assert incident_view(unique(incidents.records)) == incident_view(expected)


def test_the_initial_report_an_incident_owes_is_drafted_from_the_read_model(broker: str, worker: WorkerProcess) -> None:
    """`ers incidents --report CODE` (issue 15 item 1): the tailings incident, raised to red (grade I), owes its
    initial report within 2 hours to the city government, the region's department and the ministry."""
    import subprocess
    import sys
    import time

    worker.start()
    incidents = TopicReader(broker, worker.topic("incidents"))
    for report in sequence():
        send(broker, worker.topic("readings"), encode(report), key=report.station_id)
    records = wait_for_count(incidents, 3)
    code = next(r["code"] for r in records if r["type"] == "incident.opened")
    deadline, out = time.monotonic() + 30, None
    while time.monotonic() < deadline:
        out = subprocess.run([sys.executable, "-m", "streams.cli", "incidents", "--report", code], env=worker.env,
                             capture_output=True, text=True, timeout=60)
        if out.returncode == 0 and "红色预警" in out.stdout:
            break
        time.sleep(1)
    assert out is not None and out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("初报: 未报, 时限") and lines[2] == "处理结果报告: 事件处理完毕(解除)后报送"
    lines = lines[lines.index(f"突发环境事件信息初报(草稿) 编号{code}"):]
    # opened yellow (grade III: the city and the League bureau), raised to red: the bodies of both grades, and the
    # deadline of the stricter one, counted from the raise
    assert lines[1].startswith("报送: 阿尔山市人民政府总值班室、兴安盟生态环境局、内蒙古自治区生态环境厅应急值班室、生态环境部; 时限: ")
    assert "(120分钟内)" in lines[1]
    # the read model holds the latest evidence: the ammonia folded in from the Halaha section downstream
    assert any(line.startswith("七、监测数据: 氨氮 1.4 mg/L") for line in lines), lines[6:10]
    assert any(line.startswith("五、基本过程: ") and "现为红色预警" in line for line in lines), lines[6:10]
    unknown = subprocess.run([sys.executable, "-m", "streams.cli", "incidents", "--report", "ZZZ"], env=worker.env,
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode != 0 and "no incident ZZZ" in unknown.stderr
