"""The incident book: open, raise, repeat, clear, fold downstream; deterministic ids and codes."""
from __future__ import annotations

from contingency import IncidentBook, apply_event, evaluate, on_detection
from contingency.ids import CODE_ALPHABET
from contingency_helpers import T0, hours, minutes, report
from schemas.incidents import IncidentOpened, IncidentResolved, IncidentUpdated

SECTION = "hlh_dsk_auto"


def run(plan, reports, book=None, states=None):
    """Feed reports through evaluate and on_detection like the stream agents do."""
    book = book or IncidentBook()
    states = states if states is not None else {}
    events = []
    for r in reports:
        states[r.station_id], detections = evaluate(plan, states.get(r.station_id), r, r.observed_at)
        for detection in detections:
            book, new = on_detection(plan, book, detection, r.observed_at)
            events += new
    return book, events, states


def nh3(value, at, station=SECTION, **kw):
    return report(station, at, ("ammonia_nitrogen", value, "mg/L"), **kw)


def test_exceedance_opens_an_incident(arxan):
    book, events, _ = run(arxan, [nh3(1.5, T0)])
    assert len(events) == 1
    opened = events[0]
    assert isinstance(opened, IncidentOpened)
    assert opened.kind == "exceedance" and opened.level == "blue" and opened.source_id == "halaha_dashankuang"
    assert len(opened.code) == 3 and set(opened.code) <= set(CODE_ALPHABET)
    assert opened.caused_by is not None and opened.evidence[0].value == 1.5
    assert list(book.open) == [str(opened.incident_id)]


def test_higher_rule_raises_the_level(arxan):
    # 1.9 -> 2.1 stays below the rate-of-change rule (a rise of 0.5), which is its own family
    book, events, _ = run(arxan, [nh3(1.9, T0), nh3(2.1, T0 + hours(4))])
    assert [type(e).__name__ for e in events] == ["IncidentOpened", "IncidentUpdated"]
    update = events[1]
    assert (update.previous_level, update.level) == ("blue", "yellow")
    assert update.incident_id == events[0].incident_id and update.rule_id == "section_nh3_over_v"
    assert len(book.open) == 1


def test_both_rules_in_one_report_open_once_at_the_higher_level(arxan):
    book, events, _ = run(arxan, [nh3(2.5, T0)])
    assert [(type(e).__name__, e.level) for e in events] == [("IncidentOpened", "yellow")]


def test_repeat_after_clear_updates_the_same_incident(arxan):
    _, events, _ = run(arxan, [nh3(1.2, T0), nh3(0.9, T0 + hours(4)), nh3(1.2, T0 + hours(8))])
    kinds = [(type(e).__name__, getattr(e, "reason", "")[:12]) for e in events]
    assert kinds == [("IncidentOpened", ""), ("IncidentUpdated", "all rules ba"), ("IncidentUpdated", "firing again")]
    assert len({e.incident_id for e in events}) == 1


def test_other_parameter_same_family_joins_the_incident(arxan):
    r = report(SECTION, T0 + hours(4), ("permanganate_index", 7.0, "mg/L"))
    book, events, _ = run(arxan, [nh3(1.5, T0), r])
    assert [type(e).__name__ for e in events] == ["IncidentOpened", "IncidentUpdated"]
    assert events[1].reason.startswith("also firing") and len(book.open) == 1


def test_resolved_incident_lets_a_new_one_open(arxan):
    book, events, states = run(arxan, [nh3(1.5, T0)])
    resolved = IncidentResolved(incident_id=events[0].incident_id, source_id="halaha_dashankuang",
                                occurred_at=T0 + hours(1), actor="duty")
    book = apply_event(book, resolved)
    assert book.open == {}
    book, more, _ = run(arxan, [nh3(0.5, T0 + hours(4)), nh3(1.5, T0 + hours(8))], book, states)
    [reopened] = [e for e in more if isinstance(e, IncidentOpened)]
    assert reopened.incident_id != events[0].incident_id
    # the rise (0.5 -> 1.5 within 8 h) fires the rate-of-change rule with the class III one: the same incident
    assert [e.reason for e in more if isinstance(e, IncidentUpdated)] == [
        "also firing: 哈拉哈河大山矿断面氨氮超过Ⅲ类标准"]


def test_redelivered_detection_gives_no_events(arxan):
    _, detections = evaluate(arxan, None, nh3(1.5, T0), T0)
    book, first = on_detection(arxan, IncidentBook(), detections[0], T0)
    again, second = on_detection(arxan, book, detections[0], T0 + minutes(1))
    assert first and second == [] and again == book


def test_replay_gives_identical_events(arxan):
    reports = [nh3(1.5, T0), nh3(2.5, T0 + hours(4)), nh3(0.5, T0 + hours(8))]
    book1, events1, _ = run(arxan, reports)
    book2, events2, _ = run(arxan, reports)
    assert events1 == events2 and book1 == book2
    restored = IncidentBook.from_json(book1.to_json())
    assert restored == book1


def test_drill_does_not_touch_real_incidents(arxan):
    book, events, _ = run(arxan, [nh3(1.5, T0), nh3(1.5, T0 + minutes(1), station=SECTION, drill_id="d1")],
                          states={})
    # second report is on the same station state: it is still firing there, so no new detection; use a fresh state
    _, drill_events, _ = run(arxan, [nh3(1.5, T0, drill_id="d1", event=7)], book)
    assert isinstance(drill_events[0], IncidentOpened) and drill_events[0].drill_id == "d1"
    assert drill_events[0].code != events[0].code


def test_codes_are_unique_among_open_incidents(arxan):
    book = IncidentBook()
    codes = set()
    for i in range(60):
        _, events, _ = run(arxan, [nh3(1.5, T0 + minutes(i), drill_id=f"d{i}")], book)
        book, _, _ = run(arxan, [nh3(1.5, T0 + minutes(i), drill_id=f"d{i}")], book)
        codes.add(events[0].code)
    assert len(book.open) == 60 and len({i.code for i in book.open.values()}) == 60


def test_downstream_exceedance_is_folded_into_the_upstream_incident(arxan):
    outfall = report("yirshi_wwtp_online", T0, ("ammonia_nitrogen", 9.0, "mg/L"))
    section = nh3(1.5, T0 + minutes(150))  # travel 120 min, window x1.5 = 180 min
    book, events, _ = run(arxan, [outfall, section])
    assert [type(e).__name__ for e in events] == ["IncidentOpened", "IncidentUpdated"]
    opened, folded = events
    assert opened.source_id == "yirshi_wwtp_outfall"
    assert folded.incident_id == opened.incident_id and folded.source_id == "yirshi_wwtp_outfall"
    assert (folded.previous_level, folded.level) == ("blue", "yellow")  # raised by correlation.raise_by
    assert "哈拉哈河大山矿断面" in folded.reason
    assert len(book.open) == 1
    # a later exceedance at the section belongs to the same incident (a lower level: recorded, no event)
    book, later, _ = run(arxan, [report(SECTION, T0 + minutes(200), ("total_phosphorus", 0.5, "mg/L"))], book)
    assert later == [] and len(book.open) == 1
    assert "hlh_dsk_auto/section_tp_over_iii" in book.open[str(opened.incident_id)].active


def test_downstream_after_the_travel_window_opens_its_own(arxan):
    outfall = report("yirshi_wwtp_online", T0, ("ammonia_nitrogen", 9.0, "mg/L"))
    section = nh3(1.5, T0 + minutes(181))
    book, events, _ = run(arxan, [outfall, section])
    assert [type(e).__name__ for e in events] == ["IncidentOpened", "IncidentOpened"]
    assert len(book.open) == 2


def test_downstream_before_the_upstream_is_not_folded(arxan):
    section = nh3(1.5, T0)
    outfall = report("yirshi_wwtp_online", T0 + minutes(30), ("ammonia_nitrogen", 9.0, "mg/L"))
    _, events, _ = run(arxan, [section, outfall])
    assert [type(e).__name__ for e in events] == ["IncidentOpened", "IncidentOpened"]


def test_folding_over_two_hops_uses_the_summed_travel_time(arxan):
    plan = arxan
    assert plan.index.upstream["halaha_dashankuang"] == {"yirshi_wwtp_outfall": 120.0, "tailings_example": 240.0}
    pond = report("tailings_example_online", T0, ("seepage_flow", 9.0, "L/s"))
    section = nh3(1.5, T0 + minutes(300))  # within 240 x 1.5
    book, events, _ = run(plan, [pond, section])
    assert [type(e).__name__ for e in events] == ["IncidentOpened", "IncidentUpdated"]
    assert events[1].source_id == "tailings_example" and (events[1].previous_level, events[1].level) == (
        "yellow", "orange")


def test_drill_incidents_never_absorb_real_detections(arxan):
    outfall = report("yirshi_wwtp_online", T0, ("ammonia_nitrogen", 9.0, "mg/L"), drill_id="d1")
    section = nh3(1.5, T0 + minutes(60))
    book, events, _ = run(arxan, [outfall, section])
    assert [type(e).__name__ for e in events] == ["IncidentOpened", "IncidentOpened"]
    assert [e.drill_id for e in events] == ["d1", None]


def test_acknowledgement_is_remembered(arxan):
    from schemas.incidents import IncidentAcknowledged
    book, events, _ = run(arxan, [nh3(1.5, T0)])
    ack = IncidentAcknowledged(incident_id=events[0].incident_id, source_id="halaha_dashankuang",
                               occurred_at=T0 + minutes(5), actor="duty")
    book = apply_event(book, ack)
    assert book.open[str(events[0].incident_id)].acknowledged
    assert book.by_code(events[0].code.lower()).incident_id == events[0].incident_id


def test_one_rise_is_one_incident_listing_every_rule_that_fired(arxan):
    """Issue 15 item 7: the class III rule and the rate-of-change rule fired by one ammonia rise at the Halaha
    section opened two incidents (PAA, W3X) and paged the same people twice."""
    book, events, _ = run(arxan, [nh3(0.6, T0), nh3(1.2, T0 + hours(4))])
    assert [type(e).__name__ for e in events] == ["IncidentOpened", "IncidentUpdated"]
    [incident] = book.open.values()
    assert sorted(incident.active) == [f"{SECTION}/section_nh3_jump", f"{SECTION}/section_nh3_over_iii"]


def test_a_rule_with_its_own_family_opens_its_own_incident(tmp_path):
    from contingency import load_plan
    from contingency_helpers import arxan_variant

    old = "    title: 哈拉哈河大山矿断面镉超过Ⅴ类标准(跨国界河流)\n"
    plan = load_plan(arxan_variant(tmp_path, old, old + "    family: cadmium_class_v\n"))
    book, events, _ = run(plan, [report(SECTION, T0, ("cadmium", 0.011, "mg/L"))])
    assert sorted((e.kind, e.level.value) for e in events) == [("cadmium_class_v", "orange"), ("exceedance", "yellow")]
    assert len(book.open) == 2
