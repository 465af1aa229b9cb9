"""Console roles and login throttling (issue 16 item 7): what each role may do, which passwords are refused, and
when wrong passwords lock an account and an address out for a while."""
from __future__ import annotations

import datetime as dt

import pytest

from contingency.access import ROLES, LoginThrottle, ThrottlePolicy, actions_of, allowed, password_problem

T0 = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.timezone.utc)


def test_a_viewer_may_only_view_and_the_sms_actions_go_to_the_people_who_reply_by_sms() -> None:
    assert actions_of("viewer") == ("view",)
    assert all(allowed(role, "view") for role in ROLES)
    assert [r for r in ROLES if allowed(r, "acknowledge")] == ["duty_officer", "section_chief"]
    assert [r for r in ROLES if allowed(r, "record_movement")] == ["materials_officer"]
    assert [r for r in ROLES if allowed(r, "start_drill")] == ["section_chief"]
    assert [r for r in ROLES if allowed(r, "read_audit")] == ["section_chief", "admin"]
    assert not allowed("admin", "acknowledge"), "an administrator account is not on duty"
    assert not allowed("unknown", "view")


@pytest.mark.parametrize("password, problem", [
    ("short", "at least 10 characters, got 5"), ("qianxiaomei", "the user name is not a password"),
    ("aaaaaaaaaaaa", "one character repeated is not a password"), ("correct horse battery", None)])
def test_new_passwords_are_refused_with_why(password, problem) -> None:
    assert password_problem(password, "QianXiaomei") == problem


def test_five_wrong_passwords_lock_the_account_for_15_minutes_then_it_opens_again() -> None:
    throttle = LoginThrottle()
    for n in range(4):
        throttle.failed("qian", f"10.0.0.{n}", T0 + dt.timedelta(minutes=n))
        assert throttle.locked_until("qian", "10.0.0.9", T0 + dt.timedelta(minutes=n)) is None
    throttle.failed("qian", "10.0.0.4", T0 + dt.timedelta(minutes=4))
    locked = throttle.locked_until("qian", "10.0.0.9", T0 + dt.timedelta(minutes=5))
    assert locked == T0 + dt.timedelta(minutes=19), "from any address"
    assert throttle.locked_until("zhou", "10.0.0.9", T0 + dt.timedelta(minutes=5)) is None, "other accounts go on"
    assert throttle.locked_until("QIAN", "10.0.0.9", T0 + dt.timedelta(minutes=19)) is None


def test_failures_spread_beyond_the_window_do_not_lock_and_a_success_clears_the_count() -> None:
    throttle = LoginThrottle(ThrottlePolicy(failures=3, address_failures=3, window=dt.timedelta(minutes=10)))
    for n in range(6):
        throttle.failed("qian", f"10.0.0.{n}", T0 + dt.timedelta(minutes=6 * n))
    assert throttle.locked_until("qian", "10.0.0.9", T0 + dt.timedelta(minutes=31)) is None
    throttle.failed("zhou", "10.0.1.1", T0)
    throttle.failed("zhou", "10.0.1.2", T0)
    throttle.succeeded("zhou")
    throttle.failed("zhou", "10.0.1.3", T0)
    assert throttle.locked_until("zhou", "10.0.1.9", T0) is None


def test_one_address_guessing_many_accounts_is_locked_out_but_a_duty_room_is_not_by_one_typist() -> None:
    throttle = LoginThrottle()
    for n in range(5):
        throttle.failed("zhou", "203.0.113.7", T0)
    assert throttle.locked_until("qian", "203.0.113.7", T0) is None, "the others at the same address go on"
    for n in range(15):
        throttle.failed(f"user{n}", "203.0.113.7", T0)
    assert throttle.locked_until("qian", "203.0.113.7", T0) == T0 + dt.timedelta(minutes=15)
    assert throttle.locked_until("qian", "10.0.0.1", T0) is None
