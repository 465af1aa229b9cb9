"""Two workers in one consumer group (issue 10): a signed SMS reply posted to either worker's webhook acknowledges
its incident and stops the escalation, whichever worker holds the incident desk's partition.

The webhook answers from the incident read model, which both workers hold; the desk's own table is on one of them
only. Real broker, real workers, the twilio library against the local Twilio API; escalation waits shortened."""
from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.local.twilio_api import LocalTwilioApi, fake_account_sid, fake_auth_token
from tests.e2e.test_sms_alerting import (SANDBOX_NUMBER, WAIT_SECONDS, fast_plan, fast_roster, on_duty_phone,  # noqa: F401
                                         opened_code, reading, sms_to, wait_for_sms)
from tests.integration.harness import TopicReader, WorkerProcess, send

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sms_api() -> Iterator[LocalTwilioApi]:
    with LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid(), callback_delay=0.05) as api:
        yield api


@pytest.fixture(scope="module")
def workers(broker: str, sms_api: LocalTwilioApi, fast_plan: Path, fast_roster: Path,  # noqa: F811
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WorkerProcess, WorkerProcess]]:
    shared = tmp_path_factory.mktemp("shared")
    first = WorkerProcess(broker, tmp_path_factory.mktemp("worker-a"), sms_api, plan=fast_plan, roster=fast_roster,
                          env={"ERS_DATABASE_URL": f"sqlite:///{shared / 'ers.db'}"})
    second = WorkerProcess(broker, tmp_path_factory.mktemp("worker-b"), sms_api, prefix=first.prefix,
                           plan=fast_plan, roster=fast_roster,
                           env={"ERS_DATABASE_URL": f"sqlite:///{shared / 'ers.db'}", "ERS_APP_ID": first.env["ERS_APP_ID"]})
    first.start()
    second.start()
    try:
        # The first worker had every partition; the second's join moves some of them: wait for that rebalance.
        deadline = time.monotonic() + 90
        while first.log_since_start().count("Worker ready") < 2:
            assert time.monotonic() < deadline, "the first worker did not rebalance when the second joined"
            first.check_alive()
            time.sleep(0.2)
        yield first, second
    finally:
        second.stop()
        first.stop()


def desk_holder(workers: tuple[WorkerProcess, WorkerProcess]) -> list[str]:
    """Which worker's incident desk has handled something (it holds the desk's single partition)."""
    return [w.public_url for w in workers if re.search(r"incident\.opened \S+ at", w.log_since_start())]


@pytest.mark.parametrize("which, station, parameter, value, unit, source", [
    (0, "yirshi_wwtp_online", "cod", 80.0, "mg/L", "yirshi_wwtp_outfall"),
    (1, "city_air_auto", "no2", 1500.0, "ug/m3", "arxan_city_air"),
])
def test_a_reply_to_either_worker_acknowledges_and_stops_the_escalation(
        broker: str, workers: tuple[WorkerProcess, WorkerProcess], sms_api: LocalTwilioApi, which: int, station: str,
        parameter: str, value: float, unit: str, source: str) -> None:
    receiving = workers[which]
    incidents = TopicReader(broker, receiving.topic("incidents"))
    send(broker, receiving.topic("readings"), reading(station, parameter, value, unit=unit), key=station)
    code = opened_code(incidents, source)
    officer = on_duty_phone("duty_officer")
    wait_for_sms(sms_api, officer, code, timeout=10)

    status, body = sms_api.post_inbound(receiving.public_url + "/twilio/sms", from_=officer, to=SANDBOX_NUMBER,
                                        body=f"1 {code}")
    assert status == 200, body
    acked = incidents.wait_for(lambda rs: any(r["type"] == "incident.acknowledged" and r["source_id"] == source
                                              for r in rs), timeout=15)
    assert any(r["type"] == "incident.acknowledged" and r["actor"] for r in acked)
    time.sleep(WAIT_SECONDS + 4)  # past tier 1's wait: an acknowledged incident is not escalated
    records = incidents.settle(1)
    assert not [r for r in records if r["type"] == "incident.escalated" and r["source_id"] == source]
    assert not sms_to(sms_api, on_duty_phone("section_chief"), code), "tier 2 is not paged"
    incidents.close()


def test_one_worker_ran_the_desk_and_the_read_model_shows_both_acknowledgements(
        workers: tuple[WorkerProcess, WorkerProcess]) -> None:
    import json
    import subprocess
    import sys

    assert len(desk_holder(workers)) == 1, "one worker holds the incident desk: the other answered a reply"
    listing = subprocess.run([sys.executable, "-m", "streams.cli", "incidents", "--json"], env=workers[1].env,
                             capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    states = {s["source_id"]: s for s in map(json.loads, listing.stdout.splitlines())}
    assert {states[source]["stage"] for source in ("yirshi_wwtp_outfall", "arxan_city_air")} == {"acknowledged"}
