"""SMS alerting end to end (issue 4): real Kafka, a real worker, the twilio library against the local
Twilio API, signed webhooks. Escalation waits are shortened to 12 s in a copy of the Arxan plan."""
from __future__ import annotations

import datetime as dt
import re
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from contingency import load_plan
from contingency.roster import load_roster, on_duty
from deploy.local.twilio_api import LocalTwilioApi, fake_account_sid, fake_auth_token, sign
from tests.integration.harness import DEFAULT_PLAN, DEFAULT_ROSTER, TopicReader, WorkerProcess, send

pytestmark = pytest.mark.integration
WAIT_SECONDS = 12
SANDBOX_NUMBER = "+15005550006"


@pytest.fixture(scope="module")
def fast_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    text = re.sub(r"wait_minutes: \d+(\.\d+)?", f"wait_minutes: {WAIT_SECONDS / 60:.4f}", DEFAULT_PLAN.read_text())
    path = tmp_path_factory.mktemp("plan") / "arxan-fast.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def fast_roster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bundling window shortened from 120 s, so one test's SMS do not hold back the next test's page."""
    text = re.sub(r"bundle_seconds: \d+", "bundle_seconds: 2", DEFAULT_ROSTER.read_text())
    path = tmp_path_factory.mktemp("roster") / "arxan-roster-fast.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def sms_api() -> Iterator[LocalTwilioApi]:
    with LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid(), callback_delay=0.05) as api:
        yield api


@pytest.fixture(scope="module")
def worker(broker: str, sms_api: LocalTwilioApi, fast_plan: Path, fast_roster: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    process = WorkerProcess(broker, tmp_path_factory.mktemp("worker"), sms_api, plan=fast_plan,
                            roster=fast_roster).start()
    yield process
    process.stop()


def on_duty_person(role: str):
    roster = load_roster(DEFAULT_ROSTER, load_plan(DEFAULT_PLAN))
    return on_duty(roster, role, dt.datetime.now(dt.timezone.utc))[0]


def on_duty_phone(role: str) -> str:
    return on_duty_person(role).phone


# Who is on duty depends on the day (weekly rotation, handover 08:30); one duty officer reads English.
BLUE = {"zh-CN": "蓝色", "en": "BLUE"}
ACKNOWLEDGED = {"zh-CN": "已确认", "en": "Acknowledged"}


def reading(station: str, parameter: str, value: float, unit: str = "mg/L") -> dict:
    return {"event_id": str(uuid.uuid4()), "station_id": station,
            "observed_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "measurements": [{"parameter": parameter, "value": value, "unit": unit}]}


def wait_for_sms(api: LocalTwilioApi, to: str, contains: str, timeout: float) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in api.messages if m.to == to and contains in m.body and m.direction == "outbound-api"]
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no SMS to {to} containing {contains!r} within {timeout}s; got "
                         f"{[(m.to, m.body) for m in api.messages]}")


def sms_to(api: LocalTwilioApi, to: str, contains: str) -> list:
    return [m for m in api.messages if m.to == to and contains in m.body and m.direction == "outbound-api"]


def opened_code(reader: TopicReader, source: str) -> str:
    records = reader.wait_for(lambda rs: any(r["type"] == "incident.opened" and r["source_id"] == source
                                             for r in rs), timeout=10)
    return next(r["code"] for r in records if r["type"] == "incident.opened" and r["source_id"] == source)


def test_page_within_5_s_then_acknowledged_by_sms_reply(broker: str, worker: WorkerProcess,
                                                        sms_api: LocalTwilioApi) -> None:
    person = on_duty_person("duty_officer")
    officer, language = person.phone, person.language or "zh-CN"
    incidents = TopicReader(broker, worker.topic("incidents"))
    started = time.monotonic()
    send(broker, worker.topic("readings"), reading("yirshi_wwtp_online", "cod", 80.0), key="yirshi_wwtp_online")
    code = opened_code(incidents, "yirshi_wwtp_outfall")
    page = wait_for_sms(sms_api, officer, code, timeout=5)[0]
    assert time.monotonic() - started < 5
    assert BLUE[language] in page.body and f"1 {code}" in page.body, page.body

    status, body = sms_api.post_inbound(worker.public_url + "/twilio/sms", from_=officer, to=SANDBOX_NUMBER,
                                        body=f"1 {code}")
    assert status == 200 and body.startswith("<?xml"), body
    incidents.wait_for(lambda rs: any(r["type"] == "incident.acknowledged" for r in rs), timeout=10)
    confirmations = wait_for_sms(sms_api, officer, ACKNOWLEDGED[language], timeout=10)
    assert any(code in m.body for m in confirmations)

    time.sleep(WAIT_SECONDS + 4)  # past tier 1's wait: an acknowledged incident is not escalated
    records = incidents.settle(1)
    assert not [r for r in records if r["type"] == "incident.escalated" and r["source_id"] == "yirshi_wwtp_outfall"]
    assert not sms_to(sms_api, on_duty_phone("section_chief"), code)


def test_forged_unsigned_and_unknown_senders_are_refused(broker: str, worker: WorkerProcess,
                                                         sms_api: LocalTwilioApi) -> None:
    commands = TopicReader(broker, worker.topic("commands"))
    before = len(commands.settle(1))
    url = worker.public_url + "/twilio/sms"
    officer = on_duty_phone("duty_officer")
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": sms_api.account_sid, "From": officer,
              "To": SANDBOX_NUMBER, "Body": "1", "NumMedia": "0"}
    import urllib.error
    import urllib.parse
    import urllib.request

    def post(form: dict, signature: str | None) -> int:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(), headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert post(params, None) == 403
    assert post(params, sign("not-the-token", url, params)) == 403
    stranger = {**params, "From": "+8613999999999", "MessageSid": "SM" + uuid.uuid4().hex}
    assert post(stranger, sign(sms_api.auth_token, url, stranger)) == 403
    accepted = post(params, sign(sms_api.auth_token, url, params))
    assert accepted == 200
    assert post(params, sign(sms_api.auth_token, url, params)) == 403, "a replayed request is refused"
    assert len(commands.settle(2)) == before, "a bare '1' with nothing pending, and refused requests, publish nothing"
    log = worker.log_since_start()
    assert officer not in log and "+8613999999999" not in log, "phone numbers are masked in logs"


def test_ers_sms_reply_posts_a_signed_reply(worker: WorkerProcess) -> None:
    import subprocess
    import sys

    officer = on_duty_phone("duty_officer")
    result = subprocess.run([sys.executable, "-m", "streams.cli", "sms", "reply", "--from", officer, "状态"],
                            env=worker.env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "<Response><Message>" in result.stdout, result.stdout
    stranger = subprocess.run([sys.executable, "-m", "streams.cli", "sms", "reply", "--from", "+8613999990000",
                               "状态"], env=worker.env, capture_output=True, text=True, timeout=60)
    assert stranger.returncode == 1 and "refused (403)" in stranger.stderr


def test_unacknowledged_page_escalates_to_tier_2(broker: str, worker: WorkerProcess,
                                                 sms_api: LocalTwilioApi) -> None:
    incidents = TopicReader(broker, worker.topic("incidents"))
    # NO2 1-hour IAQI above 200 (HJ 633-2012: 1200 ug/m3): blue, whose tier 2 is the section chief
    send(broker, worker.topic("readings"), reading("city_air_auto", "no2", 1500.0, unit="ug/m3"), key="city_air_auto")
    code = opened_code(incidents, "arxan_city_air")
    wait_for_sms(sms_api, on_duty_phone("duty_officer"), code, timeout=5)
    assert not sms_to(sms_api, on_duty_phone("section_chief"), code)
    wait_for_sms(sms_api, on_duty_phone("section_chief"), code, timeout=WAIT_SECONDS + 10)
    incidents.wait_for(lambda rs: any(r["type"] == "incident.escalated" and r["source_id"] == "arxan_city_air"
                                      for r in rs), timeout=5)


def test_undelivered_page_escalates_at_once(broker: str, worker: WorkerProcess, sms_api: LocalTwilioApi) -> None:
    officer = on_duty_phone("duty_officer")
    sms_api.fail_to(officer, "undelivered")
    incidents = TopicReader(broker, worker.topic("incidents"))
    started = time.monotonic()
    send(broker, worker.topic("readings"), reading("tailings_example_online", "seepage_flow", 6.5, unit="L/s"),
         key="tailings_example_online")
    code = opened_code(incidents, "tailings_example")
    # yellow: tier 1 is the duty officer and the section chief, tier 2 the deputy director
    wait_for_sms(sms_api, on_duty_phone("deputy_director"), code, timeout=WAIT_SECONDS)
    assert time.monotonic() - started < WAIT_SECONDS, "escalated on the delivery failure, not on the timer"


def test_killed_after_queueing_a_notification_sends_exactly_one_sms(
        broker: str, sms_api: LocalTwilioApi, fast_plan: Path, tmp_path: Path) -> None:
    process = WorkerProcess(broker, tmp_path, sms_api, plan=fast_plan).start()
    try:
        notifications = TopicReader(broker, process.topic("notifications"))
        send(broker, process.topic("readings"), reading("city_air_auto", "so2", 900.0, unit="ug/m3"),
             key="city_air_auto")
        # the incident pages several people at once: kill once two of its pages are queued (on a slow machine
        # the first alone can be all there is when the kill comes, and the test would try too little)
        first = notifications.wait_for(lambda rs: len(rs) >= 2, timeout=20)[0]
        process.kill(signal.SIGKILL)
        # everything the killed worker queued (the incident pages several people at once)
        queued = [n for n in notifications.settle(1.0) if n["incident_ids"] == first["incident_ids"]
                  and n["created_at"] == first["created_at"]]
        assert len(queued) >= 2, queued
        process.start()

        def sent(note: dict) -> list:
            return [m for m in sms_api.messages if m.to == note["to"] and m.body == note["body"]]

        # Every queued page is sent after the restart (none lost in the partitions the killed worker had not
        # committed yet: streams/faust_fixes.py, and the sweep as a safety net), and none twice.
        deadline = time.monotonic() + 60
        while not all(sent(n) for n in queued) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)
        assert [len(sent(n)) for n in queued] == [1] * len(queued), [(n["person_id"], len(sent(n))) for n in queued]
    finally:
        process.stop()


def test_the_reports_an_incident_owes_are_recorded_by_sms_through_its_resolution(
        broker: str, worker: WorkerProcess, sms_api: LocalTwilioApi) -> None:
    """Issue 15 item 1: the section chief records the initial report ("5 CODE"), a follow-up ("6 CODE"), and once
    the incident is resolved, and she is told so, the final report ("7 CODE"); the read model shows each."""
    import json
    import subprocess
    import sys

    chief = on_duty_phone("section_chief")
    incidents = TopicReader(broker, worker.topic("incidents"))
    send(broker, worker.topic("readings"), reading("city_source_auto", "ammonia_nitrogen", 1.6),
         key="city_source_auto")
    code = opened_code(incidents, "arxan_city_drinking_source")

    def reply(text: str, event: str, count: int = 1) -> None:
        deadline = time.monotonic() + 15
        while True:
            status, body = sms_api.post_inbound(worker.public_url + "/twilio/sms", from_=chief, to=SANDBOX_NUMBER,
                                                body=text)
            assert status == 200, body
            if "<Message>" not in body:
                break  # a command was published: the desk answers it by SMS
            # answered at once: the worker's copy of the read model has not seen the incident (or its resolution)
            assert time.monotonic() < deadline, body
            time.sleep(0.5)
        incidents.wait_for(lambda rs: sum(r["type"] == event and r.get("report", "") in text_kind(text)
                                          for r in rs) >= count, timeout=10)

    def text_kind(text: str) -> tuple[str, ...]:
        return {"5": ("initial",), "6": ("follow_up",), "7": ("final",)}.get(text[0], ("",))

    reply(f"5 {code}", "incident.report_filed")
    reply(f"6 {code} 已停止取水", "incident.report_filed")
    reply(f"9 {code}", "incident.resolved")
    wait_for_sms(sms_api, chief, f'"7 {code}"', timeout=10)  # told the final report is owed (zh or en)
    reply(f"7 {code}", "incident.report_filed")
    [final] = [r for r in incidents.records if r["type"] == "incident.report_filed" and r["report"] == "final"]
    assert final["actor"] in ("li_jianguo", "zhou_min") and final["due_at"] is None
    deadline, state = time.monotonic() + 15, None
    while time.monotonic() < deadline:
        out = subprocess.run([sys.executable, "-m", "streams.cli", "incidents", "--all", "--json"], env=worker.env,
                             capture_output=True, text=True, timeout=60)
        states = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
        state = next((s for s in states if s["code"] == code and s["final_report_filed_at"]), None)
        if state is not None:
            break
        time.sleep(1)
    assert state is not None, out.stdout[-2000:]
    assert (state["stage"], state["reports_owed"], len(state["follow_ups"])) == ("resolved", False, 1)
    assert state["report_filed_at"] is not None
