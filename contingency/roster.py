"""The duty roster: who holds which role when, as data kept next to the plan (plans/<county>-roster.yaml).

The plan names roles (duty_officer, director, ...); the roster says which people hold them: everyone listing a
role holds it, unless the role has a `rotation`, in which case one person at a time holds it (turns change at
the handover time, local time). Dated `overrides` put someone else in a role for a while. `drill_phones` are
sandbox numbers that drills page instead of people; `maintenance` windows of stations suppress paging.

Reading the file is the only I/O here (`load_roster`, `check_roster`); problems are `file:line: field: problem`
as for plans, found with the plan loader's line tracking.
"""
from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from contingency.loader import _from_pydantic, _line_of, yaml_with_lines  # the plan loader's line tracking
from contingency.plan import Identifier, Plan, Text
from contingency.problems import PlanError, Problem
from contingency.sms_templates import TemplateSet

Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9]\d{6,14}$")]
Language = Literal["zh-CN", "en"]
SmsProvider = Literal["twilio", "aliyun"]
DEFAULT_TIMEZONE = "Asia/Shanghai"


class RosterModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Person(RosterModel):
    id: Identifier
    name: Text
    roles: list[Identifier] = Field(default_factory=list, description="roles this person can hold")
    phone: Phone = Field(description="E.164, e.g. +8613800000001")
    language: Language | None = Field(None, description="SMS language; the roster's `language` when absent")
    sms_provider: SmsProvider | None = Field(
        None, description="reach this person through this provider instead of the deployment's (ERS_SMS_PROVIDER), "
                          "e.g. twilio for a number outside mainland China")


class DrillPhone(RosterModel):
    id: Identifier
    name: Text
    phone: Phone
    language: Language | None = None
    sms_provider: SmsProvider | None = None


class Rotation(RosterModel):
    """`people` take turns of `every_days` days; the first turn starts on `start` at `handover` (local time)."""

    people: list[Identifier] = Field(min_length=1)
    start: dt.date
    handover: str = Field("08:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, local time")
    every_days: int = Field(7, ge=1, le=366)

    @field_validator("handover", mode="before")
    @classmethod
    def _quoted(cls, value: Any) -> Any:
        if isinstance(value, int):  # YAML 1.1 reads 8:30 as the base-60 number 510
            raise ValueError("write the time in quotes, e.g. handover: \"08:30\"")
        return value

    def holder(self, at: dt.datetime, tz: dt.tzinfo) -> str:
        local = at.astimezone(tz)
        hour, minute = (int(part) for part in self.handover.split(":"))
        duty_day = local.date() if (local.hour, local.minute) >= (hour, minute) else local.date() - dt.timedelta(1)
        turn = (duty_day - self.start).days // self.every_days
        return self.people[turn % len(self.people)]


class Override(RosterModel):
    """`person` holds `role` from `from` (inclusive) until `until` (exclusive), instead of its usual holders."""

    role: Identifier
    person: Identifier
    from_: dt.datetime = Field(alias="from")
    until: dt.datetime
    reason: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> "Override":
        if self.until <= self.from_:
            raise ValueError("until must be after from")
        return self

    def covers(self, at: dt.datetime) -> bool:
        return self.from_ <= at < self.until


class Maintenance(RosterModel):
    """No paging for incidents of `station` that start while it is maintained or calibrated."""

    station: Identifier
    from_: dt.datetime = Field(alias="from")
    until: dt.datetime
    reason: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> "Maintenance":
        if self.until <= self.from_:
            raise ValueError("until must be after from")
        return self

    def covers(self, at: dt.datetime) -> bool:
        return self.from_ <= at < self.until


class PagingPolicy(RosterModel):
    bundle_seconds: int = Field(120, ge=0, le=3600, description="later messages within this window are bundled")
    cap_per_hour: int = Field(10, ge=1, le=200, description="SMS per person per hour before a summary is held")


class Roster(RosterModel):
    id: Identifier
    plan: Identifier | None = Field(None, description="id of the plan this roster serves")
    timezone: str = DEFAULT_TIMEZONE
    language: Language = "zh-CN"
    note: str = ""
    paging: PagingPolicy = Field(default_factory=PagingPolicy)
    people: dict[Identifier, Person] = Field(min_length=1)
    rotations: dict[Identifier, Rotation] = Field(default_factory=dict)
    overrides: list[Override] = Field(default_factory=list)
    drill_phones: dict[Identifier, DrillPhone] = Field(default_factory=dict)
    maintenance: list[Maintenance] = Field(default_factory=list)
    # Never read from a file: only `ers drill run --live-roster` turns it on (see `for_live_drills`).
    live_drills: bool = Field(False, exclude=True)
    # Set by the deployment (ERS_SMS_PROVIDER and the template file next to the roster), never by the file.
    sms_provider: SmsProvider = Field("twilio", exclude=True)
    templates: TemplateSet | None = Field(None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _prepare(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "live_drills" in data:
            raise ValueError("live_drills cannot be set in a roster file: drills page drill phones unless "
                             "`ers drill run --live-roster` is given")
        for deployed in ("sms_provider", "templates"):
            if deployed in data:
                raise ValueError(f"{deployed} cannot be set in a roster file: it is the deployment's "
                                 "(ERS_SMS_PROVIDER, ERS_SMS_TEMPLATES)")
        data = dict(data)
        for section in ("people", "drill_phones"):
            if isinstance(data.get(section), dict):
                data[section] = {key: {"id": key, **entry} if isinstance(entry, dict) and "id" not in entry
                                 else entry for key, entry in data[section].items()}
        tz = _zone(data.get("timezone", DEFAULT_TIMEZONE))
        if tz is not None:
            for section in ("overrides", "maintenance"):
                if isinstance(data.get(section), list):
                    data[section] = [_localised(entry, tz) for entry in data[section]]
        return data

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if _zone(value) is None:
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)")
        return value

    @property
    def tz(self) -> dt.tzinfo:
        return zoneinfo.ZoneInfo(self.timezone)


def _zone(name: Any) -> dt.tzinfo | None:
    try:
        return zoneinfo.ZoneInfo(name) if isinstance(name, str) and name else None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _localised(entry: Any, tz: dt.tzinfo) -> Any:
    """Times in the file are local unless they carry an offset; a bare date means its midnight."""
    if not isinstance(entry, dict):
        return entry
    out = dict(entry)
    for key in ("from", "until"):
        value = out.get(key)
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value)
            except ValueError:
                continue
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = dt.datetime.combine(value, dt.time())
        if isinstance(value, dt.datetime):
            out[key] = value if value.tzinfo is not None else value.replace(tzinfo=tz)
    return out


# --- questions the paging domain asks -------------------------------------------------------------------------

def on_duty(roster: Roster, role: str, at: dt.datetime) -> list[Person]:
    """Who holds `role` at `at`: the override(s) covering that time, else the rotation's person on turn, else
    everyone listing the role."""
    covering = [o.person for o in roster.overrides if o.role == role and o.covers(at)]
    if covering:
        ids = covering
    elif role in roster.rotations:
        ids = [roster.rotations[role].holder(at, roster.tz)]
    else:
        ids = [person.id for person in roster.people.values() if role in person.roles]
    return [roster.people[pid] for pid in dict.fromkeys(ids) if pid in roster.people]


def person_by_phone(roster: Roster, phone: str) -> Person | None:
    """The person (or drill phone, as a person without roles) with that number."""
    for person in roster.people.values():
        if person.phone == phone:
            return person
    for drill in roster.drill_phones.values():
        if drill.phone == phone:
            return _as_person(drill)
    return None


def person_by_id(roster: Roster, person_id: str) -> Person | None:
    if person_id in roster.people:
        return roster.people[person_id]
    if person_id in roster.drill_phones:
        return _as_person(roster.drill_phones[person_id])
    return None


def is_drill_phone(roster: Roster, person_id: str) -> bool:
    return person_id in roster.drill_phones


def for_live_drills(roster: Roster) -> Roster:
    """The roster as `ers drill run --live-roster` uses it: drills page the people themselves."""
    return roster.model_copy(update={"live_drills": True})


def for_sms(roster: Roster, provider: str, templates: TemplateSet | None) -> Roster:
    """The roster as a deployment sends SMS: its default provider, and the registered templates (required when
    anyone is reached through a template provider)."""
    return roster.model_copy(update={"sms_provider": provider, "templates": templates})


def provider_of(roster: Roster, person: Person | None) -> str:
    return (person.sms_provider if person is not None else None) or roster.sms_provider


def templates_for(roster: Roster, person: Person | None) -> TemplateSet | None:
    """The templates a message to `person` is rendered from; None: free text (Twilio)."""
    return roster.templates if provider_of(roster, person) == "aliyun" else None


def drill_recipient(roster: Roster, person_id: str) -> str | None:
    """Who receives a drill's SMS meant for `person_id`: a drill phone, or the person in a live-roster drill."""
    return person_id if roster.live_drills else drill_phone_for(roster, person_id)


def drill_may_reach(roster: Roster, recipient: str) -> bool:
    return is_drill_phone(roster, recipient) or roster.live_drills


def drill_phone_for(roster: Roster, person_id: str) -> str | None:
    """The sandbox phone standing in for a person in drills: people are spread over the drill phones in roster
    order, so the same person always maps to the same phone."""
    phones = list(roster.drill_phones)
    if not phones:
        return None
    people = list(roster.people)
    index = people.index(person_id) if person_id in people else 0
    return phones[index % len(phones)]


def under_maintenance(roster: Roster, station_id: str, at: dt.datetime) -> Maintenance | None:
    for window in roster.maintenance:
        if window.station == station_id and window.covers(at):
            return window
    return None


def language_of(roster: Roster, person: Person | None) -> str:
    return (person.language if person is not None else None) or roster.language


def _as_person(drill: DrillPhone) -> Person:
    return Person(id=drill.id, name=drill.name, phone=drill.phone, language=drill.language,
                  sms_provider=drill.sms_provider)


# --- reading and checking the file ----------------------------------------------------------------------------

def load_roster(path: str | Path, plan: Plan) -> Roster:
    roster, problems = _read(Path(path), plan)
    if problems or roster is None:
        raise PlanError(problems)
    return roster


def check_roster(path: str | Path, plan: Plan) -> list[Problem]:
    """Every problem of a roster file against the plan it serves; an empty list means it is usable."""
    return _read(Path(path), plan)[1]


def roster_from_text(text: str, plan: Plan, file: str = "<roster>") -> Roster:
    roster, problems = parse_roster(text, plan, file)
    if problems or roster is None:
        raise PlanError(problems)
    return roster


def _read(path: Path, plan: Plan) -> tuple[Roster | None, list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem((), f"cannot read the roster: {exc}", file=str(path), line=0)]
    return parse_roster(text, plan, str(path))


def parse_roster(text: str, plan: Plan, file: str) -> tuple[Roster | None, list[Problem]]:
    data, lines, problems = yaml_with_lines(text)
    located = [problem.located(file, problem.line or _line_of(problem.path, lines)) for problem in problems]
    if not isinstance(data, dict):
        if not located:
            located.append(Problem((), "a roster is a YAML mapping (id, people, rotations, ...)", file, 1))
        return None, located
    try:
        roster = Roster.model_validate(data)
    except ValidationError as exc:
        return None, located + [_from_pydantic(err, data, lines, file) for err in exc.errors(include_url=False)]
    for problem in roster_problems(roster, plan):
        located.append(problem.located(file, _line_of(problem.path, lines)))
    return (None, located) if located else (roster, [])


def roster_problems(roster: Roster, plan: Plan) -> list[Problem]:
    """What a valid-looking roster gets wrong about the plan, or about itself."""
    problems: list[Problem] = []
    known = ", ".join(plan.roles)
    if roster.plan is not None and roster.plan != plan.id:
        problems.append(Problem(("plan",), f"roster is for plan {roster.plan!r}, not {plan.id!r}"))
    for pid, person in roster.people.items():
        if person.id != pid:
            problems.append(Problem(("people", pid, "id"), f"id {person.id!r} differs from its key {pid!r}"))
        for index, role in enumerate(person.roles):
            if role not in plan.roles:
                problems.append(Problem(("people", pid, "roles", index),
                                        f"unknown role {role!r} (plan roles: {known})"))
    for role, rotation in roster.rotations.items():
        if role not in plan.roles:
            problems.append(Problem(("rotations", role), f"unknown role {role!r} (plan roles: {known})"))
        for index, pid in enumerate(rotation.people):
            where = ("rotations", role, "people", index)
            if pid not in roster.people:
                problems.append(Problem(where, f"unknown person {pid!r}"))
            elif role not in roster.people[pid].roles:
                problems.append(Problem(where, f"{pid} does not hold role {role!r}: add it to people.{pid}.roles"))
    problems += _override_problems(roster, plan, known)
    problems += _phone_problems(roster)
    for index, window in enumerate(roster.maintenance):
        if window.station not in plan.stations:
            problems.append(Problem(("maintenance", index, "station"), f"unknown station {window.station!r}"))
    if not roster.drill_phones:
        problems.append(Problem(("drill_phones",), "no drill phones: a drill would page nobody (drills never page "
                                                   "people); add at least one sandbox number"))
    covered = set(roster.rotations) | {role for person in roster.people.values() for role in person.roles}
    for level, chain in plan.escalation.items():
        named = [role for tier in chain.tiers for role in tier.roles] + list(chain.notify)
        for role in dict.fromkeys(named):
            if role not in covered:
                problems.append(Problem(("people",), f"role {role!r} (escalation.{level} of the plan) is held by "
                                                     "nobody: give it to a person or a rotation"))
    return problems


def _override_problems(roster: Roster, plan: Plan, known: str) -> list[Problem]:
    problems: list[Problem] = []
    for index, override in enumerate(roster.overrides):
        if override.role not in plan.roles:
            problems.append(Problem(("overrides", index, "role"),
                                    f"unknown role {override.role!r} (plan roles: {known})"))
        if override.person not in roster.people:
            problems.append(Problem(("overrides", index, "person"), f"unknown person {override.person!r}"))
        for earlier in range(index):
            other = roster.overrides[earlier]
            if other.role == override.role and override.from_ < other.until and other.from_ < override.until:
                problems.append(Problem(("overrides", index), f"overlaps overrides[{earlier}] for role "
                                                               f"{override.role!r}: who holds it then?"))
    return problems


def _phone_problems(roster: Roster) -> list[Problem]:
    problems: list[Problem] = []
    owners: dict[str, tuple[str, ...]] = {}
    entries = [(("people", pid), p.phone) for pid, p in roster.people.items()]
    entries += [(("drill_phones", did), d.phone) for did, d in roster.drill_phones.items()]
    for path, phone in entries:
        first = owners.setdefault(phone, path)
        if first == path:
            continue
        if "drill_phones" in (path[0], first[0]) and path[0] != first[0]:
            message = (f"drill phone number {phone} is also a person's ({'.'.join(first)}): "
                       "drills must never reach people")
        else:
            message = f"phone {phone} is also {'.'.join(first)}'s: a reply could not tell who sent it"
        problems.append(Problem(path + ("phone",), message))
    return problems
