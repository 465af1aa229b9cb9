"""Console accounts in the database (issue 16 item 7), on SQLite and PostgreSQL: argon2id hashes, disabled accounts
refused, every change and login attempt audited, and `ers users` on the command line."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from handlers.console_users import (AccountError, add_user, check_login, console_users, get_user, list_users,
                                    read_audit, set_disabled, set_password)
from handlers.database import make_engine, migrate

T0 = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.timezone.utc)
PASSWORD = "correct horse battery"


@pytest.fixture
def engine(database_url: str):
    migrate(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def name() -> str:
    return f"u{uuid.uuid4().hex[:10]}"  # PostgreSQL's database is shared by the tests


def test_an_account_is_stored_with_an_argon2id_hash_and_logs_in(engine) -> None:
    user = name()
    added = add_user(engine, user.upper(), "钱晓梅", "duty_officer", PASSWORD, T0, person_id="qian_xiaomei")
    assert (added.username, added.display_name, added.role, added.person_id) == (user, "钱晓梅", "duty_officer",
                                                                                 "qian_xiaomei")
    with engine.connect() as connection:
        stored = connection.execute(select(console_users.c.password_hash).where(
            console_users.c.username == user)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert check_login(engine, user, PASSWORD, T0, "10.0.0.1") == added
    assert check_login(engine, user, "wrong password!", T0, "10.0.0.1") is None
    assert check_login(engine, "nobody-" + user, PASSWORD, T0, "10.0.0.1") is None
    assert user in [u.username for u in list_users(engine)]


def test_changes_are_refused_with_what_was_expected(engine) -> None:
    user = name()
    add_user(engine, user, "", "viewer", PASSWORD, T0)
    with pytest.raises(AccountError, match="exists already"):
        add_user(engine, user, "", "viewer", PASSWORD, T0)
    with pytest.raises(AccountError, match="role: expected one of viewer, duty_officer"):
        add_user(engine, name(), "", "boss", PASSWORD, T0)
    with pytest.raises(AccountError, match="password: at least 10 characters"):
        set_password(engine, user, "short", T0)
    with pytest.raises(AccountError, match="user name: expected 2-64 letters"):
        add_user(engine, "钱晓梅", "", "viewer", PASSWORD, T0)
    with pytest.raises(AccountError, match="no user"):
        set_disabled(engine, "nobody-" + user, True, T0)


def test_a_disabled_account_and_an_old_password_are_refused_and_everything_is_audited(engine) -> None:
    user = name()
    add_user(engine, user, "", "section_chief", PASSWORD, T0, actor="cli:root")
    set_password(engine, user, "another good password", T0 + dt.timedelta(minutes=1), actor="cli:root")
    assert check_login(engine, user, PASSWORD, T0, "10.0.0.2") is None
    assert check_login(engine, user, "another good password", T0, "10.0.0.2") is not None
    set_disabled(engine, user, True, T0 + dt.timedelta(minutes=2))
    assert get_user(engine, user).disabled
    assert check_login(engine, user, "another good password", T0, "10.0.0.2") is None
    mine = [(e.action, e.outcome, e.source) for e in read_audit(engine, 500) if e.target == user]
    assert mine == [("login", "refused", "10.0.0.2"), ("user.disable", "ok", "cli"), ("login", "ok", "10.0.0.2"),
                    ("login", "refused", "10.0.0.2"), ("user.passwd", "ok", "cli"), ("user.add", "ok", "cli")]


def test_a_hash_with_older_parameters_is_replaced_at_the_next_login(engine) -> None:
    user = name()
    add_user(engine, user, "", "viewer", PASSWORD, T0)
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    with engine.begin() as connection:
        connection.execute(update(console_users).where(console_users.c.username == user).values(password_hash=weak))
    assert check_login(engine, user, PASSWORD, T0, "10.0.0.3") is not None
    with engine.connect() as connection:
        stored = connection.execute(select(console_users.c.password_hash).where(
            console_users.c.username == user)).scalar_one()
    assert stored != weak and not PasswordHasher().check_needs_rehash(stored)


def test_ers_users_on_the_command_line(database_url: str, monkeypatch, capsys) -> None:
    from streams.cli import main

    user = name()
    monkeypatch.setenv("ERS_DATABASE_URL", database_url)
    monkeypatch.setenv("ERS_NEW_PASSWORD", PASSWORD)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["users", "add", user, "--role", "duty_officer", "--name", "钱晓梅", "--person", "qian_xiaomei"]) == 0
    assert main(["users", "list"]) == 0
    out = capsys.readouterr().out
    assert user in out and "钱晓梅" in out and "值班员" in out and PASSWORD not in out
    assert main(["users", "add", name(), "--role", "duty_officer", "--person", "nobody"]) == 1
    assert "--person: expected a person id of the roster" in capsys.readouterr().err
    monkeypatch.setenv("ERS_NEW_PASSWORD", "short")
    assert main(["users", "passwd", user]) == 1
    assert "password: at least 10 characters, got 5" in capsys.readouterr().err
    assert main(["users", "disable", user]) == 0
    assert main(["users", "audit", "--limit", "5"]) == 0
    assert "user.disable" in capsys.readouterr().out
