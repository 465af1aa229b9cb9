"""The console's drills page (issue 16, item 6): what may be started (shipped scenarios, listed speeds), run ids,
which report files may be served (only from the drill output directory), the scenarios' titles, the output tail,
and the pages: 演练 banner and class, no start button for a role that may not start drills."""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from streams.console_drills import (
    REPO, SPEEDS, PastRun, Scenario, choose_scenario, list_runs, list_scenarios, new_run_id, parse_speed,
    report_file, scenario_texts, tail, valid_run_id)
from streams.views.console_drill_pages import drills_page, run_page

SHIPPED = list_scenarios(REPO / "drills")


def test_the_shipped_scenarios_are_listed_with_their_title_and_time_span() -> None:
    names = {s.name for s in SHIPPED}
    assert names == {"tailings-seepage.jsonl", "drinking-water-ammonia.jsonl", "diesel-tanker.jsonl",
                     "winter-cadmium.jsonl"}
    diesel = next(s for s in SHIPPED if s.name == "diesel-tanker.jsonl")
    assert diesel.title.startswith("diesel tanker overturned") and "赵磊" in diesel.description
    assert diesel.events == 29 and dt.timedelta(hours=3) <= diesel.span < dt.timedelta(hours=3, minutes=5)


def test_only_a_shipped_scenario_by_its_exact_name_can_be_chosen() -> None:
    assert choose_scenario("diesel-tanker.jsonl", SHIPPED).name == "diesel-tanker.jsonl"
    for name in ("../drills/diesel-tanker.jsonl", "/etc/passwd", "diesel-tanker", "drills/diesel-tanker.jsonl",
                 "README.md", "", None, "DIESEL-TANKER.JSONL"):
        assert choose_scenario(name, SHIPPED) is None, name


def test_only_a_listed_speed_can_be_chosen() -> None:
    assert SPEEDS == ("1", "10", "60", "600", "max")
    assert [parse_speed(s) for s in ("1", " 600 ", "MAX", "max")] == ["1", "600", "max", "max"]
    for bad in ("0", "-1", "1e9", "inf", "nan", "6000", "60.0", "", None, "1; rm -rf /"):
        assert parse_speed(bad) is None, bad


def test_run_ids_are_valid_drill_ids_and_unique_per_suffix() -> None:
    now = dt.datetime(2026, 12, 7, 16, 43, 5)
    run = new_run_id("diesel-tanker.jsonl", now, "ab12")
    assert run == "diesel-tanker-20261207-164305-ab12" and valid_run_id(run)
    assert valid_run_id(new_run_id("a very/odd name..jsonl" * 5, now, "ffff"))
    for bad in ("..", "a/b", "", "x" * 61, "a b", "a.b", "%2e%2e"):
        assert not valid_run_id(bad), bad


@pytest.fixture
def output(tmp_path: Path) -> Path:
    root = tmp_path / "var" / "drills"
    run = root / "diesel-tanker-20261207-164305-ab12"
    run.mkdir(parents=True)
    (run / "report.html").write_text("<html>report</html>", encoding="utf-8")
    (run / "report.json").write_text(json.dumps({"speed": "max", "started_wall": "2026-12-07T08:43:05+00:00",
                                                 "partial": False, "summary": {"incidents": 2,
                                                                               "notifications_sent": 9}}))
    (run / "ers.db").write_text("the drill's database")
    (tmp_path / "var" / "secret.txt").write_text("not a report")
    (tmp_path / "var" / "ers.db").write_text("production")
    return root


def test_report_files_are_served_only_from_the_output_directory(output: Path, tmp_path: Path) -> None:
    run = "diesel-tanker-20261207-164305-ab12"
    assert report_file(output, run) == (output / run / "report.html").resolve()
    assert report_file(output, f"{run}/report.json") == (output / run / "report.json").resolve()
    refused = ["..", "../secret.txt", "../ers.db", "../../etc/passwd", f"{run}/../../secret.txt", f"{run}/ers.db",
               f"{run}/report.html/..", "/etc/passwd", "%2e%2e/%2e%2e/etc/passwd", f"{run}/", f"./{run}",
               f"{run}//report.html", "no-such-run", f"{run}/report.html/x", "", str(tmp_path / "var" / "secret.txt")]
    for path in refused:
        assert report_file(output, path) is None, path


def test_a_link_out_of_the_output_directory_is_not_followed(output: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "report.html").write_text("outside")
    os.symlink(outside, output / "linked-run")
    assert report_file(output, "linked-run") is None


def test_past_runs_are_listed_newest_first_from_their_reports(output: Path) -> None:
    older = output / "tailings-seepage-20261201-100000-0000"
    older.mkdir()
    (older / "report.json").write_text(json.dumps({"speed": "600x", "started_wall": "2026-12-01T02:00:00+00:00",
                                                   "partial": True, "summary": {"incidents": 1}}))
    (output / "no-report-yet").mkdir()  # a run still going: not listed until it has a report
    (output / "not a run!").mkdir()
    runs = list_runs(output)
    assert [r.run_id for r in runs] == ["diesel-tanker-20261207-164305-ab12", "tailings-seepage-20261201-100000-0000"]
    assert (runs[0].speed, runs[0].incidents, runs[0].notifications, runs[0].has_html) == ("max", 2, 9, True)
    assert runs[1].partial and not runs[1].has_html
    assert list_runs(output / "missing") == []


def test_scenario_titles_come_from_the_readme_headings() -> None:
    readme = "# Drills\n\n### `a.jsonl` — first one\n\nIts story\ngoes on.\n\n- detail\n\n### Other heading\n\nx\n"
    assert scenario_texts(readme) == {"a.jsonl": ("first one", "Its story goes on.")}


def test_the_output_tail_keeps_the_last_lines_without_redraws_colours_or_phone_numbers() -> None:
    text = ("line 1\n\x1b[1mbold\x1b[0m\nbar 10%\rbar 50%\rbar 100%\n"
            "answer a drill SMS by hand: ers sms reply --drill diesel-20261207-164305-ab12 --from +8613900000001 x\n"
            "to 13900000002\n")
    out = tail(text, 4)
    assert out.splitlines()[0] == "bold" and "bar 100%" in out and "bar 10%" not in out and "\x1b" not in out
    assert "+8613900000001" not in out and "13900000002" not in out and "****" in out
    assert "diesel-20261207-164305-ab12" in out, "the run id is not taken for a phone number"
    assert tail(text, 0) == ""


SCENARIO = Scenario("diesel-tanker.jsonl", "diesel tanker", "a <b>spill</b>", 29,
                    dt.datetime(2026, 9, 16, 14, 0, tzinfo=dt.timezone.utc),
                    dt.datetime(2026, 9, 16, 17, 0, tzinfo=dt.timezone.utc))


def test_only_a_role_that_may_start_drills_sees_the_start_button() -> None:
    runs = [PastRun("diesel-1", True, True, "max", "2026-12-07T08:43:05+00:00", 2, 9)]
    chief = drills_page([SCENARIO], runs, None, SPEEDS, "zh-CN", True, "科长", "section_chief", "tok")
    viewer = drills_page([SCENARIO], runs, None, SPEEDS, "zh-CN", False, "只读用户", "viewer", "tok")
    assert 'action="/drills/start"' in chief and '<option value="max">' in chief and "开始演练" in chief
    assert 'action="/drills/start"' not in viewer and "开始演练" not in viewer
    for page in (chief, viewer):
        assert 'href="/drills/report/diesel-1"' in page and "a &lt;b&gt;spill&lt;/b&gt;" in page
        assert '<a href="/drills">演练</a>' in page, "the nav link"
        assert "<script>" not in page and "style=" not in page


def test_the_run_page_is_marked_as_a_drill() -> None:
    rows = [{"code": "YJA", "level": "yellow", "level_name": "黄色", "place": "哈拉哈河", "what": "x", "since": "14:05",
             "stage": "呼叫中", "by": "", "tier": 1, "report": "", "drill": True}]
    status = {"status": "running", "exit_code": None, "tail": "<x>", "scenario": "diesel-tanker.jsonl",
              "speed": "max", "started_by": "chief", "report_url": None}
    page = run_page("diesel-1", rows, status, "zh-CN", "科长", "section_chief", "tok")
    assert 'class="drill-mode"' in page and 'id="drill-banner"' in page and "演练模式" in page
    assert 'data-events="/drills/runs/diesel-1/events"' in page and 'data-code="YJA"' in page
    assert '<span class="drill">演练</span>' in page and "&lt;x&gt;" in page and "进行中" in page
    assert 'id="drill-report" href="" hidden' in page
    english = run_page("diesel-1", [], {**status, "status": "failed", "exit_code": 1}, "en")
    assert "DRILL MODE" in english and "exit code 1" in english and 'id="drill-empty">' in english
