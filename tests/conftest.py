"""Shared fixtures. Integration tests run against a real Kafka broker: ERS_TEST_BROKER if set,
otherwise an ephemeral local broker started once per test session."""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    external = os.environ.get("ERS_TEST_BROKER")
    if external:
        yield external
        return
    from handlers.local_kafka import LocalKafka

    kafka = LocalKafka(ephemeral=True)
    kafka.start()
    try:
        yield kafka.bootstrap
    finally:
        kafka.stop()
