"""Reading the broker's record size limits (handlers.kafka_admin) on a real broker."""
from __future__ import annotations

import uuid

import pytest
from kafka.admin import KafkaAdminClient

from handlers.kafka_admin import ensure_topics, record_limits
from schemas.topics import TopicSpec

pytestmark = pytest.mark.integration


def test_record_limits_read_the_topics_setting_else_the_brokers(broker: str) -> None:
    prefix = f"lim{uuid.uuid4().hex[:8]}."
    small, plain, missing = prefix + "small", prefix + "plain", prefix + "missing"
    ensure_topics(broker, [TopicSpec(small, 1, {"max.message.bytes": "200000"}), TopicSpec(plain, 1)])
    try:
        limits = record_limits(broker, [small, plain, missing])
        assert limits[small] == 200_000
        assert limits[plain] != 200_000
        assert limits[missing] == limits[plain], "a topic the broker does not describe: the broker's own limit"
    finally:
        admin = KafkaAdminClient(bootstrap_servers=broker)
        try:
            admin.delete_topics([small, plain])
        finally:
            admin.close()
