"""An SMS provider outage (issues 12 and 13): every Twilio message creation answers 503 while incidents open and
escalate. No page is given up: each waits in the outbox (`ers sms queue` shows it, the delivery topic says why),
escalation goes on on the plan's timer, and once the provider is back every page goes out exactly once. Real
broker, real worker, the twilio library against the local Twilio API."""
from __future__ import annotations

import collections
import datetime as dt
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.local.twilio_api import LocalTwilioApi, fake_account_sid, fake_auth_token
from tests.e2e.test_sms_alerting import (SANDBOX_NUMBER, WAIT_SECONDS, fast_plan, fast_roster,  # noqa: F401
                                         on_duty_phone, opened_code, reading)
from tests.integration.harness import REPO, TopicReader, WorkerProcess, send

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def down_api() -> Iterator[LocalTwilioApi]:
    with LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid(), callback_delay=0.05) as api:
        yield api


@pytest.fixture(scope="module")
def worker(broker: str, down_api: LocalTwilioApi, fast_plan: Path, fast_roster: Path,  # noqa: F811
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    process = WorkerProcess(broker, tmp_path_factory.mktemp("worker"), down_api, plan=fast_plan,
                            roster=fast_roster).start()
    yield process
    process.stop()


def test_pages_wait_out_an_outage_and_each_goes_once(broker: str, worker: WorkerProcess,
                                                     down_api: LocalTwilioApi) -> None:
    down_api.fail_next(1_000_000, status=503)
    incidents = TopicReader(broker, worker.topic("incidents"))
    delivery = TopicReader(broker, worker.topic("delivery"))
    notifications = TopicReader(broker, worker.topic("notifications"))
    send(broker, worker.topic("readings"), reading("yirshi_wwtp_online", "cod", 80.0), key="yirshi_wwtp_online")
    send(broker, worker.topic("readings"), reading("city_air_auto", "no2", 1500.0, "ug/m3"), key="city_air_auto")

    deferred = delivery.wait_for(lambda rs: len({r["notification_id"] for r in rs if r["status"] == "deferred"}) >= 2,
                                 timeout=30)
    assert all("provider unavailable" in (r["reason"] or "") and r["retry_at"] for r in deferred
               if r["status"] == "deferred")
    queue = subprocess.run([sys.executable, "-m", "streams.cli", "sms", "queue"], cwd=REPO, env=worker.env,
                           capture_output=True, text=True, timeout=60)
    assert queue.returncode == 0, queue.stderr
    assert "waiting for the provider" in queue.stderr + queue.stdout and "503" in queue.stderr + queue.stdout

    # Unacknowledged, both incidents escalate on the plan's timer although no page has reached anyone.
    escalated = incidents.wait_for(
        lambda rs: len({r["incident_id"] for r in rs if r["type"] == "incident.escalated"}) >= 2,
        timeout=WAIT_SECONDS * 3)
    assert not [m for m in down_api.messages if m.direction == "outbound-api"]

    # The duty officer hears of one incident another way and resolves it by SMS (inbound still works): its
    # waiting pages are no longer worth sending; what is said about the resolution still is.
    code = opened_code(incidents, "yirshi_wwtp_outfall")
    resolved_id = next(r["incident_id"] for r in escalated if r["source_id"] == "yirshi_wwtp_outfall")
    status, _ = down_api.post_inbound(worker.public_url + "/twilio/sms", from_=on_duty_phone("duty_officer"),
                                      to=SANDBOX_NUMBER, body=f"9 {code}")
    assert status == 200
    records = incidents.wait_for(lambda rs: any(r["type"] == "incident.resolved" for r in rs), timeout=15)
    resolved_at = dt.datetime.fromisoformat(next(r["occurred_at"] for r in records
                                                 if r["type"] == "incident.resolved"))

    down_api.recover()
    sent = [m for m in down_api.messages if m.direction == "outbound-api"]

    def all_out() -> bool:
        wanted = {r["notification_id"] for r in notifications.poll()}
        superseded = {r["notification_id"] for r in delivery.poll() if r["status"] == "superseded"}
        done = {r["notification_id"] for r in delivery.poll() if r["status"] == "sent"}
        return bool(wanted) and wanted - superseded <= done

    deadline = time.monotonic() + 120
    while not all_out():
        assert time.monotonic() < deadline, "pages still waiting two minutes after the provider came back"
        worker.check_alive()
        time.sleep(0.5)
    time.sleep(6)  # one more round of the retry loop: nothing may go twice
    sent = [m for m in down_api.messages if m.direction == "outbound-api"]
    wanted = [r for r in notifications.poll()]
    superseded = {r["notification_id"] for r in delivery.poll() if r["status"] == "superseded"}
    expected = collections.Counter((r["to"], r["body"]) for r in wanted if r["notification_id"] not in superseded)
    assert collections.Counter((m.to, m.body) for m in sent) == expected
    waiting_at_resolution = {r["notification_id"] for r in delivery.poll() if r["status"] == "deferred"
                             and dt.datetime.fromisoformat(r["at"]) < resolved_at}
    pages_of_resolved = {r["notification_id"] for r in wanted if r["incident_ids"] == [resolved_id]
                         and r["notification_id"] in waiting_at_resolution}
    assert pages_of_resolved and pages_of_resolved <= superseded, "its waiting pages were superseded"
    reasons = [r["reason"] for r in delivery.poll() if r["status"] == "superseded"]
    assert all(code in reason and "resolved" in reason for reason in reasons)
    for reader in (incidents, delivery, notifications):
        reader.close()
