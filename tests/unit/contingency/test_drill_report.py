"""The drill report: every field from a hand-made event sequence, determinism, the partial flag."""
from __future__ import annotations

import datetime as dt
import json
import random
import uuid

import pytest

from contingency.drill_report import DrillReport, build_report, comparable
from contingency.phones import mask as mask_phone
from contingency_helpers import T0, minutes
from schemas.incidents import (IncidentAcknowledged, IncidentEscalated, IncidentOpened, IncidentResolved,
                               IncidentUpdated, MaterialsAllocation, MaterialsProposal, WarningLevel)
from schemas.notifications import DeliveryStatus, Notification

SOURCE = "halaha_dashankuang"
WALL = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.timezone.utc)


def _uid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def drill_inputs(seed: int = 0) -> dict:
    """Opened blue at +10, escalated +25, acknowledged +30, orange with materials +40, resolved +90.

    Ids come from `seed`, so two seeds are two runs of the same log with different generated ids.
    """
    rng = random.Random(seed)
    inc = _uid(rng)
    common = {"incident_id": inc, "source_id": SOURCE, "drill_id": "d1"}
    proposal = MaterialsProposal(
        line="物资: 活性炭2t 伊尔施库 35分钟",
        allocations=[MaterialsAllocation(item_id="activated_carbon", depot_id="yirshi", quantity=2, unit="t",
                                         arrival_minutes=35, in_window=True),
                     MaterialsAllocation(item_id="pac", depot_id="ulanhot_league_reserve", quantity=1, unit="t",
                                         arrival_minutes=150, in_window=False)],
        missing={"pam": 0.5}, last_arrival_minutes=150)
    events = [
        IncidentOpened(event_id=_uid(rng), occurred_at=T0 + minutes(10), code="YJA", kind="threshold",
                       rule_id="section_nh3_over_iii", level=WarningLevel.BLUE, title="氨氮超III类 <b>", **common),
        IncidentEscalated(event_id=_uid(rng), occurred_at=T0 + minutes(25), tier=2,
                          reason="no acknowledgement within 15 min: tier 2", **common),
        IncidentAcknowledged(event_id=_uid(rng), occurred_at=T0 + minutes(30), actor="duty_officer", **common),
        IncidentUpdated(event_id=_uid(rng), occurred_at=T0 + minutes(40), rule_id="section_nh3_over_v",
                        level=WarningLevel.ORANGE, previous_level=WarningLevel.BLUE, reason="氨氮超V类",
                        materials=proposal, **common),
        IncidentResolved(event_id=_uid(rng), occurred_at=T0 + minutes(90), actor="section_chief", reason="recovered",
                         **common),
    ]
    n1, n2, n3 = _uid(rng), _uid(rng), _uid(rng)
    notes = [
        Notification(event_id=_uid(rng), notification_id=n1, person_id="p_duty", to="+8613800000001",
                     body="【演练】蓝色预警 YJA", incident_ids=[inc], created_at=T0 + minutes(11), drill_id="d1"),
        Notification(event_id=_uid(rng), notification_id=n2, person_id="p_chief", to="+8613800000002",
                     body="【演练】升级 YJA", incident_ids=[inc], created_at=T0 + minutes(25), drill_id="d1"),
        Notification(event_id=_uid(rng), notification_id=n3, person_id="p_materials", to="+8613800000003",
                     body="库存检查", incident_ids=[], created_at=T0 + minutes(50), drill_id="d1"),
    ]
    statuses = [
        DeliveryStatus(event_id=_uid(rng), notification_id=n1, status="queued", at=WALL),
        DeliveryStatus(event_id=_uid(rng), notification_id=n1, status="sent", at=WALL),
        DeliveryStatus(event_id=_uid(rng), notification_id=n1, status="delivered", at=WALL + dt.timedelta(seconds=2)),
        DeliveryStatus(event_id=_uid(rng), notification_id=n2, status="sent", at=WALL),
        DeliveryStatus(event_id=_uid(rng), notification_id=n2, status="failed", error_code=30003,
                       at=WALL + dt.timedelta(seconds=3)),
    ]
    return {"events": events, "notes": notes, "statuses": statuses}


def make(arxan, inputs: dict, *, wall: dt.datetime = WALL, partial: bool = False) -> DrillReport:
    return build_report(arxan, "d1", T0, {SOURCE: T0 + minutes(4)}, inputs["events"], inputs["notes"],
                        inputs["statuses"], speed="60x", started_wall=wall, finished_wall=wall + dt.timedelta(seconds=95),
                        partial=partial)


def test_every_field_of_the_report(arxan) -> None:
    inputs = drill_inputs()
    report = make(arxan, inputs)
    inc_id = inputs["events"][0].incident_id

    assert report.report_version == 1
    assert (report.drill_id, report.plan_id, report.plan_version) == ("d1", arxan.id, arxan.version)
    assert report.speed == "60x" and report.partial is False
    assert report.log_start == T0.isoformat() and report.window_minutes == 120
    assert report.started_wall == WALL.isoformat() and report.wall_seconds == 95

    s = report.summary
    assert s.incidents == 1
    assert s.by_level == {"blue": 0, "yellow": 0, "orange": 1, "red": 0}
    assert s.time_to_detect_minutes == 6
    assert s.time_to_first_sms_minutes == 1
    assert s.time_to_acknowledge_minutes == 20
    assert s.unacknowledged == 0 and s.escalations == 1
    assert (s.notifications_sent, s.notifications_delivered, s.notifications_failed, s.notifications_pending) \
        == (3, 1, 1, 1)

    [inc] = report.incidents
    assert inc.incident_id == str(inc_id) and inc.code == "YJA"
    assert inc.source_id == SOURCE and inc.source_name == "哈拉哈河大山矿断面"
    assert inc.rule_id == "section_nh3_over_iii" and inc.kind == "threshold" and inc.title == "氨氮超III类 <b>"
    assert inc.level == "orange" and inc.level_name == "橙色预警"
    assert [(lv.minute, lv.level, lv.rule_id, lv.reason) for lv in inc.levels] == [
        (10, "blue", "section_nh3_over_iii", "氨氮超III类 <b>"), (40, "orange", "section_nh3_over_v", "氨氮超V类")]
    assert inc.levels[1].at == (T0 + minutes(40)).isoformat()
    assert (inc.first_anomaly_at, inc.first_anomaly_minute) == ((T0 + minutes(4)).isoformat(), 4)
    assert (inc.opened_at, inc.opened_minute) == ((T0 + minutes(10)).isoformat(), 10)
    assert (inc.acknowledged_at, inc.acknowledged_minute, inc.acknowledged_by) == (
        (T0 + minutes(30)).isoformat(), 30, "duty_officer")
    assert (inc.resolved_at, inc.resolved_minute, inc.resolved_by) == ((T0 + minutes(90)).isoformat(), 90,
                                                                        "section_chief")
    [esc] = inc.escalations
    assert (esc.tier, esc.minute, esc.level, esc.roles) == (2, 25, "blue", ["section_chief"])
    assert esc.at == (T0 + minutes(25)).isoformat() and esc.reason.startswith("no acknowledgement")

    n1, n2 = inc.notifications
    assert (n1.person_id, n1.to, n1.body, n1.created_minute, n1.status, n1.error_code) == (
        "p_duty", "+86138****0001", "【演练】蓝色预警 YJA", 11, "delivered", None)
    assert n1.notification_id == str(inputs["notes"][0].notification_id)
    assert n1.status_at == (WALL + dt.timedelta(seconds=2)).isoformat()
    assert n1.created_at == (T0 + minutes(11)).isoformat()
    assert (n2.person_id, n2.to, n2.status, n2.error_code) == ("p_chief", "+86138****0002", "failed", 30003)

    m = inc.materials
    assert m is not None and m.line == "物资: 活性炭2t 伊尔施库 35分钟"
    assert m.window_minutes == 120 and m.last_arrival_minutes == 150 and m.all_in_window is False
    assert m.missing == {"pam": 0.5}
    assert [(a.item_id, a.depot_id, a.quantity, a.unit, a.arrival_minutes, a.in_window) for a in m.allocations] == [
        ("activated_carbon", "yirshi", 2, "t", 35, True), ("pac", "ulanhot_league_reserve", 1, "t", 150, False)]
    assert m.allocations[0].item_name == arxan.items["activated_carbon"].name
    assert m.allocations[0].depot_name == arxan.depots["yirshi"].name

    assert (inc.time_to_detect_minutes, inc.time_to_first_sms_minutes, inc.time_to_acknowledge_minutes) == (6, 1, 20)

    [other] = report.unlinked_notifications
    assert (other.person_id, other.to, other.status) == ("p_materials", "+86138****0003", None)


def test_json_round_trip_keeps_chinese_and_masks_numbers(arxan) -> None:
    text = make(arxan, drill_inputs()).to_json()
    data = json.loads(text)
    assert "哈拉哈河大山矿断面" in text and "+8613800000001" not in text
    assert DrillReport.model_validate(data) == make(arxan, drill_inputs())


def test_shuffled_inputs_give_the_same_report(arxan) -> None:
    inputs = drill_inputs()
    expected = make(arxan, inputs)
    for seed in range(5):
        rng = random.Random(seed)
        shuffled = {k: rng.sample(v, len(v)) for k, v in inputs.items()}
        assert make(arxan, shuffled) == expected


def test_duplicated_events_count_once(arxan) -> None:
    inputs = drill_inputs()
    doubled = {k: v + v for k, v in inputs.items()}
    assert make(arxan, doubled) == make(arxan, inputs)


def test_comparable_ignores_generated_ids_and_wall_clock(arxan) -> None:
    one = make(arxan, drill_inputs(seed=1))
    two = make(arxan, drill_inputs(seed=2), wall=WALL + dt.timedelta(days=3))
    assert one != two
    assert comparable(one) == comparable(two)
    flat = json.dumps(comparable(one))
    for dropped in ("incident_id", "notification_id", "started_wall", "finished_wall", "wall_seconds", "status_at",
                    "drill_id", "speed"):
        assert f'"{dropped}"' not in flat


def test_partial_flag(arxan) -> None:
    inputs = drill_inputs()
    cut = {"events": inputs["events"][:2], "notes": inputs["notes"][:1], "statuses": []}
    report = make(arxan, cut, partial=True)
    assert report.partial is True
    [inc] = report.incidents
    assert inc.level == "blue" and inc.acknowledged_at is None and inc.resolved_at is None and inc.materials is None
    assert report.summary.unacknowledged == 1 and report.summary.time_to_acknowledge_minutes is None
    assert report.summary.notifications_pending == 1
    assert comparable(report) != comparable(make(arxan, inputs))


def test_events_without_an_opening_are_ignored_and_empty_report(arxan) -> None:
    inputs = drill_inputs()
    report = make(arxan, {"events": inputs["events"][1:], "notes": [], "statuses": []})
    assert report.incidents == [] and report.summary.incidents == 0
    assert report.summary.time_to_detect_minutes is None


def test_incidents_sorted_by_opening_then_source(arxan) -> None:
    def opened(source: str, at: int, code: str) -> IncidentOpened:
        return IncidentOpened(incident_id=uuid.uuid4(), source_id=source, occurred_at=T0 + minutes(at), code=code,
                              kind="threshold", rule_id="r1", level=WarningLevel.YELLOW, title="t")
    events = [opened("yirshi_wwtp_outfall", 5, "YJC"), opened(SOURCE, 5, "YJB"), opened(SOURCE, 1, "YJA")]
    report = build_report(arxan, "d1", T0, None, events, [], [], speed="max", started_wall=WALL, finished_wall=WALL)
    assert [i.code for i in report.incidents] == ["YJA", "YJB", "YJC"]
    # without the source's first anomaly, the data that opened it is the anomaly; without opening times, 0 minutes
    assert report.incidents[0].first_anomaly_minute == 1.0 and report.incidents[0].time_to_detect_minutes == 0.0
    later = build_report(arxan, "d1", T0, None, events, [], [], speed="max", started_wall=WALL, finished_wall=WALL,
                         opened_at={events[2].incident_id: T0 + minutes(1.5)})
    assert later.incidents[0].opened_minute == 1.5 and later.incidents[0].time_to_detect_minutes == 0.5


def test_naive_log_start_is_refused(arxan) -> None:
    with pytest.raises(ValueError):
        build_report(arxan, "d1", T0.replace(tzinfo=None), None, [], [], [], speed="1x", started_wall=WALL,
                     finished_wall=WALL)


@pytest.mark.parametrize("phone,masked", [("+8613800000001", "+86138****0001"), ("+1234567", "+****67"),
                                          ("", "<none>"), ("+12025550123", "+120****0123")])
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


def test_skipped_lines_are_reported_in_line_order(arxan) -> None:
    report = build_report(arxan, "d1", T0, None, [], [], [], speed="max", started_wall=WALL, finished_wall=WALL,
                          skipped=[(9, "no incident at x yet"), (3, "no incident at y yet")])
    assert [(s.line, s.reason) for s in report.skipped_lines] == [(3, "no incident at y yet"), (9, "no incident at x yet")]


def test_every_report_field_is_documented_in_the_readme() -> None:
    from pathlib import Path

    from contingency.drill_report import (AllocationRow, EscalationStep, IncidentReport, LevelStep, MaterialsRow,
                                          NotificationRow, SkippedLine, Summary)

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Drill report")[1].split("\n## ")[0]
    missing = []
    for model in (DrillReport, Summary, IncidentReport, LevelStep, EscalationStep, NotificationRow, AllocationRow,
                  MaterialsRow, SkippedLine):
        for name in model.model_fields:
            short = name[: -len("_minute")] + "_at / _minute" if name.endswith("_minute") else None
            if name not in section and (short is None or short not in section):
                missing.append(f"{model.__name__}.{name}")
    assert not missing, f"undocumented report fields: {missing}"


def test_the_report_says_whether_the_initial_report_was_filed_in_time(arxan) -> None:
    """Issue 15 item 1: the Halaha section (a border river) follows the grade II procedure: 2 hours from the
    opening at +10, tightened by nothing (the raise to orange is grade II too): due at +130."""
    from schemas.incidents import IncidentReportFiled

    inputs = drill_inputs()
    report = make(arxan, inputs).incidents[0]
    assert (report.report_procedure, report.report_due_minute, report.report_filed_at) == ("II", 130.0, None)
    assert make(arxan, inputs).summary.reports_not_filed == 1
    opened = inputs["events"][0]
    for filed_at, on_time in ((T0 + minutes(100), True), (T0 + minutes(140), False)):
        filed = IncidentReportFiled(event_id=uuid.uuid4(), incident_id=opened.incident_id, source_id=SOURCE,
                                    occurred_at=filed_at, drill_id="d1", actor="li_jianguo", due_at=T0 + minutes(130))
        done = make(arxan, {**inputs, "events": inputs["events"] + [filed]})
        row = done.incidents[0]
        assert (row.report_filed_by, row.report_on_time) == ("li_jianguo", on_time)
        assert (done.summary.reports_on_time, done.summary.reports_late, done.summary.reports_not_filed) == (
            (1, 0, 0) if on_time else (0, 1, 0))
