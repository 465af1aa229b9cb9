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


def test_topic_settings_are_set_on_existing_topics_only_where_they_differ(broker: str) -> None:
    from kafka.admin import ConfigResource, ConfigResourceType

    from handlers.kafka_admin import ensure_topic_configs

    prefix = f"cfg{uuid.uuid4().hex[:8]}."
    plain, done, missing = prefix + "plain", prefix + "done", prefix + "missing"
    wanted = {"segment.ms": "600000", "min.cleanable.dirty.ratio": "0.1"}
    ensure_topics(broker, [TopicSpec(plain, 1, {"cleanup.policy": "compact", "max.message.bytes": "300000"}),
                           TopicSpec(done, 1, wanted)])
    admin = KafkaAdminClient(bootstrap_servers=broker)
    try:
        assert ensure_topic_configs(broker, [plain, done, missing], wanted) == [plain], \
            "only the existing topic whose settings differ is changed"
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, plain, [*wanted, "cleanup.policy", "max.message.bytes"])],
            config_filter="all")["topic"][plain]
        assert {key: described[key]["value"] for key in wanted} == wanted
        assert described["cleanup.policy"]["value"] == "compact" and described["max.message.bytes"]["value"] == "300000", \
            "the topic's other settings are kept"
        assert ensure_topic_configs(broker, [plain, done], wanted) == [], "nothing to change the second time"
    finally:
        try:
            admin.delete_topics([plain, done])
        finally:
            admin.close()
