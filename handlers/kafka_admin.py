"""Creating the topics ERS needs, with explicit partition counts, and reading the record sizes the broker takes.

A broker's default partition count can differ from ours, and co-partitioned tables break when it
does, so topics are created before the worker starts and an existing topic with the wrong count is
an error, not a warning.
"""
from __future__ import annotations

import logging
import socket
from collections.abc import Iterable

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from schemas.topics import TopicSpec

log = logging.getLogger("ers.kafka")


class TopicLayoutError(RuntimeError):
    pass


def broker_reachable(bootstrap: str, timeout: float = 3.0) -> bool:
    """Whether something accepts connections at the first bootstrap address (a quick check before a long job)."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def topics_with_prefix(bootstrap: str, prefix: str) -> list[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="ers-admin")
    try:
        return sorted(name for name in admin.list_topics() if name.startswith(prefix))
    finally:
        admin.close()


def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the missing topics; returns the names created. Raises TopicLayoutError on a mismatch."""
    specs = list(specs)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="ers-admin")
    try:
        existing = {t["name"]: len(t["partitions"]) for t in admin.describe_topics([s.name for s in specs])
                    if t.get("error_code", 0) == 0}
        wrong = [f"{s.name} has {existing[s.name]} partitions, ERS needs {s.partitions}"
                 for s in specs if s.name in existing and existing[s.name] != s.partitions]
        if wrong:
            raise TopicLayoutError(
                "topic layout does not match: " + "; ".join(wrong)
                + " (use another ERS_TOPIC_PREFIX, or delete and recreate these topics)"
            )
        missing = [s for s in specs if s.name not in existing]
        if missing:
            admin.create_topics(
                {s.name: {"num_partitions": s.partitions, "replication_factor": 1, "configs": s.config} for s in missing},
                wait_for_metadata=True,
            )
            log.info("created topics: %s", ", ".join(s.name for s in missing))
        return [s.name for s in missing]
    finally:
        admin.close()


def ensure_topic_configs(bootstrap: str, topics: Iterable[str], configs: dict[str, str]) -> list[str]:
    """Set `configs` on those of `topics` that exist and differ (one incremental change each; other settings are
    left alone); returns the topics changed."""
    topics = list(topics)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="ers-admin")
    try:
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, list(configs)) for name in topics],
            config_filter="all").get("topic", {})
        stale = [name for name in topics if described.get(name)
                 and any(described[name].get(key, {}).get("value") != value for key, value in configs.items())]
        if stale:
            admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, dict(configs)) for name in stale])
            log.info("topic settings %s set on %s", ", ".join(f"{k}={v}" for k, v in configs.items()),
                     ", ".join(stale))
        return stale
    finally:
        admin.close()


def record_limits(bootstrap: str, topics: Iterable[str]) -> dict[str, int]:
    """The largest record batch the broker accepts on each topic, in bytes: the topic's `max.message.bytes`, or the
    broker's `message.max.bytes` for a topic the broker does not describe."""
    topics = list(topics)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="ers-admin")
    try:
        # kafka-python 3 answers {resource type: {name: {config: {"value": ...}}}}, {} for a missing topic.
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, ["max.message.bytes"]) for name in topics],
            config_filter="all").get("topic", {})
        limits = {name: int(described[name]["max.message.bytes"]["value"]) for name in topics
                  if "max.message.bytes" in described.get(name, {})}
        if len(limits) < len(topics):
            broker = str(admin.describe_cluster()["brokers"][0]["broker_id"])
            configs = admin.describe_configs(
                [ConfigResource(ConfigResourceType.BROKER, broker, ["message.max.bytes"])], config_filter="all")
            default = int(configs["broker"][broker]["message.max.bytes"]["value"])
            limits.update({name: default for name in topics if name not in limits})
        return limits
    finally:
        admin.close()
