"""Aliyun SMS through the official SDK (alibabacloud-dysmsapi20170525) against the local sandbox: the SDK's own
signing, request and parsing run, and the sandbox checks its signature, sign, template and parameters."""
from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from aiohttp import web

from deploy.local.aliyun_api import PARAM_CHARS, LocalAliyunSms, fake_access_key, verify_acs3
from deploy.local.kafka import free_port
from deploy.local.twilio_api import AiohttpThread
from contingency.phones import aliyun_number, e164_of
from handlers.aliyun_sms import AliyunSms
from handlers.sms_errors import PermanentSmsError, RetryableSmsError

SIGN = "阿尔山市生态环境局"
PAGE = "SMS_480001"
TEMPLATES = {PAGE: '${level}预警${code} ${place} ${measured},限值${limit} ${time}。回复"1 ${code}"确认'}
PARAMS = {"level": "黄色", "code": "K7Q", "place": "哈拉哈河大山矿断面", "measured": "镉0.0062mg/L",
          "limit": "≤0.005mg/L", "time": "07-22 08:40"}
OFFICER = "+8613800000001"


class Receiver:
    """ERS's side of the pushes, as far as these tests need: records the JSON arrays and answers {"code": 0}."""

    def __init__(self) -> None:
        self.pushed: dict[str, list[list[dict]]] = {"report": [], "up": []}
        self._lock = threading.Lock()
        app = web.Application()
        app.router.add_post("/aliyun/{kind}", self._receive)
        self.server = AiohttpThread(app)

    async def _receive(self, request: web.Request) -> web.Response:
        with self._lock:
            self.pushed[request.match_info["kind"]].append(await request.json())
        return web.json_response({"code": 0, "msg": "接收成功"})

    def wait(self, kind: str, n: int, timeout: float = 5.0) -> list[list[dict]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.pushed[kind]) >= n:
                    return list(self.pushed[kind])
            time.sleep(0.02)
        raise AssertionError(f"{n} {kind} pushes expected, got {self.pushed[kind]}")


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.server.start()
    yield r
    r.server.stop()


@pytest.fixture()
def sandbox(receiver: Receiver) -> Iterator[tuple[LocalAliyunSms, str, str]]:
    key, secret = fake_access_key()
    with LocalAliyunSms(access_key_id=key, access_key_secret=secret, templates=TEMPLATES, sign_names={SIGN},
                        report_url=receiver.server.url + "/aliyun/report",
                        up_url=receiver.server.url + "/aliyun/up") as api:
        yield api, key, secret


def client(sandbox, secret: str | None = None, timeout: float = 2.0) -> AliyunSms:
    api, key, real = sandbox
    return AliyunSms(key, secret or real, SIGN, endpoint=api.endpoint, timeout=timeout)


def test_the_sdk_sends_a_registered_template_and_the_phone_shows_it_filled_in(sandbox, receiver) -> None:
    api = sandbox[0]
    sent = client(sandbox).send(OFFICER, PAGE, PARAMS, out_id="n-1", extend_code="4821")
    [message] = api.messages
    assert sent.sid == message.biz_id and message.phone == "13800000001" and message.template_code == PAGE
    assert message.params == PARAMS and message.out_id == "n-1" and message.extend_code == "4821"
    assert message.content == ('【阿尔山市生态环境局】黄色预警K7Q 哈拉哈河大山矿断面 镉0.0062mg/L,限值≤0.005mg/L 07-22 08:40。'
                               '回复"1 K7Q"确认')
    [[report]] = receiver.wait("report", 1)
    assert report["biz_id"] == sent.sid and report["success"] is True and report["out_id"] == "n-1"
    assert report["phone_number"] == "13800000001" and report["err_code"] == "DELIVERED"


def test_a_failed_delivery_is_reported_as_a_failure(sandbox, receiver) -> None:
    api = sandbox[0]
    api.fail_to(OFFICER, "MK:0001")
    client(sandbox).send(OFFICER, PAGE, PARAMS, out_id="n-2")
    [[report]] = receiver.wait("report", 1)
    assert report["success"] is False and report["err_code"] == "MK:0001"


def test_a_reply_comes_back_to_the_messages_extension(sandbox, receiver) -> None:
    api = sandbox[0]
    client(sandbox).send(OFFICER, PAGE, PARAMS, out_id="n-3", extend_code="4821")
    pushed = api.reply(OFFICER, "1")
    assert pushed.status == 200 and json.loads(pushed.answer)["code"] == 0
    [[up]] = receiver.wait("up", 1)
    assert up["phone_number"] == "13800000001" and up["content"] == "1"
    assert up["dest_code"] == "4821" and isinstance(up["sequence_id"], int)


def test_find_sent_looks_the_message_up_by_out_id(sandbox) -> None:
    sms = client(sandbox)
    sms.send(OFFICER, PAGE, PARAMS, out_id="n-4")
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    assert sms.find_sent(OFFICER, "n-4", since) is not None
    assert sms.find_sent(OFFICER, "n-5", since) is None
    assert sms.find_sent("+8613800000002", "n-4", since) is None


@pytest.mark.parametrize("template, params, code", [
    ("SMS_999", PARAMS, "isv.SMS_TEMPLATE_ILLEGAL"),
    (PAGE, {k: v for k, v in PARAMS.items() if k != "limit"}, "isv.TEMPLATE_MISSING_PARAMETERS"),
    (PAGE, {**PARAMS, "place": "哈" * (PARAM_CHARS + 1)}, "isv.PARAM_LENGTH_LIMIT"),
])
def test_what_aliyun_refuses_for_good_is_permanent(sandbox, template, params, code) -> None:
    with pytest.raises(PermanentSmsError, match=code):
        client(sandbox).send(OFFICER, template, params, out_id="n-6")
    assert sandbox[0].messages == []


def test_flow_control_is_a_limit_to_wait_out_and_nothing_is_sent(sandbox) -> None:
    api = sandbox[0]
    api.throttle(OFFICER, 30)
    with pytest.raises(RetryableSmsError) as caught:
        client(sandbox).send(OFFICER, PAGE, PARAMS, out_id="n-7")
    assert caught.value.limited and not caught.value.maybe_sent and caught.value.retry_after == 60
    assert api.messages == [] and ("SendSms", "isv.BUSINESS_LIMIT_CONTROL") in api.refusals
    client(sandbox).send("+8613800000002", PAGE, PARAMS, out_id="n-8")  # other numbers are not limited


def test_a_server_error_or_a_timeout_may_have_sent_a_refused_connection_did_not(sandbox) -> None:
    api = sandbox[0]
    api.fail_next(1, 500)
    with pytest.raises(RetryableSmsError) as server_error:
        client(sandbox).send(OFFICER, PAGE, PARAMS, out_id="n-9")
    api.stall_next(1, 3.0)
    with pytest.raises(RetryableSmsError) as timeout:
        client(sandbox, timeout=1.0).send(OFFICER, PAGE, PARAMS, out_id="n-10")
    nowhere = AliyunSms(sandbox[1], sandbox[2], SIGN, endpoint=f"127.0.0.1:{free_port()}", timeout=1.0)
    with pytest.raises(RetryableSmsError) as refused:
        nowhere.send(OFFICER, PAGE, PARAMS, out_id="n-11")
    assert server_error.value.maybe_sent and timeout.value.maybe_sent and not refused.value.maybe_sent


def test_a_wrong_secret_and_a_replayed_request_are_refused(sandbox) -> None:
    api = sandbox[0]
    with pytest.raises(PermanentSmsError, match="SignatureDoesNotMatch"):
        client(sandbox, secret="not-the-secret").send(OFFICER, PAGE, PARAMS, out_id="n-12")
    client(sandbox).send(OFFICER, PAGE, PARAMS, out_id="n-13")
    good = api.requests[-1]
    replay = urllib.request.Request(api.url + good.path_qs, data=good.body or b"", method="POST",
                                    headers={k: v for k, v in good.headers.items() if k.lower() != "content-length"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(replay, timeout=5)
    assert json.loads(caught.value.read())["Code"] == "SignatureNonceUsed"
    assert len(api.messages) == 1


def test_verify_acs3_names_what_is_wrong() -> None:
    with pytest.raises(Exception, match="no ACS3-HMAC-SHA256"):
        verify_acs3("POST", "/", {}, {}, b"", {"k": "s"})
    header = {"authorization": "ACS3-HMAC-SHA256 Credential=other,SignedHeaders=host,Signature=" + "0" * 64}
    with pytest.raises(Exception, match="InvalidAccessKeyId"):
        verify_acs3("POST", "/", {}, header, b"", {"k": "s"})


def test_numbers_in_aliyuns_form_and_back() -> None:
    assert aliyun_number("+8613800000001") == "13800000001" and aliyun_number("+85291234567") == "85291234567"
    assert e164_of("13800000001") == "+8613800000001" and e164_of("008613800000001") == "+8613800000001"
    assert e164_of("85291234567") == "+85291234567"
