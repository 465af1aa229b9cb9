"""Migrations run on SQLite (always) and on PostgreSQL (when ERS_TEST_POSTGRES_URL is set, as in CI)."""
from __future__ import annotations


from sqlalchemy import inspect

from handlers.database import make_engine, migrate





def test_migrate_creates_the_schema_and_is_repeatable(database_url: str) -> None:
    assert migrate(database_url) == migrate(database_url)
    tables = set(inspect(make_engine(database_url)).get_table_names())
    assert {"alembic_version", "processed_events"} <= tables


def test_claim_once_claims_a_key_once(database_url: str) -> None:
    import datetime as dt
    import uuid

    from handlers.database import claim_once, is_claimed

    migrate(database_url)
    engine = make_engine(database_url)
    key = str(uuid.uuid4())
    now = dt.datetime.now(dt.timezone.utc)
    assert not is_claimed(engine, key)
    assert claim_once(engine, key, "test", now) is True
    assert claim_once(engine, key, "test", now) is False
    assert is_claimed(engine, key)
