"""Drills end to end (issue 6): the shipped scenarios replayed through real drill workers on the real broker.

A production worker runs beside the drills the whole time, on its own topics, database and SMS sandbox: after
every drill, nothing of it has changed. Golden reports live in tests/e2e/golden/ (regenerate with
ERS_UPDATE_GOLDEN=1 after a deliberate change, and read the diff).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from contingency import load_plan
from contingency.drill_log import parse_drill_log, read_lines
from contingency.drill_report import DrillReport, comparable
from contingency.drill_steps import log_digest
from contingency.roster import load_roster
from handlers.database import make_engine, migrate
from handlers.inventory_store import InventoryStore
from handlers.twilio_local import LocalTwilioApi, fake_account_sid, fake_auth_token
from schemas import InventoryMovement
from streams.config import Settings
from streams.drill_run import DrillOptions, DrillRunner
from streams.topics import Topics
from tests.integration.harness import DEFAULT_PLAN, DEFAULT_ROSTER, REPO, TopicReader, WorkerProcess, send

pytestmark = pytest.mark.integration
GOLDEN = Path(__file__).parent / "golden"
DRILLS = REPO / "drills"
PLAN = load_plan(DEFAULT_PLAN)
ROSTER = load_roster(DEFAULT_ROSTER, PLAN)
DRILL_PHONES = {d.phone for d in ROSTER.drill_phones.values()}
PEOPLE_PHONES = {p.phone for p in ROSTER.people.values()}
STOCK = [("yirshi", "oil_boom", 400, "m"), ("yirshi", "oil_absorbent_pad", 300, "kg"), ("yirshi", "sandbags", 500, "个"),
         ("yirshi", "quicklime", 25, "t"), ("yirshi", "activated_carbon", 2, "t"),
         ("city_centre", "oil_boom", 300, "m"), ("city_centre", "oil_absorbent_pad", 200, "kg"),
         ("city_centre", "activated_carbon", 9, "t"), ("city_centre", "ppe", 30, "套")]


@pytest.fixture(scope="module")
def production(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """A production worker with stock in its ledger and its own SMS sandbox, running beside the drills."""
    workdir = tmp_path_factory.mktemp("production")
    with LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid()) as sms:
        worker = WorkerProcess(broker, workdir, sms)
        url = worker.env["ERS_DATABASE_URL"]
        migrate(url)
        store = InventoryStore(make_engine(url))
        store.sync_catalogue(PLAN)
        for depot, item, quantity, unit in STOCK:
            store.record(InventoryMovement(event_id=uuid.uuid4(), kind="receipt", depot_id=depot, item_id=item,
                                           quantity=quantity, unit=unit, occurred_at=dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)))
        worker.sms = sms  # type: ignore[attr-defined]
        worker.start()
        yield worker
        worker.stop()


def drill_settings(production: WorkerProcess, broker: str, data_dir: Path, **extra: object) -> Settings:
    return Settings(broker=broker, plan=DEFAULT_PLAN, roster=DEFAULT_ROSTER, roads=REPO / "plans" / "arxan-roads.geojson",
                    database_url=production.env["ERS_DATABASE_URL"], data_dir=data_dir, **extra)


def run(production: WorkerProcess, broker: str, data_dir: Path, name: str, speed: float | None,
        live_roster: bool = False, lines: list[str] | None = None, **settings: object) -> DrillRunner:
    lines = lines if lines is not None else read_lines(DRILLS / name)
    log = parse_drill_log(lines, name, PLAN)
    runner = DrillRunner(drill_settings(production, broker, data_dir, **settings), PLAN, ROSTER, log, log_digest(lines),
                         f"{Path(name).stem}-{'max' if speed is None else int(speed)}-{uuid.uuid4().hex[:4]}",
                         DrillOptions(speed=speed, tick=dt.timedelta(minutes=1), live_roster=live_roster))
    runner.result = runner.run()  # type: ignore[attr-defined]
    return runner


def production_snapshot(production: WorkerProcess, broker: str) -> dict[str, object]:
    consumer = KafkaConsumer(bootstrap_servers=broker)
    try:
        topics = Topics(production.env["ERS_TOPIC_PREFIX"], 4)
        ticking = {topics.ticks, topics.clock}  # production's own clock keeps ticking
        tps = [TopicPartition(s.name, p) for s in topics.specs() if s.name not in ticking for p in range(s.partitions)]
        ends = {f"{tp.topic}[{tp.partition}]": offset for tp, offset in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()
    store = InventoryStore(make_engine(production.env["ERS_DATABASE_URL"]))
    return {"topics": ends, "movements": [m.event_id for m in store.movements()],
            "sms": len(production.sms.messages)}  # type: ignore[attr-defined]


def drill_notifications(broker: str, runner: DrillRunner) -> list[dict]:
    reader = TopicReader(broker, runner.topics.notifications)
    try:
        return reader.settle(1.5)
    finally:
        reader.close()


def check_golden(name: str, report: DrillReport) -> None:
    path = GOLDEN / (Path(name).stem + ".json")
    actual = comparable(report)
    if os.environ.get("ERS_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(actual, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    assert actual == json.loads(path.read_text(encoding="utf-8")), f"report differs from {path}"


def levels(report: DrillReport, source: str) -> list[list[str]]:
    return [[step.level for step in i.levels] for i in report.incidents if i.source_id == source]


@pytest.mark.parametrize("name", ["tailings-seepage.jsonl", "drinking-water-ammonia.jsonl", "diesel-tanker.jsonl"])
def test_scenario_gives_the_golden_report_at_max_and_at_600x(name: str, production: WorkerProcess, broker: str,
                                                              tmp_path: Path) -> None:
    before = production_snapshot(production, broker)
    fast = run(production, broker, tmp_path, name, None)
    paced = run(production, broker, tmp_path, name, 600.0)
    report, other = fast.result.report, paced.result.report
    assert not report.partial and not fast.result.skipped
    assert comparable(report) == comparable(other), "the same log must give the same report at any speed"
    check_golden(name, report)
    # never a person's phone, always the drill prefix
    for runner in (fast, paced):
        notes = drill_notifications(broker, runner)
        assert notes and all(n["to"] in DRILL_PHONES and n["to"] not in PEOPLE_PHONES for n in notes)
        assert all(n["body"].startswith("【演练】") and n["drill_id"] == runner.drill_id for n in notes)
    assert production_snapshot(production, broker) == before, "a drill touched production"

    if name == "tailings-seepage.jsonl":
        [incident] = report.incidents
        assert levels(report, "tailings_example") == [["yellow", "orange", "red"]]
        assert incident.acknowledged_by == "qian_xiaomei" and incident.acknowledged_at.startswith("2026-07-22T07:08")
        assert [e.roles for e in incident.escalations] == [["deputy_director"]]
        assert incident.materials is not None and incident.materials.allocations, "orange brings a proposal"
    elif name == "drinking-water-ammonia.jsonl":
        by_rule = {i.rule_id: i for i in report.incidents}
        assert set(by_rule) == {"drinking_nh3_over_iii", "drinking_nh3_sustained", "water_station_silent"}
        first = by_rule["drinking_nh3_over_iii"]
        assert [s.level for s in first.levels][:2] == ["yellow", "orange"] and first.resolved_by == "qian_xiaomei"
        assert first.opened_at.startswith("2026-08-12T10:40"), "calibration readings (flag C) opened nothing"
        assert by_rule["drinking_nh3_sustained"].acknowledged_at is None and by_rule["drinking_nh3_sustained"].escalations
        assert by_rule["water_station_silent"].opened_at.startswith("2026-08-12T21:3")
    else:
        by_rule = {i.rule_id: i for i in report.incidents}
        assert set(by_rule) == {"public_report", "section_codmn_over_iii"}
        spill = by_rule["public_report"]
        assert spill.opened_at.startswith("2026-09-16T14:05") and spill.escalations
        assert spill.acknowledged_by == "zhao_lei" and spill.resolved_by == "zhao_lei"
        drill_stock = InventoryStore(make_engine(f"sqlite:///{fast.workdir / 'ers.db'}"))
        dispatched = [m for m in drill_stock.movements() if m.kind == "dispatch"]
        assert {(m.depot_id, m.item_id, m.quantity) for m in dispatched} >= {("yirshi", "oil_boom", 300),
                                                                           ("city_centre", "oil_boom", 200)}
        assert all(m.drill_id == fast.drill_id for m in dispatched)


def test_live_roster_pages_people_with_the_drill_prefix(production: WorkerProcess, broker: str,
                                                        tmp_path: Path) -> None:
    lines = read_lines(DRILLS / "tailings-seepage.jsonl")[:16]  # up to the first SMS (06:45)
    sms = production.sms  # type: ignore[attr-defined]
    runner = run(production, broker, tmp_path, "tailings-seepage.jsonl", None, live_roster=True, lines=lines,
                 twilio_account_sid=sms.account_sid, twilio_auth_token=sms.auth_token, twilio_from="+15005550006",
                 twilio_api_base=sms.url)
    notes = drill_notifications(broker, runner)
    assert notes and all(n["to"] in PEOPLE_PHONES for n in notes)
    assert all(n["body"].startswith("【演练】") for n in notes)
    drill_sms = [m for m in sms.messages if m.body.startswith("【演练】")]
    assert {m.to for m in drill_sms} == {n["to"] for n in notes}
