"""The worker's plan cache: a second start reads the checked plan from the cache, and gets the same plan; a changed
plan, a corrupt cache or a plan with problems are never served from it."""
from __future__ import annotations

from pathlib import Path

import pytest

from contingency import PlanError, load_plan
from handlers import plan_cache
from handlers.plan_cache import load_plan_cached
from tests.integration.harness import DEFAULT_PLAN


def _copy(tmp_path: Path) -> Path:
    plan = tmp_path / "plan.yaml"
    plan.write_text(DEFAULT_PLAN.read_text(encoding="utf-8"), encoding="utf-8")
    return plan


def test_a_cached_plan_is_the_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan_file, cache = _copy(tmp_path), tmp_path / "cache"
    first = load_plan_cached(plan_file, cache)
    assert len(list(cache.glob("plan-*.json"))) == 1

    def no_yaml(*args: object, **kwargs: object) -> None:
        raise AssertionError("the YAML was read again")

    monkeypatch.setattr(plan_cache, "plan_from_text", no_yaml)
    second = load_plan_cached(plan_file, cache)
    reference = load_plan(DEFAULT_PLAN)
    for plan in (first, second):
        assert plan.model_dump(exclude={"index"}) == reference.model_dump(exclude={"index"})
        parameters = [p for station in plan.stations.values() for p in station.parameters.values()]
        assert len({id(p) for p in parameters}) == len(set(parameters)) < len(parameters)  # equal ones are one
        assert plan.index.needs == reference.index.needs
        assert {s: {p: [j.rule_id for r in rules for j in r] for p, rules in by.items()}
                for s, by in plan.index.measured.items()} == \
               {s: {p: [j.rule_id for r in rules for j in r] for p, rules in by.items()}
                for s, by in reference.index.measured.items()}


def test_a_changed_plan_is_read_again_and_its_problems_reported(tmp_path: Path) -> None:
    plan_file, cache = _copy(tmp_path), tmp_path / "cache"
    load_plan_cached(plan_file, cache)
    plan_file.write_text(plan_file.read_text(encoding="utf-8").replace("report_interval_minutes: 240",
                                                                       "report_interval_minutes: -5", 1),
                         encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        load_plan_cached(plan_file, cache)
    assert "report_interval_minutes" in str(caught.value) and "plan.yaml" in str(caught.value)
    assert len(list(cache.glob("plan-*.json"))) == 1  # the problem plan is not cached


def test_a_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    plan_file, cache = _copy(tmp_path), tmp_path / "cache"
    load_plan_cached(plan_file, cache)
    (cached,) = cache.glob("plan-*.json")
    cached.write_bytes(cached.read_bytes()[:1000])
    plan = load_plan_cached(plan_file, cache)
    assert set(plan.stations) == set(load_plan(DEFAULT_PLAN).stations)
    assert len(cached.read_bytes()) > 1000  # written again whole


def test_an_unreadable_plan_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan_cached(tmp_path / "missing.yaml", tmp_path / "cache")
    assert "missing.yaml" in str(caught.value)
