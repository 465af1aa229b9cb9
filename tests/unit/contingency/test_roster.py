"""The duty roster: rotations with a handover time, overrides, drill phones, and file:line problems."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from contingency import PlanError, check_roster, load_roster, on_duty, person_by_phone, roster_from_text
from contingency.roster import (drill_may_reach, drill_phone_for, drill_recipient, for_live_drills, is_drill_phone,
                                person_by_id, under_maintenance)
from contingency_helpers import REPO

ROSTER = REPO / "plans" / "arxan-roster.yaml"
ROSTER_TEXT = ROSTER.read_text(encoding="utf-8")
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def at(month: int, day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def names(people) -> list[str]:
    return [p.id for p in people]


@pytest.fixture(scope="module")
def roster(arxan):
    return load_roster(ROSTER, arxan)


def problems_of(arxan, tmp_path: Path, old: str, new: str) -> list[str]:
    assert old in ROSTER_TEXT, old
    path = tmp_path / "roster.yaml"
    path.write_text(ROSTER_TEXT.replace(old, new, 1), encoding="utf-8")
    return [str(p) for p in check_roster(path, arxan)]


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_shipped_roster_is_valid_and_fictional(arxan, roster):
    assert check_roster(ROSTER, arxan) == []
    assert "FICTIONAL" in ROSTER_TEXT
    assert all(p.phone.startswith("+86138000000") for p in roster.people.values())
    assert roster.drill_phones and all(d.phone.startswith("+86138000099") for d in roster.drill_phones.values())


def test_every_role_the_plan_calls_has_someone_on_duty(arxan, roster):
    for chain in arxan.escalation.values():
        for role in [r for tier in chain.tiers for r in tier.roles] + chain.notify:
            for moment in (at(1, 5, 8, 29), at(3, 3, 3), at(5, 2), at(8, 12), at(12, 31, 23, 59)):
                assert on_duty(roster, role, moment), (role, moment)


def test_rotation_changes_exactly_at_handover(roster):
    # 2026-01-05 (a Monday) 08:30 starts zhao_lei's week; before it, the last of the previous cycle
    assert names(on_duty(roster, "duty_officer", at(1, 5, 8, 29))) == ["sun_haoran"]
    assert names(on_duty(roster, "duty_officer", at(1, 5, 8, 30))) == ["zhao_lei"]
    assert names(on_duty(roster, "duty_officer", at(1, 12, 8, 29))) == ["zhao_lei"]
    assert names(on_duty(roster, "duty_officer", at(1, 12, 8, 30))) == ["qian_xiaomei"]
    assert names(on_duty(roster, "duty_officer", at(1, 19, 9))) == ["sun_haoran"]
    assert names(on_duty(roster, "duty_officer", at(1, 26, 9))) == ["zhao_lei"]


def test_handover_is_local_time_whatever_the_offset_of_the_question(roster):
    utc = dt.datetime(2026, 1, 12, 0, 30, tzinfo=dt.timezone.utc)  # 08:30 in Shanghai
    assert names(on_duty(roster, "duty_officer", utc)) == ["qian_xiaomei"]
    assert names(on_duty(roster, "duty_officer", utc - dt.timedelta(seconds=1))) == ["zhao_lei"]


def test_rotation_before_its_start_continues_the_cycle_backwards(roster):
    assert names(on_duty(roster, "duty_officer", at(1, 4))) == ["sun_haoran"]
    assert names(on_duty(roster, "duty_officer", at(12, 29) - dt.timedelta(days=365))) != []


def test_two_week_rotation(roster):
    assert names(on_duty(roster, "deputy_director", at(1, 18))) == ["wu_zhiqiang"]
    assert names(on_duty(roster, "deputy_director", at(1, 19, 8, 30))) == ["zheng_hua"]


def test_override_replaces_the_rotation_from_until_exclusive(roster):
    assert names(on_duty(roster, "duty_officer", at(5, 1, 8, 29))) == ["qian_xiaomei"]
    assert names(on_duty(roster, "duty_officer", at(5, 1, 8, 30))) == ["sun_haoran"]
    assert names(on_duty(roster, "duty_officer", at(5, 3, 8, 29))) == ["sun_haoran"]
    assert names(on_duty(roster, "duty_officer", at(5, 3, 8, 30))) == ["qian_xiaomei"]


def test_override_of_a_standing_role(roster):
    assert names(on_duty(roster, "director", at(8, 9))) == ["wang_dong"]
    assert names(on_duty(roster, "director", at(8, 12))) == ["wu_zhiqiang"]


def test_role_without_rotation_is_held_by_everyone_listing_it(roster):
    assert names(on_duty(roster, "league_office", at(3, 1))) == ["league_office_duty"]


def test_unknown_role_has_nobody(roster):
    assert on_duty(roster, "astronaut", at(3, 1)) == []


def test_person_by_phone_finds_people_and_drill_phones(roster):
    assert person_by_phone(roster, "+8613800000001").id == "zhao_lei"
    drill = person_by_phone(roster, "+8613800009901")
    assert drill.id == "drill_a" and drill.roles == [] and is_drill_phone(roster, "drill_a")
    assert person_by_phone(roster, "+8613900000000") is None
    assert person_by_id(roster, "drill_b").phone == "+8613800009902"
    assert person_by_id(roster, "nobody") is None


def test_drill_phone_for_a_person_is_stable_and_never_the_person(roster):
    phones = {drill_phone_for(roster, pid) for pid in roster.people}
    assert phones == {"drill_a", "drill_b"}
    assert drill_phone_for(roster, "zhao_lei") == drill_phone_for(roster, "zhao_lei")


def test_drills_reach_drill_phones_unless_the_roster_is_made_live(roster):
    assert drill_recipient(roster, "zhao_lei") == drill_phone_for(roster, "zhao_lei")
    assert not drill_may_reach(roster, "zhao_lei") and drill_may_reach(roster, "drill_a")
    live = for_live_drills(roster)
    assert drill_recipient(live, "zhao_lei") == "zhao_lei" and drill_may_reach(live, "zhao_lei")
    assert not roster.live_drills, "making a live copy leaves the roster as it was"


def test_a_roster_file_cannot_make_drills_page_people(arxan):
    text = (REPO / "plans" / "arxan-roster.yaml").read_text(encoding="utf-8") + "live_drills: true\n"
    with pytest.raises(PlanError) as err:
        roster_from_text(text, arxan)
    assert "live_drills cannot be set in a roster file" in str(err.value)


def test_maintenance_window(roster):
    assert under_maintenance(roster, "hlh_dsk_auto", at(7, 3, 9)) is not None
    assert under_maintenance(roster, "hlh_dsk_auto", at(7, 3, 12)) is None
    assert under_maintenance(roster, "city_source_auto", at(7, 3, 10)) is None


def test_person_language(roster):
    assert roster.people["sun_haoran"].language == "en" and roster.language == "zh-CN"


# --- problems, as file:line: field: problem ----------------------------------------------------------------

def test_unknown_role_is_reported_with_its_line(arxan, tmp_path):
    problems = problems_of(arxan, tmp_path, "roles: [director]", "roles: [directr]")
    line = line_of(ROSTER_TEXT, "wang_dong:")
    assert any(p.startswith(f"{tmp_path}/roster.yaml:{line}: people.wang_dong.roles.0: unknown role 'directr'")
               for p in problems), problems
    assert any("role 'director'" in p and "held by nobody" in p for p in problems)


def test_bad_phone(arxan, tmp_path):
    problems = problems_of(arxan, tmp_path, '"+8613800000005"', '"13800000005"')
    assert len(problems) == 1 and "people.zhou_min.phone" in problems[0]
    assert f":{line_of(ROSTER_TEXT, 'zhou_min:')}:" in problems[0]


def test_duplicate_phone_and_drill_phone_of_a_person(arxan, tmp_path):
    problems = problems_of(arxan, tmp_path, '"+8613800000005"', '"+8613800000004"')
    assert any("people.zhou_min.phone" in p and "li_jianguo" in p for p in problems)
    problems = problems_of(arxan, tmp_path, '"+8613800009902"', '"+8613800000008"')
    assert any("drill_phones.drill_b.phone" in p and "must never reach people" in p for p in problems)


def test_overlapping_overrides(arxan, tmp_path):
    extra = ('  - {role: duty_officer, person: zhao_lei, from: "2026-05-02 08:30", until: "2026-05-07 08:30"}\n'
             'drill_phones:')
    problems = problems_of(arxan, tmp_path, "drill_phones:", extra)
    assert any("overrides.2: overlaps overrides[0]" in p for p in problems), problems


def test_adjacent_overrides_do_not_overlap(arxan, tmp_path):
    extra = ('  - {role: duty_officer, person: zhao_lei, from: "2026-05-03 08:30", until: "2026-05-07 08:30"}\n'
             'drill_phones:')
    assert problems_of(arxan, tmp_path, "drill_phones:", extra) == []


def test_override_ending_before_it_starts(arxan, tmp_path):
    problems = problems_of(arxan, tmp_path, 'until: "2026-05-03 08:30"', 'until: "2026-04-06 08:30"')
    assert any("overrides.0" in p and "until must be after from" in p for p in problems)


def test_rotation_member_without_the_role_and_unknown_person(arxan, tmp_path):
    problems = problems_of(arxan, tmp_path, "people: [li_jianguo, zhou_min]", "people: [li_jianguo, wang_dong, zhu]")
    assert any("rotations.section_chief.people.1" in p and "does not hold role" in p for p in problems)
    assert any("rotations.section_chief.people.2: unknown person 'zhu'" in p for p in problems)


def test_role_in_the_plan_nobody_covers(arxan, tmp_path):
    problems = problems_of(arxan, tmp_path, "roles: [league_office]", "roles: []")
    assert any("'league_office'" in p and "escalation." in p and "held by nobody" in p for p in problems)


def test_unquoted_handover_time(arxan, tmp_path):
    problems = problems_of(arxan, tmp_path, 'handover: "08:30"', "handover: 8:30")
    assert any("rotations.duty_officer.handover" in p and "quotes" in p for p in problems), problems


def test_unknown_station_in_maintenance_and_unknown_field(arxan, tmp_path):
    problems = problems_of(arxan, tmp_path, "station: hlh_dsk_auto", "station: nowhere")
    assert any("maintenance.0.station: unknown station 'nowhere'" in p for p in problems)
    problems = problems_of(arxan, tmp_path, "every_days: 14", "every_day: 14")
    assert any("rotations.deputy_director.every_day: unknown field" in p for p in problems)


def test_unknown_time_zone_and_no_drill_phones(arxan, tmp_path):
    problems = problems_of(arxan, tmp_path, "timezone: Asia/Shanghai", "timezone: Asia/Arxan")
    assert any("timezone: unknown time zone" in p for p in problems)
    text = ROSTER_TEXT.split("drill_phones:")[0] + "maintenance: []\n"
    with pytest.raises(PlanError) as err:
        roster_from_text(text, arxan)
    assert "drill_phones: no drill phones" in str(err.value)


def test_not_yaml_and_not_a_mapping(arxan, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("people: [\n", encoding="utf-8")
    assert "not valid YAML" in str(check_roster(path, arxan)[0])
    path.write_text("- a\n", encoding="utf-8")
    assert "a roster is a YAML mapping" in str(check_roster(path, arxan)[0])
    assert "cannot read the roster" in str(check_roster(tmp_path / "missing.yaml", arxan)[0])


def test_roster_for_another_plan(arxan, tmp_path):
    problems = problems_of(arxan, tmp_path, "plan: arxan", "plan: ulanhot")
    assert any("roster is for plan 'ulanhot'" in p for p in problems)


def test_times_with_an_offset_are_kept(arxan):
    text = ROSTER_TEXT.replace('from: "2026-05-01 08:30"', 'from: "2026-05-01T00:30:00+00:00"')
    roster = roster_from_text(text, arxan)
    assert roster.overrides[0].from_ == at(5, 1, 8, 30)
