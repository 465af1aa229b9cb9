"""Who may do what in the duty-room console (issue 16), and when a login is refused for a while.

Roles are the console's, not the roster's: a roster says who is called; a console account says what its holder may
do in the browser. The same action as by SMS (acknowledge, resolve) is allowed to the same people: duty officers
and section chiefs. Time is passed in.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["viewer", "duty_officer", "section_chief", "materials_officer", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "duty_officer", "section_chief", "materials_officer", "admin")
ROLE_NAMES: Mapping[str, Mapping[Role, str]] = {
    "zh-CN": {"viewer": "只读", "duty_officer": "值班员", "section_chief": "科长", "materials_officer": "物资管理员",
              "admin": "管理员"},
    "en": {"viewer": "viewer", "duty_officer": "duty officer", "section_chief": "section chief",
           "materials_officer": "materials officer", "admin": "admin"},
}

Action = Literal["view", "acknowledge", "resolve", "note", "confirm_materials", "record_movement", "start_drill",
                 "read_audit", "manage_users"]
_ALLOWED: Mapping[Action, frozenset[Role]] = {
    "view": frozenset(ROLES),
    "acknowledge": frozenset({"duty_officer", "section_chief"}),
    "resolve": frozenset({"duty_officer", "section_chief"}),
    "note": frozenset({"duty_officer", "section_chief", "materials_officer"}),
    "confirm_materials": frozenset({"section_chief", "materials_officer"}),
    "record_movement": frozenset({"materials_officer"}),
    "start_drill": frozenset({"section_chief"}),
    "read_audit": frozenset({"section_chief", "admin"}),
    "manage_users": frozenset({"admin"}),
}


def allowed(role: str, action: Action) -> bool:
    return role in _ALLOWED[action]


def actions_of(role: str) -> tuple[Action, ...]:
    return tuple(action for action, roles in _ALLOWED.items() if role in roles)


MIN_PASSWORD = 10


def password_problem(password: str, username: str) -> str | None:
    """Why a new password is refused (None: accepted). Length matters most (NIST SP 800-63B): at least 10
    characters, not the user name, not one character repeated."""
    if len(password) < MIN_PASSWORD:
        return f"at least {MIN_PASSWORD} characters, got {len(password)}"
    if password.strip().lower() == username.strip().lower():
        return "the user name is not a password"
    if len(set(password)) == 1:
        return "one character repeated is not a password"
    return None


@dataclass(frozen=True)
class ThrottlePolicy:
    failures: int = 5                                         # wrong passwords for one account within `window` ...
    address_failures: int = 20                                # ... or from one address (a duty room shares one)
    window: dt.timedelta = dt.timedelta(minutes=15)
    lockout: dt.timedelta = dt.timedelta(minutes=15)          # ... lock it out this long


@dataclass
class LoginThrottle:
    """Failed logins per account and per address: after `failures` for an account (`address_failures` from an
    address, set higher: everyone in a duty room may come from one address) within `window`, it is refused until
    `lockout` has passed, right password or not, so guessing cannot go on. A success clears the account's count."""

    policy: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    _failed: dict[str, list[dt.datetime]] = field(default_factory=dict)
    _locked: dict[str, dt.datetime] = field(default_factory=dict)

    def locked_until(self, username: str, address: str, now: dt.datetime) -> dt.datetime | None:
        until = [self._locked[k] for k in (_user(username), _addr(address)) if self._locked.get(k, now) > now]
        return max(until) if until else None

    def failed(self, username: str, address: str, now: dt.datetime) -> None:
        for key, limit in ((_user(username), self.policy.failures), (_addr(address), self.policy.address_failures)):
            recent = [t for t in self._failed.get(key, []) if now - t < self.policy.window] + [now]
            self._failed[key] = recent
            if len(recent) >= limit:
                self._locked[key] = now + self.policy.lockout
                self._failed[key] = []

    def succeeded(self, username: str) -> None:
        self._failed.pop(_user(username), None)


def _user(username: str) -> str:
    return "user:" + username.strip().lower()


def _addr(address: str) -> str:
    return "addr:" + address
