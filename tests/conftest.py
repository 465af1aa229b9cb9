"""Shared fixtures. Integration tests run against a real Kafka broker: ERS_TEST_BROKER if set,
otherwise an ephemeral local broker started once per test session."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    external = os.environ.get("ERS_TEST_BROKER")
    if external:
        yield external
        return
    from deploy.local.kafka import LocalKafka

    kafka = LocalKafka(ephemeral=True)
    kafka.start()
    try:
        yield kafka.bootstrap
    finally:
        kafka.stop()


@pytest.fixture(scope="session")
def twilio_api() -> Iterator[object]:  # deploy.local.twilio_api.LocalTwilioApi
    """A local server speaking Twilio's Messages API; the real twilio library is pointed at it."""
    from deploy.local.twilio_api import LocalTwilioApi, fake_account_sid, fake_auth_token

    with LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid(), callback_delay=0.05) as api:
        yield api


DATABASES = ["sqlite"] + (["postgres"] if os.environ.get("ERS_TEST_POSTGRES_URL") else [])


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite always (in a folder that does not exist yet); PostgreSQL too when ERS_TEST_POSTGRES_URL is set (CI)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nested' / 'ers.db'}"
    return os.environ["ERS_TEST_POSTGRES_URL"]
