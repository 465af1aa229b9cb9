"""`ers gateway` with ERS_HJ212_PROCESSES=2, as an operator runs it: both plan stations are served whichever
process the kernel hands their connection to; a process killed with SIGKILL is restarted and its stations are
served again; SIGTERM stops every process. Real broker, real `ers` processes, `StationClient`s over TCP."""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from deploy.local.kafka import free_port
from handlers.hj212.station import StationClient, Value
from tests.integration.harness import REPO, TopicReader, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

STATIONS = {"hlh_dsk_auto": ("150000HLHDSK000000000001", "ERS_HJ212_PW_HLH_DSK", "w20115"),
            "city_source_auto": ("150000ARXSY0000000000001", "ERS_HJ212_PW_CITY_SOURCE", "w21003")}
PASSWORDS = {"hlh_dsk_auto": "hlh123", "city_source_auto": "city123"}
CHINA = dt.timezone(dt.timedelta(hours=8))


def children(pid: int) -> list[int]:
    """The gateway processes the parent started (not multiprocessing's resource tracker)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return [p for p in found if b"spawn_main" in _cmdline(p)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


async def upload_each(port: int, at: dt.datetime) -> dict[str, bool]:
    answered = {}
    for station_id, (mn, env, code) in STATIONS.items():
        client = StationClient(mn, PASSWORDS[station_id], answer_seconds=3, resends=0)
        try:
            await client.connect("127.0.0.1", port)
            answered[station_id] = await client.upload(at, {code: Value(0.001)})
        except ConnectionError:
            answered[station_id] = False
        finally:
            await client.close()
    return answered


def test_two_processes_serve_every_station_and_one_killed_comes_back(broker: str, tmp_path: Path) -> None:
    prefix, port = f"gwp{uuid.uuid4().hex[:8]}.", free_port()
    env = {**os.environ, "ERS_BROKER": broker, "ERS_TOPIC_PREFIX": prefix, "ERS_HJ212_PORT": str(port),
           "ERS_HJ212_PROCESSES": "2", "COLUMNS": "400", **{env: PASSWORDS[sid] for sid, (_, env, _) in STATIONS.items()}}
    log = (tmp_path / "gateway.log").open("w+")
    gateway = subprocess.Popen([sys.executable, "-m", "streams.cli", "gateway"], cwd=REPO, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: (tmp_path / "gateway.log").read_text().count("listening on") == 2, 60)
        base = dt.datetime(2026, 7, 1, 8, 0, tzinfo=CHINA)
        for k in range(3):  # new connections each round: the kernel spreads them over both processes
            assert all(asyncio.run(upload_each(port, base + dt.timedelta(minutes=k))).values())

        victim = children(gateway.pid)[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: victim not in children(gateway.pid) and len(children(gateway.pid)) == 2, 30)
        deadline, answered = time.monotonic() + 60, {}
        at = base + dt.timedelta(minutes=10)
        while time.monotonic() < deadline:  # as a station does: retry until the gateway answers
            answered = asyncio.run(upload_each(port, at))
            if all(answered.values()):
                break
            time.sleep(0.5)
        assert all(answered.values()), answered
        serving = children(gateway.pid)
    finally:
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(30)
        log.close()
    output = (tmp_path / "gateway.log").read_text()
    assert gateway.returncode == 0, output
    assert "exited with -9" in output and "restarting" in output
    assert not [pid for pid in serving if Path(f"/proc/{pid}").exists()]

    reader = TopicReader(broker, f"{prefix}readings")
    try:
        readings = reader.settle(3)
    finally:
        reader.close()
    per_station = {sid: {r["event_id"] for r in readings if r["station_id"] == sid} for sid in STATIONS}
    assert {sid: len(ids) for sid, ids in per_station.items()} == {sid: 4 for sid in STATIONS}

