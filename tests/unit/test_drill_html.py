"""The drill report page: self-contained, escaped, with the SVG timeline, and well-formed enough to parse."""
from __future__ import annotations

import datetime as dt
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest

from contingency import load_plan
from contingency.drill_report import DrillReport, build_report
from streams.views.drill_html import render_html
from schemas.incidents import (IncidentAcknowledged, IncidentEscalated, IncidentOpened, IncidentResolved,
                               IncidentUpdated, MaterialsAllocation, MaterialsProposal, WarningLevel)
from schemas.notifications import DeliveryStatus, Notification

PLAN = Path(__file__).resolve().parents[2] / "plans" / "arxan.yaml"
T0 = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
WALL = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.timezone.utc)
SOURCE = "halaha_dashankuang"
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source", "track", "embed", "param"}


def at(minute: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minute)


@pytest.fixture(scope="module")
def report() -> DrillReport:
    plan = load_plan(PLAN)
    inc = uuid.uuid4()
    common = {"incident_id": inc, "source_id": SOURCE, "drill_id": "d1"}
    proposal = MaterialsProposal(line="物资: 活性炭2t 伊尔施库 35分钟 <&>", allocations=[
        MaterialsAllocation(item_id="activated_carbon", depot_id="yirshi", quantity=2, unit="t", arrival_minutes=35,
                            in_window=True),
        MaterialsAllocation(item_id="pac", depot_id="ulanhot_league_reserve", quantity=1, unit="t",
                            arrival_minutes=150, in_window=False)], missing={"pam": 0.5}, last_arrival_minutes=150)
    events = [
        IncidentOpened(occurred_at=at(10), code="YJA", kind="threshold", rule_id="section_nh3_over_iii",
                       level=WarningLevel.BLUE, title='氨氮 <script>alert("x")</script>', **common),
        IncidentEscalated(occurred_at=at(25), tier=2, reason="no ack & no reply", **common),
        IncidentAcknowledged(occurred_at=at(30), actor="duty_officer", **common),
        IncidentUpdated(occurred_at=at(40), rule_id="section_nh3_over_v", level=WarningLevel.ORANGE,
                        previous_level=WarningLevel.BLUE, reason="氨氮超V类", materials=proposal, **common),
        IncidentResolved(occurred_at=at(90), actor="section_chief", **common),
    ]
    n1, n2 = uuid.uuid4(), uuid.uuid4()
    notes = [Notification(notification_id=n1, person_id="p_duty", to="+8613800000001", body="【演练】YJA <b>",
                          incident_ids=[inc], created_at=at(11)),
             Notification(notification_id=n2, person_id="p_chief", to="+8613800000002", body="升级 YJA",
                          incident_ids=[inc], created_at=at(25)),
             Notification(notification_id=uuid.uuid4(), person_id="p_mat", to="+8613800000003", body="库存",
                          created_at=at(50))]
    statuses = [DeliveryStatus(notification_id=n1, status="delivered", at=WALL),
                DeliveryStatus(notification_id=n2, status="failed", error_code=30003, at=WALL)]
    return build_report(plan, "drill<1>", T0, {SOURCE: at(4)}, events, notes, statuses, speed="60x",
                        started_wall=WALL, finished_wall=WALL + dt.timedelta(minutes=2), partial=True)


class _Checker(HTMLParser):
    """Tracks open tags: every non-void element must be closed, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'} at {self.getpos()}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    return checker


def test_page_is_well_formed_and_self_contained(report: DrillReport) -> None:
    page = render_html(report)
    checker = parse(page)
    assert checker.problems == [] and checker.stack == []
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert "script" not in checker.tags and "link" not in checker.tags
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page


def test_page_has_the_svg_timeline_with_markers_and_the_circle(report: DrillReport) -> None:
    page = render_html(report)
    assert page.count("<svg") == 1
    for kind in ("opened", "escalated", "sms", "acknowledged", "resolved", "anomaly"):
        assert f'class="marker {kind}"' in page
    assert "120分钟应急圈 (emergency circle)" in page
    assert 'stroke-dasharray="5,4"' in page


def test_page_shows_codes_levels_and_figures(report: DrillReport) -> None:
    text = "".join(parse(render_html(report)).text)
    assert "YJA" in text and "橙色预警" in text and "哈拉哈河大山矿断面" in text
    assert "+86138****0001" in text and "+8613800000001" not in text
    assert "失败 (failed) #30003" in text and "已送达 (delivered)" in text
    assert "演练被中断" in text
    assert "概要 (Summary)" in text and "确认用时 (Time to acknowledge)" in text
    assert "20 分钟 (min)" in text  # time to acknowledge
    assert "否 (no)" in text and "缺口 (Missing)" in text


def test_text_is_escaped(report: DrillReport) -> None:
    page = render_html(report)
    assert "<script>" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "drill&lt;1&gt;" in page and "no ack &amp; no reply" in page and "&lt;&amp;&gt;" in page
    text = "".join(parse(page).text)
    assert '氨氮 <script>alert("x")</script>' in text


def test_empty_report_renders(report: DrillReport) -> None:
    empty = report.model_copy(update={"incidents": [], "unlinked_notifications": []})
    checker = parse(render_html(empty))
    assert checker.problems == [] and checker.stack == []
