"""Acceptance of issue 3 through the real command: `ers plan check` passes the shipped plan and names the line
and field of a broken copy."""
from __future__ import annotations

from contingency_helpers import ARXAN
from streams.cli import main


def test_check_passes_the_shipped_plan(capsys):
    assert main(["plan", "check", str(ARXAN)]) == 0


def test_check_names_line_and_field_of_a_broken_copy(tmp_path, capsys):
    text = ARXAN.read_text(encoding="utf-8").replace("parameter: seepage_flow", "parameter: seepage", 1)
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["plan", "check", str(path)]) == 1
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "parameter: seepage" in row)
    out = capsys.readouterr().out
    assert f"{path}:{line}: rules.tailings_seepage.parameter: no station the rule applies to reports 'seepage'" in out


def test_show_prints_the_summary(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["plan", "show", str(ARXAN)]) == 0
    assert "哈拉哈河大山矿断面" in capsys.readouterr().out


def test_check_prints_warnings_and_still_passes(tmp_path, capsys):
    text = ARXAN.read_text(encoding="utf-8").replace("    notify: [city_government]\n", "", 1)
    path = tmp_path / "quiet-blue.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["plan", "check", str(path)]) == 0, "warnings do not fail the check"
    out = capsys.readouterr().out
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row == "  blue:")
    assert f"{path}:{line}: escalation.blue: 蓝色预警 may imply grade IV" in out and "city_government" in out
    assert out.count("(warning)") == 11, "blue's chain, two rules on unverified Table 3 values, eight on HJ 633-2012"
