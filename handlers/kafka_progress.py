"""How far a consumer group is behind on its topics: what a drill runner waits on between steps."""
from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import CoordinatorLoadInProgressError, CoordinatorNotAvailableError, NotCoordinatorError


class GroupProgress:
    """Compares a group's committed offsets with the topics' end offsets.

    Committed offsets are read before end offsets: an agent sends its outputs before it commits its input, so a
    step's outputs are already in the end offsets read after its input shows as committed."""

    def __init__(self, bootstrap: str, group_id: str, topics: list[str]) -> None:
        self._group_id = group_id
        self._admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="ers-drill-progress")
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                       client_id="ers-drill-progress")
        self._partitions = [TopicPartition(topic, p) for topic in topics
                            for p in sorted(self._consumer.partitions_for_topic(topic) or ())]
        missing = sorted(set(topics) - {tp.topic for tp in self._partitions})
        if missing:
            raise RuntimeError(f"topics not found: {', '.join(missing)}")

    def behind(self) -> int | None:
        """Records on the topics the group has not committed yet; None while the group's coordinator is not ready."""
        try:
            committed = self._admin.list_group_offsets({self._group_id: self._partitions}).get(self._group_id, {})
        except (NotCoordinatorError, CoordinatorNotAvailableError, CoordinatorLoadInProgressError):
            return None
        ends = self._consumer.end_offsets(self._partitions)
        total = 0
        for tp in self._partitions:
            done = committed.get(tp)
            offset = done.offset if done is not None and done.offset >= 0 else 0
            total += max(0, ends[tp] - offset)
        return total

    def close(self) -> None:
        self._admin.close()
        self._consumer.close()
