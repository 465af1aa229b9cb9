"""Several gateway processes on one port (ERS_HJ212_PROCESSES): every MN is served by its one owner, whichever
process the kernel gave the connection to. Two Gateways in one event loop stand for two processes: they share
nothing but the port and the hand-off sockets, as processes do. Run on both event loops, since passing a socket
and closing the local descriptor must leave the connection open on each."""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
import uvloop

from contingency.hj212 import StationLink
from contingency.loader import load_standards
from handlers.hj212.directory import StationDirectory
from handlers.hj212.frame import encode_frame
from handlers.hj212.handoff import Handoff, owner_of
from handlers.hj212.kafka_sink import KafkaPacketSink
from handlers.hj212.packet import encode_segment
from handlers.hj212.server import Gateway
from handlers.hj212.station import StationClient, Value, upload_packet
from handlers.kafka_admin import ensure_topics
from schemas.topics import READINGS, TopicNames
from tests.integration.harness import TopicReader, wait_until

pytestmark = pytest.mark.timeout(240)

PASSWORD = "sibling1"
CHINA = dt.timezone(dt.timedelta(hours=8))
RUNNERS: dict[str, Callable[[Coroutine[Any, Any, Any]], Any]] = {"asyncio": asyncio.run, "uvloop": uvloop.run}


def mn_of(i: int) -> str:
    return f"SIBLING{i:05d}"


def directory(stations: int) -> StationDirectory:
    links = {mn_of(i): StationLink(f"sib_{i:03d}", mn_of(i), "ERS_HJ212_PW_SIB", frozenset({"realtime"}),
                                   {"w21003": "ammonia_nitrogen"}, {"ammonia_nitrogen": "mg/L"}, "sib_source")
             for i in range(stations)}
    return StationDirectory(links, {mn: PASSWORD for mn in links}, load_standards().hj212)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@asynccontextmanager
async def siblings(broker: str, names: TopicNames, stations: int, count: int = 2,
                   started: int | None = None) -> AsyncIterator[list[Gateway]]:
    """`count` gateways sharing a port; only the first `started` of them listen (default: all)."""
    token = uuid.uuid4().hex[:12]
    async with AsyncExitStack() as stack:
        sink = KafkaPacketSink(broker, names)
        await sink.start()
        stack.push_async_callback(sink.stop)
        gateways, port = [], 0
        for index in range(count if started is None else started):
            gateway = Gateway(directory(stations), sink, now, handoff=Handoff(token, index, count))
            await gateway.start("127.0.0.1", port)
            stack.push_async_callback(gateway.close)
            port = gateway.port
            gateways.append(gateway)
        yield gateways


async def connected(port: int, mn: str) -> StationClient:
    client = StationClient(mn, PASSWORD, answer_seconds=5, resends=0)
    await client.connect("127.0.0.1", port)
    return client


@pytest.mark.parametrize("loop", RUNNERS)
def test_every_mn_is_served_by_its_owner_and_nothing_is_lost_or_doubled(broker: str, loop: str) -> None:
    names = TopicNames(f"sib{uuid.uuid4().hex[:8]}.", 2)
    ensure_topics(broker, names.specs())
    stations, base = 24, dt.datetime(2026, 7, 1, 8, 0, tzinfo=CHINA)

    async def scenario() -> tuple[list[dict[str, str]], list[int], list[bool]]:
        async with siblings(broker, names, stations) as gateways:
            clients = [await connected(gateways[0].port, mn_of(i)) for i in range(stations)]
            answers = []
            for i, client in enumerate(clients):
                if i % 3 == 0:
                    # Two packets in one write before any answer: the second must reach the owner with the socket.
                    first, second = (encode_frame(encode_segment(upload_packet(
                        mn_of(i), PASSWORD, base + dt.timedelta(minutes=k), {"w21003": Value(0.1 + k)}, now())))
                        for k in (0, 1))
                    client.send_raw(first + second)
                else:
                    answers.append(await client.upload(base, {"w21003": Value(0.2)}))
            for i, client in enumerate(clients):
                answers.append(await client.upload(base + dt.timedelta(minutes=2), {"w21003": Value(0.3)}))
            await asyncio.gather(*(c.close() for c in clients))
            return [g.connected for g in gateways], [g.accepted for g in gateways], answers

    served, accepted, answers = RUNNERS[loop](scenario())
    assert all(answers)
    owners = {mn_of(i): owner_of(mn_of(i), 2) for i in range(stations)}
    assert set(owners.values()) == {0, 1}, "the stations must hash to both processes for the test to mean anything"
    expected = stations * 2 + sum(1 for i in range(stations) if i % 3 == 0)
    assert sum(accepted) == expected
    for index in (0, 1):
        mine = [i for i in range(stations) if owners[mn_of(i)] == index]
        assert accepted[index] == sum(3 if i % 3 == 0 else 2 for i in mine)
    reader = TopicReader(broker, names.of(READINGS))
    try:
        wait_until(lambda: len(reader.poll()) >= expected, 20)
        readings = reader.poll()
    finally:
        reader.close()
    assert len(readings) == expected and len({r["event_id"] for r in readings}) == expected


@pytest.mark.parametrize("loop", RUNNERS)
def test_the_newest_connection_wins_across_processes(broker: str, loop: str) -> None:
    names = TopicNames(f"sib{uuid.uuid4().hex[:8]}.", 1)
    ensure_topics(broker, names.specs())

    async def scenario() -> tuple[bool, set[str], list[dict[str, str]]]:
        async with siblings(broker, names, 4) as gateways:
            mn = mn_of(0)
            olds = [await connected(gateways[0].port, mn) for _ in range(6)]  # the kernel spreads them
            for old in olds:
                assert await old.upload(now(), {"w21003": Value(0.2)})
            newest = await connected(gateways[0].port, mn)
            assert await newest.upload(now(), {"w21003": Value(0.2)})
            late = []
            for old in olds:
                old.answer_seconds = 1.0
                try:
                    late.append(await old.upload(now(), {"w21003": Value(0.2)}))
                except ConnectionError:
                    late.append(False)
            peer = {g.connected.get(mn) for g in gateways} - {None}
            served = [g.connected for g in gateways]
            await asyncio.gather(*(c.close() for c in [*olds, newest]))
            return any(late), peer, served

    any_old_answered, peers, served = RUNNERS[loop](scenario())
    assert any_old_answered is False
    assert len(peers) == 1  # one process holds the MN, whichever process the kernel handed each connection to
    assert mn_of(0) in served[owner_of(mn_of(0), 2)]


def test_a_station_whose_owner_is_down_is_closed_and_nothing_is_accepted(broker: str) -> None:
    names = TopicNames(f"sib{uuid.uuid4().hex[:8]}.", 1)
    ensure_topics(broker, names.specs())
    foreign = next(mn_of(i) for i in range(100) if owner_of(mn_of(i), 2) == 1)

    async def scenario() -> tuple[bool, int]:
        async with siblings(broker, names, 100, started=1) as [gateway]:
            client = await connected(gateway.port, foreign)
            client.answer_seconds = 1.0
            try:
                answered = await client.upload(now(), {"w21003": Value(0.2)})
            except ConnectionError:
                answered = False
            await client.close()
            return answered, gateway.accepted

    answered, accepted = asyncio.run(scenario())
    assert answered is False and accepted == 0
