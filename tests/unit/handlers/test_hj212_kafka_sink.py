"""The gateway's Kafka sink: its partitioner must put a key where Kafka's default would (other producers of the
same topics use it)."""
from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, settings, strategies as st

from handlers.hj212.kafka_sink import RememberingPartitioner


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=40), st.integers(min_value=1, max_value=64))
def test_the_gateways_partitioner_is_kafkas_default(key, partitions):
    remembering, all_partitions = RememberingPartitioner(), list(range(partitions))
    expected = DefaultPartitioner()(key, all_partitions, all_partitions)
    assert remembering(key, all_partitions, all_partitions) == expected
    assert remembering(key, all_partitions, []) == expected, "and stays so when remembered"
