"""叫应 end to end (issue 12 item 5): real Kafka, a real worker, the official SDKs (Aliyun Dyvmsapi, twilio) against
the local sandboxes. Tier 1 of every level calls (`call: true`); waits are 12 s. A page nobody acknowledges is
followed by a call that reads the incident; key 1 acknowledges it; a call nobody answers, or an SMS that failed,
moves things on at once; forged call results are refused."""
from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.local.aliyun_api import LocalAliyunSms, fake_access_key
from deploy.local.twilio_api import (LocalTwilioApi, call_webhook_params, fake_account_sid, fake_auth_token,
                                     post_signed_form)
from tests.e2e.test_aliyun_alerting import (TEMPLATES, WAIT_SECONDS, digits, fast_plan,  # noqa: F401 (fixtures)
                                            fast_roster, on_duty_phone, opened_code, post, reading, wait_for_sms)
from tests.integration.harness import REPO, TopicReader, WorkerProcess, send

pytestmark = pytest.mark.integration
TOKEN = secrets.token_urlsafe(24)
VOICE_CODES = {kind: t.code for kind, t in TEMPLATES.voice.templates.items()}  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def calling_plan(fast_plan: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    text = fast_plan.read_text()
    # the first tier of every level (the one with the duty officer) calls
    text, calls = re.subn(r"(\{roles: \[duty_officer[^\]]*\], wait_minutes: [\d.]+)\}", r"\1, call: true}", text)
    assert calls == 4
    path = tmp_path_factory.mktemp("plan") / "arxan-calling.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def aliyun() -> Iterator[LocalAliyunSms]:
    key, secret = fake_access_key()
    voice = TEMPLATES.voice
    assert voice is not None
    with LocalAliyunSms(access_key_id=key, access_key_secret=secret, sign_names={TEMPLATES.sign_name},
                        templates={t.code: t.text for t in TEMPLATES.templates.values()},
                        voice_templates={t.code: t.text for t in voice.templates.values()},
                        show_numbers={voice.show_number}) as api:
        api.key, api.secret = key, secret  # type: ignore[attr-defined]
        yield api


@pytest.fixture(scope="module")
def aliyun_worker(broker: str, aliyun: LocalAliyunSms, calling_plan: Path, fast_roster: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    with LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid()) as twilio:
        process = WorkerProcess(broker, tmp_path_factory.mktemp("worker"), twilio, plan=calling_plan,
                                roster=fast_roster,
                                env={"ERS_SMS_PROVIDER": "aliyun", "ERS_ALIYUN_ACCESS_KEY_ID": aliyun.key,
                                     "ERS_ALIYUN_ACCESS_KEY_SECRET": aliyun.secret,
                                     "ERS_ALIYUN_ENDPOINT": aliyun.endpoint, "ERS_ALIYUN_PUSH_TOKEN": TOKEN,
                                     "ERS_SMS_TEMPLATES": str(REPO / "plans" / "arxan-sms-templates.yaml")})
        aliyun.report_url = f"{process.public_url}/aliyun/report/{TOKEN}"
        aliyun.up_url = f"{process.public_url}/aliyun/sms-up/{TOKEN}"
        aliyun.voice_url = f"{process.public_url}/aliyun/voice-report/{TOKEN}"
        process.start()
        yield process
        process.stop()


@pytest.fixture(scope="module")
def twilio() -> Iterator[LocalTwilioApi]:
    with LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid()) as api:
        yield api


@pytest.fixture(scope="module")
def twilio_worker(broker: str, twilio: LocalTwilioApi, calling_plan: Path, fast_roster: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    process = WorkerProcess(broker, tmp_path_factory.mktemp("worker"), twilio, plan=calling_plan, roster=fast_roster)
    process.start()
    yield process
    process.stop()


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {timeout} s")


def test_aliyun_unacknowledged_page_is_called_and_key_1_acknowledges(broker: str, aliyun_worker: WorkerProcess,
                                                                      aliyun: LocalAliyunSms) -> None:
    officer = on_duty_phone("duty_officer")
    incidents = TopicReader(broker, aliyun_worker.topic("incidents"))
    commands = TopicReader(broker, aliyun_worker.topic("commands"))
    send(broker, aliyun_worker.topic("readings"), reading("hlh_dsk_auto", "cadmium", 0.006), key="hlh_dsk_auto")
    code, incident_id = opened_code(incidents, "halaha_dashankuang")
    page = wait_for_sms(aliyun, officer, "page", code, timeout=5)
    assert not [c for c in aliyun.calls if c.params.get("code") == code], "no call before the tier's wait"
    # cadmium on the border river opens yellow (issue 15): tier 1 is the duty officer and the section chief
    call = wait_for(lambda: next((c for c in aliyun.calls if c.params.get("code") == code
                                  and c.phone == digits(officer)), None), WAIT_SECONDS + 10, "call")
    assert call.phone == digits(officer) and call.start_code == VOICE_CODES["call"]
    assert call.keys == {"1": VOICE_CODES["call_acked"]} and call.show_number == TEMPLATES.voice.show_number
    assert code in call.said and "镉0.006mg/L" in call.said and "限值≤0.005mg/L" in call.said and "请按1" in call.said
    print(f"call placed {(call.placed_at - page.sent_at).total_seconds():.1f} s after the page "
          f"(tier wait {WAIT_SECONDS} s)")
    escalated = [r for r in incidents.poll() if r["type"] == "incident.escalated" and r["incident_id"] == incident_id]
    assert any("叫应" in r["reason"] for r in escalated)

    # a push naming this call but another callee is refused, and does not spend the call id
    other = on_duty_phone("section_chief")  # a roster number, but not the one this call went to
    forged = [{"call_id": call.call_id, "callee": digits(other), "status_code": "200000", "dtmf": "1"}]
    assert post(f"{aliyun_worker.public_url}/aliyun/voice-report/{TOKEN}", forged)[0] == 200
    pushed = aliyun.answer_call(officer, "1")
    assert pushed.status == 200 and json.loads(pushed.answer)["code"] == 0
    acked = incidents.wait_for(lambda rs: any(r["type"] == "incident.acknowledged" and r["incident_id"] == incident_id
                                              for r in rs), timeout=10)
    ack = next(r for r in acked if r["type"] == "incident.acknowledged" and r["incident_id"] == incident_id)
    command = next(r for r in commands.poll() if r["event_id"] == ack["command_id"])
    assert command["channel"] == "voice" and command["action"] == "ack"
    wait_for_sms(aliyun, officer, "ack_confirmation", code, timeout=10)
    assert aliyun.answer_call(officer, "1", call=call).status == 200  # a replayed result changes nothing
    time.sleep(WAIT_SECONDS + 4)  # past the call's wait: acknowledged, so no tier 2
    tiers = [r["tier"] for r in incidents.settle(1) if r["type"] == "incident.escalated"
             and r["incident_id"] == incident_id]
    assert tiers == [1], tiers
    assert len([r for r in incidents.poll() if r["type"] == "incident.acknowledged"]) <= 1
    log = aliyun_worker.log_since_start()
    assert "replay of call" in log and "no call of ERS to" in log


def test_aliyun_failed_sms_calls_at_once_and_a_missed_call_pages_the_next_tier(
        broker: str, aliyun_worker: WorkerProcess, aliyun: LocalAliyunSms) -> None:
    officer = on_duty_phone("duty_officer")
    aliyun.fail_to(officer, "MK:0001")
    incidents = TopicReader(broker, aliyun_worker.topic("incidents"))
    started = time.monotonic()
    # yellow: tier 1 the duty officer and the section chief (calling), tier 2 the deputy director
    send(broker, aliyun_worker.topic("readings"), reading("tailings_example_online", "seepage_flow", 6.5, unit="L/s"),
         key="tailings_example_online")
    code, incident_id = opened_code(incidents, "tailings_example")
    call = wait_for(lambda: next((c for c in aliyun.calls if c.params.get("code") == code
                                  and c.phone == digits(officer)), None), WAIT_SECONDS, "call after the failed SMS")
    assert time.monotonic() - started < WAIT_SECONDS, "called on the failure report, not on the timer"
    assert aliyun.miss_call(officer, "200003", call=call).status == 200
    wait_for_sms(aliyun, on_duty_phone("deputy_director"), "page", code, timeout=WAIT_SECONDS)
    escalated = incidents.wait_for(lambda rs: any(r["type"] == "incident.escalated" and r["tier"] == 2
                                                  and r["incident_id"] == incident_id for r in rs), timeout=5)
    reason = next(r["reason"] for r in escalated if r["type"] == "incident.escalated" and r["tier"] == 2)
    assert "not answered (200003" in reason and time.monotonic() - started < WAIT_SECONDS + 5
    aliyun.fail_to(officer, "")  # later tests: delivered again


def test_aliyun_forged_call_results_are_refused(broker: str, aliyun_worker: WorkerProcess,
                                                aliyun: LocalAliyunSms) -> None:
    commands = TopicReader(broker, aliyun_worker.topic("commands"))
    before = len(commands.settle(1))
    officer = on_duty_phone("duty_officer")
    item = {"call_id": "999999999999^00000000001", "callee": digits(officer), "status_code": "200000",
            "dtmf": "1", "out_id": ""}
    base = f"{aliyun_worker.public_url}/aliyun/voice-report"
    assert post(f"{base}/wrong-token", [item])[0] == 403
    assert post(f"{base}/{TOKEN}", [item])[0] == 200                        # no such call of ERS
    assert post(f"{base}/{TOKEN}", [{**item, "call_id": "1^2", "callee": "13999999999"}])[0] == 200  # a stranger
    time.sleep(2)
    assert len(commands.settle(1)) == before, "no forged result became a command"
    log = aliyun_worker.log_since_start()
    for reason in ("no or wrong push token", "no call of ERS to", "call to an unknown number"):
        assert reason in log, reason
    assert digits(officer) not in log


def test_twilio_call_reads_the_incident_and_key_1_acknowledges(broker: str, twilio_worker: WorkerProcess,
                                                                twilio: LocalTwilioApi) -> None:
    officer = on_duty_phone("duty_officer")
    incidents = TopicReader(broker, twilio_worker.topic("incidents"))
    send(broker, twilio_worker.topic("readings"), reading("hlh_dsk_auto", "zinc", 1.5), key="hlh_dsk_auto")
    code, incident_id = opened_code(incidents, "halaha_dashankuang")
    call = wait_for(lambda: next((c for c in twilio.calls if code in c.said and c.to == officer), None),
                    WAIT_SECONDS + 10, "call")
    # read in the person's language (this duty officer reads English)
    english = "Press 1 to acknowledge." in call.said
    assert call.to == officer and (english or call.said.endswith("确认收到请按1。"))
    assert ("zinc 1.5 mg/L" if english else "锌1.5mg/L") in call.said
    assert f'voice="{"Polly.Joanna" if english else "Polly.Zhiyu"}"' in call.twiml
    assert call.gather_action == twilio_worker.public_url + "/twilio/voice/gather"
    # an unsigned or forged gather is refused
    params = {**call_webhook_params(twilio.account_sid, call.sid, call.from_, call.to, "in-progress"), "Digits": "1"}
    assert post_signed_form(call.gather_action, params, "not-the-token")[0] == 403
    status, twiml = twilio.answer_call(officer, "1", call=call)
    assert status == 200 and (f"Acknowledged {code}" if english else f"已确认{code}") in twiml and "<Hangup" in twiml
    incidents.wait_for(lambda rs: any(r["type"] == "incident.acknowledged" and r["incident_id"] == incident_id
                                      for r in rs), timeout=10)
    assert twilio.answer_call(officer, "1", call=call)[0] == 403  # replayed
    time.sleep(WAIT_SECONDS + 4)
    assert [r["tier"] for r in incidents.settle(1) if r["type"] == "incident.escalated"
            and r["incident_id"] == incident_id] == [1]


def test_twilio_call_answered_with_another_key_moves_on_at_once(broker: str, twilio_worker: WorkerProcess,
                                                                twilio: LocalTwilioApi) -> None:
    incidents = TopicReader(broker, twilio_worker.topic("incidents"))
    send(broker, twilio_worker.topic("readings"), reading("city_source_auto", "ammonia_nitrogen", 1.4),
         key="city_source_auto")
    code, incident_id = opened_code(incidents, "arxan_city_drinking_source")
    officer = on_duty_phone("duty_officer")
    call = wait_for(lambda: next((c for c in twilio.calls if code in c.said and c.to == officer), None),
                    WAIT_SECONDS + 10, "call")
    started = time.monotonic()
    # the person is played by `ers sms call-answer`, as an operator would in a trial
    answered = subprocess.run([sys.executable, "-m", "streams.cli", "sms", "call-answer", "--to", officer, "--key", "2"],
                              env=twilio_worker.env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert answered.returncode == 0, answered.stdout + answered.stderr
    assert "Not acknowledged" in answered.stdout or "未确认" in answered.stdout
    assert "key 2 pressed" in answered.stderr and officer not in answered.stdout + answered.stderr
    escalated = incidents.wait_for(lambda rs: any(r["type"] == "incident.escalated" and r["tier"] == 2
                                                  and r["incident_id"] == incident_id for r in rs), timeout=10)
    reason = next(r["reason"] for r in escalated if r["type"] == "incident.escalated" and r["tier"] == 2)
    assert "answered, pressed 2" in reason and time.monotonic() - started < 10
    assert not [r for r in incidents.poll() if r["type"] == "incident.acknowledged" and r["incident_id"] == incident_id]
