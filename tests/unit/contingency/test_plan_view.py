"""`ers plan show` renders the shipped plan (smoke test of the rich summary)."""
from __future__ import annotations

import io

import pytest
from rich.console import Console

from streams.views.plan_view import render_plan_summary
from schemas.readings import Measurement


def test_summary_names_sources_rules_and_escalation(arxan):
    out = io.StringIO()
    Console(file=out, width=400, color_system=None).print(render_plan_summary(arxan))
    text = out.getvalue()
    for expected in ("哈拉哈河大山矿断面", "伊尔施污水处理厂排污口", "<= 1 mg/L (GB 3838-2002 III)", "兴安盟行政公署办公室",
                     "五岔沟镇环境应急物资储备点", "(示例)", "活性炭", "油类泄漏", "attached to the nearest source within 10 km"):
        assert expected in text


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_rejected_at_the_schema(value):
    with pytest.raises(ValueError):
        Measurement(parameter="ammonia_nitrogen", value=value, unit="mg/L")
