"""The README's main job, as a user runs it: `ers up` on embedded defaults (issue 2)."""
from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from kafka import KafkaConsumer

from tests.integration.harness import REPO, TopicReader, free_port, send

pytestmark = pytest.mark.integration


def wait_for_text(path: Path, text: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.3)
    raise AssertionError(f"{text!r} not seen:\n{path.read_text(errors='replace')[-3000:]}")


def test_ers_up_runs_kafka_database_and_worker_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "ERS_KAFKA_PORT": str(port), "ERS_KAFKA_CONTROLLER_PORT": str(free_port()),
           "ERS_WEB_PORT": str(free_port()), "ERS_CONSOLE_PORT": str(free_port()), "ERS_PLAN": str(REPO / "plans" / "arxan.yaml"),
           "ERS_ROSTER": str(REPO / "plans" / "arxan-roster.yaml"),
           "ERS_ROADS": str(REPO / "plans" / "arxan-roads.geojson")}
    for name in ("ERS_BROKER", "ERS_TWILIO_ACCOUNT_SID", "ERS_TWILIO_AUTH_TOKEN", "ERS_TWILIO_FROM", "ERS_TWILIO_API_BASE"):
        env.pop(name, None)  # embedded defaults: local Kafka and the local Twilio sandbox
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "streams.cli", "up"], cwd=tmp_path, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_text(log, "Ready", process, timeout=180)
        assert (tmp_path / "var" / "ers.db").exists(), "the SQLite database is created"
        bootstrap = f"127.0.0.1:{port}"
        incidents = TopicReader(bootstrap, "ers.incidents")
        reading = {"station_id": "city_source_auto", "observed_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                   "measurements": [{"parameter": "ammonia_nitrogen", "value": 2.5, "unit": "mg/L"}]}
        send(bootstrap, "ers.readings", reading)  # no key, like a third-party producer
        records = incidents.wait_for(lambda rs: any(r["type"] == "incident.opened" for r in rs), timeout=10)
        assert records[0]["source_id"] == "arxan_city_drinking_source"
        incidents.close()
        # the duty-room console, started by `ers up` in a process of its own, shows the login page
        wait_for_text(log, "console at http://", process, timeout=60)
        url = re.search(r"console at (http://\S+/)", log.read_text()).group(1)
        assert f":{env['ERS_CONSOLE_PORT']}/" in url
        assert "has no accounts yet" in log.read_text(), "a fresh database: how to make the first account"
        deadline = time.monotonic() + 30
        while requests.get(url + "health", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "the console's read model loads"
            time.sleep(0.3)
        assert requests.get(url + "login", timeout=5).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    assert code == 0, log.read_text(errors="replace")[-3000:]
    assert "local Kafka stopped" in log.read_text()
    with pytest.raises(Exception):
        KafkaConsumer(bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=2000,
                      api_version_auto_timeout_ms=2000).topics()
