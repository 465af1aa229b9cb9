"""What an operator reads: a normal start, a reading that opens an incident, and a stop log no ERROR, on the
console and as JSON lines (ERS_LOG_FORMAT=json), Faust's own lines included."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest

from tests.integration.harness import TopicReader, WorkerProcess, send

pytestmark = pytest.mark.timeout(240)


def opening_reading() -> dict:
    return {"event_id": str(uuid.uuid4()), "station_id": "yirshi_wwtp_online",
            "observed_at": (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)).isoformat(),
            "measurements": [{"parameter": "cod", "value": 72.0, "unit": "mg/L"}]}


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_a_normal_start_and_stop_log_no_error(broker: str, twilio_api, tmp_path: Path, log_format: str) -> None:
    worker = WorkerProcess(broker, tmp_path, twilio_api, env={"ERS_LOG_FORMAT": log_format}).start()
    try:
        send(broker, worker.topic("readings"), opening_reading(), key="yirshi_wwtp_online")
        incidents = TopicReader(broker, worker.topic("incidents"))
        incidents.wait_for(lambda rs: any(r["type"] == "incident.opened" for r in rs), 60)
        incidents.close()
    finally:
        worker.stop()
    log = worker.log_since_start()
    assert worker.process is not None and worker.process.returncode == 0, log[-3000:]
    if log_format == "console":
        assert " ERROR " not in log and "CRITICAL" not in log, log
        assert "Ready" in log and "Stopping" in log
        return
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert {"time", "level", "logger", "message", "process"} <= set(records[0])
    assert not [r for r in records if r["level"] in ("ERROR", "CRITICAL")], log
    messages = [r["message"] for r in records]
    assert any(m.endswith("[^Worker]: Ready") for m in messages)  # Faust's lines are JSON too
    assert any("Stopping" in m for m in messages)
    people_text = [line for line in log.splitlines() if line and not line.startswith("{")]
    assert not any("ERROR" in line or "Traceback" in line for line in people_text), people_text
