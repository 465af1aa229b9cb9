"""Console accounts and the audit log in the SQL database (issue 16): argon2id password hashes (argon2-cffi, its
RFC 9106 low-memory profile), rehashed when the parameters change; every change to an account, and every login
attempt, is an audit entry (who, when, what, from where)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, Column, DateTime, Engine, Integer, MetaData, String, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from contingency.access import ROLES, password_problem

_HASHER = PasswordHasher()
# Verifying an unknown user's password costs as much as a known one's: timing does not tell which names exist.
_DUMMY_HASH = _HASHER.hash("not a password of anybody")


_metadata = MetaData()
console_users = Table(  # created by migration 0007
    "console_users", _metadata,
    Column("username", String(64), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("person_id", String(128), nullable=True),
    Column("password_hash", String(512), nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("password_changed_at", DateTime(timezone=True), nullable=False),
)
console_audit = Table(
    "console_audit", _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=False),
    Column("detail", String(1000), nullable=False),
    Column("source", String(200), nullable=False),
    Column("outcome", String(32), nullable=False),
)
_USER_COLUMNS = [console_users.c[name] for name in ("username", "display_name", "role", "person_id", "disabled",
                                                   "created_at", "password_changed_at")]


class AccountError(ValueError):
    """A refused account change, with what was expected."""


@dataclass(frozen=True)
class User:
    username: str
    display_name: str
    role: str
    person_id: str | None
    disabled: bool
    created_at: dt.datetime
    password_changed_at: dt.datetime


@dataclass(frozen=True)
class AuditEntry:
    at: dt.datetime
    actor: str
    action: str
    target: str
    detail: str
    source: str
    outcome: str


def add_user(engine: Engine, username: str, display_name: str, role: str, password: str, now: dt.datetime,
             person_id: str | None = None, actor: str = "cli", source: str = "cli") -> User:
    username = _username(username)
    if role not in ROLES:
        raise AccountError(f"role: expected one of {', '.join(ROLES)}, got {role!r}")
    _check_password(password, username)
    try:
        with engine.begin() as connection:
            connection.execute(insert(console_users).values(
                username=username, display_name=display_name or username, role=role, person_id=person_id,
                password_hash=_HASHER.hash(password), disabled=False, created_at=now, password_changed_at=now))
            _audit(connection, now, actor, "user.add", username, f"role {role}", source)
    except IntegrityError:
        raise AccountError(f"user {username!r} exists already (`ers users passwd` changes a password)") from None
    found = get_user(engine, username)
    assert found is not None
    return found


def set_password(engine: Engine, username: str, password: str, now: dt.datetime, actor: str = "cli",
                 source: str = "cli") -> None:
    username = _username(username)
    _check_password(password, username)
    with engine.begin() as connection:
        changed = connection.execute(update(console_users).where(console_users.c.username == username).values(
            password_hash=_HASHER.hash(password), password_changed_at=now)).rowcount
        if not changed:
            raise AccountError(f"no user {username!r} (`ers users list` lists them)")
        _audit(connection, now, actor, "user.passwd", username, "", source)


def set_disabled(engine: Engine, username: str, disabled: bool, now: dt.datetime, actor: str = "cli",
                 source: str = "cli") -> None:
    username = _username(username)
    with engine.begin() as connection:
        changed = connection.execute(update(console_users).where(console_users.c.username == username).values(
            disabled=disabled)).rowcount
        if not changed:
            raise AccountError(f"no user {username!r} (`ers users list` lists them)")
        _audit(connection, now, actor, "user.disable" if disabled else "user.enable", username, "", source)


def get_user(engine: Engine, username: str) -> User | None:
    with engine.connect() as connection:
        row = connection.execute(select(*_USER_COLUMNS).where(
            console_users.c.username == username.strip().lower())).first()
    return _user(row) if row is not None else None


def list_users(engine: Engine) -> list[User]:
    with engine.connect() as connection:
        rows = connection.execute(select(*_USER_COLUMNS).order_by(console_users.c.username)).all()
    return [_user(row) for row in rows]


def check_login(engine: Engine, username: str, password: str, now: dt.datetime, source: str) -> User | None:
    """The user, if the password is theirs and the account is enabled; every attempt is audited. A hash made with
    older parameters is replaced by one with the current ones."""
    username = username.strip().lower()
    with engine.connect() as connection:
        row = connection.execute(select(console_users.c.password_hash).where(
            console_users.c.username == username, console_users.c.disabled.is_(False))).first()
    stored = row[0] if row is not None else _DUMMY_HASH
    try:
        _HASHER.verify(stored, password)
        ok = row is not None
    except (VerificationError, InvalidHashError):
        ok = False
    with engine.begin() as connection:
        if ok and _HASHER.check_needs_rehash(stored):
            connection.execute(update(console_users).where(console_users.c.username == username).values(
                password_hash=_HASHER.hash(password)))
        _audit(connection, now, username or "-", "login", username, "", source, "ok" if ok else "refused")
    return get_user(engine, username) if ok else None


def audit(engine: Engine, now: dt.datetime, actor: str, action: str, target: str = "", detail: str = "",
          source: str = "", outcome: str = "ok") -> None:
    with engine.begin() as connection:
        _audit(connection, now, actor, action, target, detail, source, outcome)


def read_audit(engine: Engine, limit: int = 200) -> list[AuditEntry]:
    """The latest entries, newest first."""
    with engine.connect() as connection:
        c = console_audit.c
        rows = connection.execute(select(c.at, c.actor, c.action, c.target, c.detail, c.source, c.outcome)
                                  .order_by(c.id.desc()).limit(limit)).all()
    return [AuditEntry(_aware(r[0]), *r[1:]) for r in rows]


def _audit(connection, now: dt.datetime, actor: str, action: str, target: str, detail: str, source: str,
           outcome: str = "ok") -> None:
    connection.execute(insert(console_audit).values(
        at=now, actor=actor[:200], action=action, target=target[:200], detail=detail[:1000], source=source[:200],
        outcome=outcome))


def _check_password(password: str, username: str) -> None:
    problem = password_problem(password, username)
    if problem is not None:
        raise AccountError(f"password: {problem}")


def _username(username: str) -> str:
    name = username.strip().lower()
    if not (2 <= len(name) <= 64) or not all(c.isascii() and (c.isalnum() or c in "._-") for c in name):
        raise AccountError(f"user name: expected 2-64 letters, digits, '.', '_' or '-', got {username!r}")
    return name


def _user(row) -> User:
    return User(row[0], row[1], row[2], row[3], bool(row[4]), _aware(row[5]), _aware(row[6]))


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)
