"""Paging through Aliyun end to end (issue 12): real Kafka, a real worker with ERS_SMS_PROVIDER=aliyun, the official
Aliyun SDK against the local sandbox (which checks its signatures, sign and registered templates), and the
sandbox's SmsUp / SmsReport pushes to the worker's guarded endpoints. Escalation waits are 12 s."""
from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import signal
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from contingency import load_plan
from contingency.roster import load_roster, on_duty
from contingency.sms_templates import load_templates
from deploy.local.aliyun_api import LocalAliyunSms, LocalSms, fake_access_key
from deploy.local.twilio_api import LocalTwilioApi, fake_account_sid, fake_auth_token
from tests.integration.harness import DEFAULT_PLAN, DEFAULT_ROSTER, REPO, TopicReader, WorkerProcess, send

pytestmark = pytest.mark.integration
WAIT_SECONDS = 12
TEMPLATES = load_templates(REPO / "plans" / "arxan-sms-templates.yaml")
CODE_OF = {kind: t.code for kind, t in TEMPLATES.templates.items()}
TOKEN = secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def fast_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    text = re.sub(r"wait_minutes: \d+(\.\d+)?", f"wait_minutes: {WAIT_SECONDS / 60:.4f}", DEFAULT_PLAN.read_text())
    path = tmp_path_factory.mktemp("plan") / "arxan-fast.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def fast_roster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    text = re.sub(r"bundle_seconds: \d+", "bundle_seconds: 0", DEFAULT_ROSTER.read_text())
    path = tmp_path_factory.mktemp("roster") / "arxan-roster-fast.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def aliyun() -> Iterator[LocalAliyunSms]:
    key, secret = fake_access_key()
    with LocalAliyunSms(access_key_id=key, access_key_secret=secret, sign_names={TEMPLATES.sign_name},
                        templates={t.code: t.text for t in TEMPLATES.templates.values()}) as api:
        api.key, api.secret = key, secret  # type: ignore[attr-defined]
        yield api


@pytest.fixture(scope="module")
def worker(broker: str, aliyun: LocalAliyunSms, fast_plan: Path, fast_roster: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    with LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid()) as twilio:
        process = WorkerProcess(broker, tmp_path_factory.mktemp("worker"), twilio, plan=fast_plan, roster=fast_roster,
                                env={"ERS_SMS_PROVIDER": "aliyun", "ERS_ALIYUN_ACCESS_KEY_ID": aliyun.key,
                                     "ERS_ALIYUN_ACCESS_KEY_SECRET": aliyun.secret,
                                     "ERS_ALIYUN_ENDPOINT": aliyun.endpoint, "ERS_ALIYUN_PUSH_TOKEN": TOKEN,
                                     "ERS_SMS_TEMPLATES": str(REPO / "plans" / "arxan-sms-templates.yaml")})
        aliyun.report_url = f"{process.public_url}/aliyun/report/{TOKEN}"
        aliyun.up_url = f"{process.public_url}/aliyun/sms-up/{TOKEN}"
        process.start()
        yield process
        process.stop()


def on_duty_phone(role: str) -> str:
    roster = load_roster(DEFAULT_ROSTER, load_plan(DEFAULT_PLAN))
    return on_duty(roster, role, dt.datetime.now(dt.timezone.utc))[0].phone


def digits(phone: str) -> str:
    return phone.removeprefix("+86")


def reading(station: str, parameter: str, value: float, unit: str = "mg/L") -> dict:
    return {"event_id": str(uuid.uuid4()), "station_id": station,
            "observed_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "measurements": [{"parameter": parameter, "value": value, "unit": unit}]}


def opened_code(reader: TopicReader, source: str) -> tuple[str, str]:
    records = reader.wait_for(lambda rs: any(r["type"] == "incident.opened" and r["source_id"] == source
                                             for r in rs), timeout=10)
    opened = next(r for r in records if r["type"] == "incident.opened" and r["source_id"] == source)
    return opened["code"], opened["incident_id"]


def wait_for_sms(api: LocalAliyunSms, phone: str, kind: str, code: str | None, timeout: float) -> LocalSms:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in api.messages:
            if message.phone == digits(phone) and message.template_code == CODE_OF[kind] and \
                    (code is None or message.params.get("code") == code or code in message.params.get("codes", "")):
                return message
        time.sleep(0.05)
    raise AssertionError(f"no {kind} SMS to {phone} about {code} within {timeout}s: "
                         f"{[(m.phone, m.template_code, m.params) for m in api.messages]}")


def post(url: str, body: object) -> tuple[int, str]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_page_goes_out_as_the_registered_template_and_a_bare_1_acknowledges_the_message_it_answers(
        broker: str, worker: WorkerProcess, aliyun: LocalAliyunSms) -> None:
    officer = on_duty_phone("duty_officer")
    incidents = TopicReader(broker, worker.topic("incidents"))
    started = time.monotonic()
    send(broker, worker.topic("readings"), reading("yirshi_wwtp_online", "cod", 80.0), key="yirshi_wwtp_online")
    first, first_id = opened_code(incidents, "yirshi_wwtp_outfall")
    page = wait_for_sms(aliyun, officer, "page", first, timeout=5)
    print(f"page of {first} at the sandbox {time.monotonic() - started:.2f} s after the reading")
    assert page.content.startswith(f"【{TEMPLATES.sign_name}】") and f'回复"1 {first}"确认' in page.content
    assert page.params["place"] and page.params["value"].startswith("80") and page.params["limit"]
    send(broker, worker.topic("readings"), reading("city_source_auto", "ammonia_nitrogen", 1.4),
         key="city_source_auto")
    second, second_id = opened_code(incidents, "arxan_city_drinking_source")
    second_page = wait_for_sms(aliyun, officer, "page", second, timeout=5)
    assert page.extend_code and second_page.extend_code and page.extend_code != second_page.extend_code

    pushed = aliyun.reply(officer, "1", to=page)  # two pending: the bare 1 answers the first page
    assert pushed.status == 200 and json.loads(pushed.answer)["code"] == 0
    acked = incidents.wait_for(lambda rs: any(r["type"] == "incident.acknowledged" for r in rs), timeout=10)
    assert [r["incident_id"] for r in acked if r["type"] == "incident.acknowledged"] == [first_id]
    confirmation = wait_for_sms(aliyun, officer, "ack_confirmation", first, timeout=10)
    assert f"已确认{first}" in confirmation.content

    time.sleep(WAIT_SECONDS + 4)  # past tier 1's wait: the acknowledged one is not escalated, the other is
    records = incidents.settle(1)
    escalated = {r["incident_id"] for r in records if r["type"] == "incident.escalated"}
    assert first_id not in escalated and second_id in escalated


def test_forged_and_replayed_pushes_are_refused_and_change_nothing(broker: str, worker: WorkerProcess,
                                                                    aliyun: LocalAliyunSms) -> None:
    commands = TopicReader(broker, worker.topic("commands"))
    before = len(commands.settle(1))
    officer = on_duty_phone("duty_officer")
    reply = [{"phone_number": digits(officer), "content": "状态", "send_time": "2026-12-03 08:00:00",
              "dest_code": "0", "sequence_id": 9_000_001}]
    base = f"{worker.public_url}/aliyun/sms-up"
    assert post(f"{base}/not-the-token", reply)[0] == 403
    assert post(f"{worker.public_url}/aliyun/report/not-the-token", [])[0] == 403
    stranger = [{**reply[0], "phone_number": "13999999999", "sequence_id": 9_000_002}]
    assert post(f"{base}/{TOKEN}", stranger) == (200, json.dumps({"code": 0, "msg": "接收成功"}, ensure_ascii=False))
    roster = load_roster(DEFAULT_ROSTER, load_plan(DEFAULT_PLAN))
    silent = next(p.phone for p in roster.people.values()  # on the roster, but ERS has sent it nothing in this run
                  if not any(m.phone == digits(p.phone) for m in aliyun.messages))
    nothing_to_answer = [{**reply[0], "phone_number": digits(silent), "content": "1", "sequence_id": 9_000_003}]
    assert post(f"{base}/{TOKEN}", nothing_to_answer)[0] == 200
    answers_before = len(aliyun.messages)
    assert post(f"{base}/{TOKEN}", reply)[0] == 200          # a status request: answered by SMS once
    wait_for_sms(aliyun, officer, "status", None, timeout=10)
    assert post(f"{base}/{TOKEN}", reply)[0] == 200          # the same push again: refused as a replay
    time.sleep(2)
    assert len(aliyun.messages) == answers_before + 1
    assert len(commands.settle(2)) == before, "refused pushes and a status request publish no command"
    log = worker.log_since_start()
    for reason in ("no or wrong push token", "unknown number", "no message of ERS to answer", "replay of sequence"):
        assert reason in log, reason
    assert officer not in log and digits(officer) not in log, "phone numbers are masked in logs"


def test_flow_control_defers_the_page_and_it_goes_once_when_the_limit_ends(broker: str, worker: WorkerProcess,
                                                                           aliyun: LocalAliyunSms) -> None:
    officer = on_duty_phone("duty_officer")
    aliyun.throttle(officer, 30)  # Aliyun's per-number limit: the adapter waits a minute before trying again
    incidents = TopicReader(broker, worker.topic("incidents"))
    delivery = TopicReader(broker, worker.topic("delivery"))
    send(broker, worker.topic("readings"), reading("city_air_auto", "no2", 1500.0, unit="ug/m3"), key="city_air_auto")
    code, _ = opened_code(incidents, "arxan_city_air")
    waited = delivery.wait_for(lambda rs: any(r["status"] == "deferred" for r in rs), timeout=15)
    deferral = next(r for r in waited if r["status"] == "deferred")
    assert "rate limited" in deferral["reason"] and "BUSINESS_LIMIT_CONTROL" in deferral["reason"]
    page = wait_for_sms(aliyun, officer, "page", code, timeout=90)  # sent on its next try, after the limit
    time.sleep(6)  # one more round of the retry loop
    assert [m for m in aliyun.messages if m.phone == page.phone and m.template_code == page.template_code
            and m.params.get("code") == code] == [page]
    assert any(r["status"] == "sent" and r["notification_id"] == deferral["notification_id"]
               for r in delivery.poll())


def test_a_failed_delivery_report_pages_the_next_tier_at_once(broker: str, worker: WorkerProcess,
                                                               aliyun: LocalAliyunSms) -> None:
    officer = on_duty_phone("duty_officer")
    aliyun.fail_to(officer, "MK:0001")
    incidents = TopicReader(broker, worker.topic("incidents"))
    started = time.monotonic()
    send(broker, worker.topic("readings"), reading("tailings_example_online", "seepage_flow", 6.5, unit="L/s"),
         key="tailings_example_online")
    code, _ = opened_code(incidents, "tailings_example")
    # yellow: tier 1 is the duty officer and the section chief, tier 2 the deputy director
    wait_for_sms(aliyun, on_duty_phone("deputy_director"), "page", code, timeout=WAIT_SECONDS)
    assert time.monotonic() - started < WAIT_SECONDS, "escalated on the failure report, not on the timer"
    assert any(p.kind == "SmsReport" and p.items[0]["success"] is False and p.status == 200 for p in aliyun.pushes)


def test_killed_after_queueing_a_page_sends_exactly_one_sms_per_notification(
        broker: str, aliyun: LocalAliyunSms, fast_plan: Path, tmp_path: Path) -> None:
    with LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid()) as twilio:
        process = WorkerProcess(broker, tmp_path, twilio, plan=fast_plan,
                                env={"ERS_SMS_PROVIDER": "aliyun", "ERS_ALIYUN_ACCESS_KEY_ID": aliyun.key,
                                     "ERS_ALIYUN_ACCESS_KEY_SECRET": aliyun.secret,
                                     "ERS_ALIYUN_ENDPOINT": aliyun.endpoint, "ERS_ALIYUN_PUSH_TOKEN": TOKEN,
                                     "ERS_SMS_TEMPLATES": str(REPO / "plans" / "arxan-sms-templates.yaml")}).start()
        try:
            notifications = TopicReader(broker, process.topic("notifications"))
            send(broker, process.topic("readings"), reading("city_air_auto", "so2", 900.0, unit="ug/m3"),
                 key="city_air_auto")
            first = notifications.wait_for(lambda rs: bool(rs), timeout=10)[0]
            process.kill(signal.SIGKILL)
            queued = [n for n in notifications.settle(1.0) if n["incident_ids"] == first["incident_ids"]
                      and n["created_at"] == first["created_at"]]
            assert len(queued) >= 2 and all(n["template"] in ("page", "notify") for n in queued), queued
            process.start()

            def sent(note: dict) -> list:
                return [m for m in aliyun.messages if m.out_id == uuid.UUID(note["notification_id"]).hex]

            deadline = time.monotonic() + 60
            while not all(sent(n) for n in queued) and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(3)
            assert [len(sent(n)) for n in queued] == [1] * len(queued), \
                [(n["person_id"], len(sent(n))) for n in queued]
        finally:
            process.stop()
