"""Issue 15 item 6: an item measured at several points, graded as GB 39496-2020 5.5.4 says (the Arxan pond's four
crest benchmarks: blue 40, yellow 60, orange 80, red 100 mm; 4 at blue raise the item to yellow, 3 at yellow to
orange, 2 at orange to red)."""
from __future__ import annotations


from contingency import IncidentBook, evaluate, on_detection
from contingency_helpers import ARXAN, T0, hours, report, variant_problems

PONDS = "tailings_example_online"
POINTS = [f"dam_displacement_b{n}" for n in (1, 2, 3, 4)]


def crest(*values: float) -> list[tuple]:
    return [(point, value, "mm") for point, value in zip(POINTS, values)]


def run(plan, *readings: list[tuple]):
    state, book, out = None, IncidentBook(), []
    for n, values in enumerate(readings):
        at = T0 + hours(n)
        state, detections = evaluate(plan, state, report(PONDS, at, *values), at)
        for detection in [d for d in detections if d.rule_id == "tailings_displacement_points"]:
            book, events = on_detection(plan, book, detection, at)
            out.append((detection.status, detection.level.value, [e.limit for e in detection.evidence],
                        [type(e).__name__ for e in events]))
    return out


def test_one_point_past_its_blue_limit_is_blue(arxan) -> None:
    assert run(arxan, crest(45, 10, 10, 10)) == [("firing", "blue", ["blue: <= 40 mm"], ["IncidentOpened"])]


def test_four_points_at_blue_raise_the_item_to_yellow(arxan) -> None:
    why = "; 4 points at blue or above: the item yellow (GB 39496-2020 5.5.4)"
    assert run(arxan, crest(45, 10, 10, 10), crest(45, 42, 41, 44)) == [
        ("firing", "blue", ["blue: <= 40 mm"], ["IncidentOpened"]),
        ("firing", "yellow", [f"blue: <= 40 mm{why}"] * 4, ["IncidentUpdated"])]


def test_three_at_yellow_raise_to_orange_and_two_at_orange_to_red(arxan) -> None:
    [(_, level, _, _)] = run(arxan, crest(65, 61, 70, 10))
    assert level == "orange"
    [(_, level, evidence, _)] = run(arxan, crest(85, 81, 10, 10))
    assert level == "red" and evidence[0].endswith("2 points at orange or above: the item red (GB 39496-2020 5.5.4)")
    [(_, level, _, _)] = run(arxan, crest(65, 45, 41, 10))
    assert level == "yellow", "a point at yellow and three past blue: four at blue or above is yellow, already"


def test_the_item_clears_when_every_point_is_back_within_its_limits(arxan) -> None:
    out = run(arxan, crest(45, 42, 41, 44), crest(30, 42, 41, 44), crest(30, 30, 30, 30))
    assert [(status, level) for status, level, _, _ in out] == [("firing", "yellow"), ("cleared", "blue")]
    assert out[-1][2] == ["within blue <= 40 mm"] * 4


def test_a_bad_points_rule_is_named(tmp_path) -> None:
    assert variant_problems(tmp_path, "    raise: {blue: 4, yellow: 3, orange: 2}", "    raise: {blue: 5}") == [
        "rules.tailings_displacement_points: raise.blue: 5 points, but the rule has 4"]
    assert variant_problems(tmp_path, "    raise: {blue: 4, yellow: 3, orange: 2}", "    raise: {red: 2}") == [
        "rules.tailings_displacement_points: raise.red: nothing is above red"]
    assert variant_problems(tmp_path, "dam_displacement_b3, dam_displacement_b4]", "dam_displacement_b3, dam_displacement_b5]") \
        == ["rules.tailings_displacement_points.parameters: station tailings_example_online has no parameter "
            f"'dam_displacement_b5' (it has: {', '.join(load_parameters())})"]


def load_parameters() -> list[str]:
    from contingency import load_plan
    return list(load_plan(ARXAN).stations[PONDS].parameters)


def fired_rules(plan, *steps: tuple[float, list[tuple]]) -> list[set[str]]:
    state, out = None, []
    for hour, values in steps:
        at = T0 + hours(hour)
        state, detections = evaluate(plan, state, report(PONDS, at, *values), at)
        out.append({d.rule_id for d in detections if d.status == "firing"})
    return out


def test_a_drop_in_seepage_is_a_warning_as_a_rise_is(arxan) -> None:
    """A blocked drain: seepage falls (while the phreatic line rises)."""
    assert fired_rules(arxan, (0, [("seepage_flow", 4.0, "L/s")]), (4, [("seepage_flow", 1.9, "L/s")])) == [
        set(), {"tailings_seepage_drop"}]


def test_freeboard_and_hourly_rain(arxan) -> None:
    assert fired_rules(arxan, (0, [("freeboard", 1.1, "m"), ("dry_beach_length", 55, "m")])) == [
        {"tailings_freeboard_orange", "tailings_beach_orange"}]
    assert fired_rules(arxan, (0, [("freeboard", 0.9, "m"), ("rainfall_1h", 25, "mm")])) == [
        {"tailings_freeboard_orange", "tailings_freeboard_red", "tailings_rain_1h"}]
