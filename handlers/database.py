"""The SQL database: engine creation and schema migrations (Alembic), SQLite or PostgreSQL."""
from __future__ import annotations

import logging
from pathlib import Path

import datetime as dt

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.engine import make_url

log = logging.getLogger("ers.db")
MIGRATIONS = Path(__file__).with_name("migrations")


CONNECT_TIMEOUT_SECONDS = 5  # a database host that does not answer fails a connection this soon


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    if parsed.get_backend_name() == "postgresql":
        # After a database restart every pooled connection is dead: test each before use rather than fail a page on
        # it, and do not hang on a host that does not answer.
        return create_engine(url, future=True, pool_pre_ping=True,
                             connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    return create_engine(url, future=True)


def ping(engine: Engine) -> None:
    """Raises unless the database answers."""
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")


class DatabaseNotReady(RuntimeError):
    pass


def _config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def open_migrated(url: str) -> Engine:
    """An engine on a database at the newest schema, for reading (it migrates nothing); DatabaseNotReady if the
    database is missing or behind."""
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not Path(parsed.database).exists():
        raise DatabaseNotReady(f"no database at {shown} yet: start the worker (`ers up`), or run `ers db upgrade`")
    engine = make_engine(url)
    head = ScriptDirectory.from_config(_config(url)).get_current_head()
    with engine.connect() as connection:
        current = (connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
                   if inspect(connection).has_table("alembic_version") else None)
    if current != head:
        engine.dispose()
        raise DatabaseNotReady(f"database {shown} is at revision {current or 'none'}, ERS needs {head}: run "
                               "`ers db upgrade` (the worker also migrates when it starts)")
    return engine


def migrate(url: str) -> str:
    """Bring the database to the newest schema; returns the revision it is at."""
    engine = make_engine(url)
    config = _config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with engine.connect() as connection:
        revision = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    log.info("database %s at revision %s (tables: %s)", make_url(url).render_as_string(hide_password=True),
             revision, ", ".join(sorted(inspect(engine).get_table_names())))
    engine.dispose()
    return revision


def is_claimed(engine: Engine, key: str) -> bool:
    with engine.connect() as connection:
        return connection.execute(text("SELECT 1 FROM processed_events WHERE event_id = :key"),
                                  {"key": key}).first() is not None


def claim_once(engine: Engine, key: str, consumer: str, now: dt.datetime) -> bool:
    """True the first time `key` is claimed (processed_events), False ever after: for work done once per key."""
    try:
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO processed_events (event_id, consumer, processed_at) VALUES (:key, :consumer, :now)"),
                {"key": key, "consumer": consumer, "now": now})
    except IntegrityError:
        return False
    return True
