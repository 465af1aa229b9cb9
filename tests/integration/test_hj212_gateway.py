"""The HJ 212 gateway over real TCP, producing to the real broker; stations are `StationClient`s."""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from contingency.hj212 import OpenIncident, station_orders
from contingency.loader import load_plan, load_standards
from deploy.local.kafka import LocalKafka, free_port
from handlers.hj212.directory import StationDirectory
from handlers.hj212.frame import encode_frame
from handlers.hj212.kafka_sink import KafkaPacketSink
from handlers.hj212.packet import Version, encode_segment
from handlers.hj212.server import Gateway, GatewayLimits
from handlers.hj212.station import StationClient, Value, upload_packet
from handlers.kafka_admin import ensure_topics
from schemas.topics import DLQ, HJ212_RAW, READINGS, STATION_EXCHANGES, TopicNames
from tests.integration.harness import REPO, TopicReader, wait_until

pytestmark = pytest.mark.timeout(240)

PLAN = load_plan(REPO / "plans" / "arxan.yaml")
MN = "150000HLHDSK000000000001"
PASSWORD = "trial123"
ENV = {"ERS_HJ212_PW_HLH_DSK": PASSWORD}
CHINA = dt.timezone(dt.timedelta(hours=8))


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def topics() -> TopicNames:
    return TopicNames(f"gw{uuid.uuid4().hex[:8]}.", 1)


@asynccontextmanager
async def running_gateway(broker: str, names: TopicNames, limits: GatewayLimits = GatewayLimits(),
                          ack_timeout: float = 10.0) -> AsyncIterator[Gateway]:
    ensure_topics(broker, names.specs())
    sink = KafkaPacketSink(broker, names, ack_timeout_seconds=ack_timeout)
    await sink.start()
    gateway = Gateway(StationDirectory.from_plan(PLAN, load_standards().hj212, ENV), sink, now, limits)
    await gateway.start("127.0.0.1", 0)
    try:
        yield gateway
    finally:
        await gateway.close()
        await sink.stop()


@asynccontextmanager
async def station(gateway: Gateway, password: str = PASSWORD, mn: str = MN, **kw: object) -> AsyncIterator[StationClient]:
    client = StationClient(mn, password, **kw)  # type: ignore[arg-type]
    await client.connect("127.0.0.1", gateway.port)
    try:
        yield client
    finally:
        await client.close()


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def read(broker: str, topic: str, count: int, timeout: float = 20.0) -> list[dict]:
    reader = TopicReader(broker, topic)
    try:
        wait_until(lambda: len(reader.poll()) >= count, timeout)
        return reader.poll()
    finally:
        reader.close()


def test_upload_becomes_a_reading_and_a_raw_record_then_the_answer(broker: str) -> None:
    names = topics()
    data_time = dt.datetime(2026, 7, 1, 8, 0, tzinfo=CHINA)

    async def scenario() -> bool:
        async with running_gateway(broker, names) as gateway, station(gateway) as client:
            return await client.upload(data_time, {"w20115": Value(0.02), "w21003": Value(0.3, "M")})

    assert asyncio.run(scenario()) is True
    [reading] = read(broker, names.of(READINGS), 1)
    assert reading["station_id"] == "hlh_dsk_auto"
    assert dt.datetime.fromisoformat(reading["observed_at"]) == data_time
    by_parameter = {m["parameter"]: m for m in reading["measurements"]}
    assert by_parameter["cadmium"]["value"] == 0.02 and by_parameter["cadmium"]["flag"] == "N"
    assert by_parameter["ammonia_nitrogen"]["flag"] == "M"
    [raw] = read(broker, names.of(HJ212_RAW), 1)
    assert raw["mn"] == MN and raw["cn"] == "2011" and raw["packet"].startswith("##")


def test_refusals_go_to_the_dead_letter_topic_and_other_stations_never_notice(broker: str) -> None:
    names = topics()

    async def scenario() -> bool:
        async with running_gateway(broker, names) as gateway, station(gateway) as good, \
                station(gateway, password="wrong", answer_seconds=0.5, resends=0) as forger, \
                station(gateway, mn="150000UNKNOWN00000000001", answer_seconds=0.5, resends=0) as stranger:
            assert not await forger.upload(now(), {"w20115": Value(0.001)})
            assert not await stranger.upload(now(), {"w20115": Value(0.001)})
            frame = encode_frame(encode_segment(upload_packet(MN, PASSWORD, now(), {"w20115": Value(0.001)}, now())))
            good.send_raw(b"garbage" + frame[:-6] + b"0000\r\n")   # a bad CRC after garbage
            good.send_raw(b"##9999" + b"x" * 20 + b"\r\n")            # oversize length
            return await good.upload(now(), {"w20115": Value(0.001), "w99999": Value(1.0)})

    assert asyncio.run(scenario()) is True
    letters = read(broker, names.of(DLQ), 5)
    reasons = " | ".join(letter["error"] for letter in letters)
    for expected in ("wrong password for station hlh_dsk_auto", "unknown MN 150000UNKNOWN00000000001", "CRC",
                     "unknown factor code(s) w99999"):
        assert expected in reasons, reasons
    assert all(letter["peer"].startswith("127.0.0.1:") and letter["payload"] for letter in letters)
    # The good station's packet with one unknown code still gave its known value.
    [reading] = read(broker, names.of(READINGS), 1)
    assert [m["parameter"] for m in reading["measurements"]] == ["cadmium"]


def test_resent_packet_is_the_same_reading(broker: str) -> None:
    names = topics()
    packet = upload_packet(MN, PASSWORD, dt.datetime(2026, 7, 1, 9, 0, tzinfo=CHINA), {"w20115": Value(0.004)},
                           now())

    async def scenario() -> None:
        async with running_gateway(broker, names) as gateway, station(gateway) as client:
            assert await client.send(packet)
            assert await client.send(packet)  # the station missed the answer and sends it again

    asyncio.run(scenario())
    readings = read(broker, names.of(READINGS), 2)
    assert len(readings) == 2 and readings[0]["event_id"] == readings[1]["event_id"]


def test_broker_down_means_no_answer_and_the_resent_packet_arrives_once_back(tmp_path: Path) -> None:
    kafka = LocalKafka(tmp_path / "kafka", port=free_port(), controller_port=free_port())
    kafka.start()
    names = topics()
    packet = upload_packet(MN, PASSWORD, dt.datetime(2026, 7, 1, 10, 0, tzinfo=CHINA), {"w20115": Value(0.003)},
                           now())
    try:
        async def scenario() -> tuple[bool, bool]:
            async with running_gateway(kafka.bootstrap, names, ack_timeout=3.0) as gateway, \
                    station(gateway, answer_seconds=6.0, resends=0) as client:
                await asyncio.to_thread(kafka.stop)
                while_down = await client.send(packet)
                await asyncio.to_thread(kafka.start)
                client.resends = 10
                return while_down, await client.send(packet)

        while_down, after = asyncio.run(scenario())
        assert while_down is False, "the gateway answered a packet the broker never acknowledged"
        assert after is True
        readings = read(kafka.bootstrap, names.of(READINGS), 1)
        assert len({r["event_id"] for r in readings}) == 1
    finally:
        kafka.stop()


def test_an_open_incident_shortens_the_interval_and_asks_for_a_sample_then_restores(broker: str) -> None:
    names = topics()
    incident = str(uuid.uuid4())

    async def scenario() -> StationClient:
        async with running_gateway(broker, names) as gateway, station(gateway, rtd_interval=300) as client:
            assert await client.upload(now(), {"w20115": Value(0.02)})  # the gateway knows it now
            gateway.apply(station_orders(PLAN, {"halaha_dashankuang": [OpenIncident(incident, "cadmium")]}))
            await until(lambda: client.rtd_interval == 60 and any(p.cn == "3012" for p in client.commands))
            await until(lambda: gateway.sampled == {(MN, incident)})
            gateway.apply(station_orders(PLAN, {}))  # resolved
            await until(lambda: gateway.confirmed_intervals.get(MN) == 300)
            assert client.rtd_interval == 300
            return client

    client = asyncio.run(scenario())
    commands = [(p.cn, p.cp) for p in client.commands]
    assert commands == [("1062", "RtdInterval=60"), ("3012", "PolId=w20115"), ("1062", "RtdInterval=300")]
    exchanges = read(broker, names.of(STATION_EXCHANGES), 9)
    steps = [(e["cn"], e["step"], e["incident_id"]) for e in exchanges]
    assert ("1062", "execution_answer", incident) in steps
    assert ("3012", "execution_answer", incident) in steps
    assert ("1062", "execution_answer", None) in steps  # the restore belongs to no incident


def test_the_newest_connection_for_an_mn_wins(broker: str) -> None:
    names = topics()

    async def scenario() -> tuple[bool, str]:
        async with running_gateway(broker, names) as gateway, station(gateway) as old:
            assert await old.upload(now(), {"w20115": Value(0.001)})
            async with station(gateway) as new:
                assert await new.upload(now(), {"w20115": Value(0.001)})
                old.resends, old.answer_seconds = 0, 1.0
                try:
                    answered = await old.upload(now(), {"w20115": Value(0.001)})
                except ConnectionError:
                    answered = False
                return answered, gateway.connected[MN]

    answered, peer = asyncio.run(scenario())
    assert answered is False and peer.startswith("127.0.0.1:")


def test_a_slow_partial_packet_is_cut_off(broker: str) -> None:
    names = topics()

    async def scenario() -> bool:
        async with running_gateway(broker, names, GatewayLimits(partial_seconds=0.5)) as gateway, \
                station(gateway) as client:
            client.send_raw(b"##0101QN=2026")  # and nothing more
            await asyncio.sleep(1.5)
            return bool(gateway._connections)

    assert asyncio.run(scenario()) is False


def test_an_idle_connection_is_closed_and_a_busy_one_is_not(broker: str) -> None:
    names = topics()
    other_mn, other_env = "150000ARXSY0000000000001", {"ERS_HJ212_PW_CITY_SOURCE": "city123"}

    async def scenario() -> tuple[int, bool]:
        ENV.update(other_env)
        try:
            async with running_gateway(broker, names, GatewayLimits(idle_seconds=1.0)) as gateway, \
                    station(gateway) as idle, station(gateway, password="city123", mn=other_mn) as busy:
                assert await idle.upload(now(), {"w20115": Value(0.001)})
                for _ in range(6):  # 1.8 s of uploads, each within the idle limit of the one before
                    assert await busy.upload(now(), {"w21003": Value(0.2)})
                    await asyncio.sleep(0.3)
                return len(gateway._connections), MN in gateway.connected
        finally:
            for key in other_env:
                ENV.pop(key)

    held, idle_still_there = asyncio.run(scenario())
    assert held == 1 and idle_still_there is False


def test_2005_station_gets_a_2005_answer(broker: str) -> None:
    names = topics()

    async def scenario() -> bool:
        async with running_gateway(broker, names) as gateway, station(gateway, version=Version.HJ212_2005) as client:
            return await client.upload(dt.datetime(2026, 7, 1, 11, 0, tzinfo=CHINA), {"022": Value(0.002)})

    assert asyncio.run(scenario()) is True
    [reading] = read(broker, names.of(READINGS), 1)
    assert reading["measurements"][0]["parameter"] == "cadmium"
