"""The official Dyvmsapi SDK (handlers.aliyun_voice) against the local sandbox: a signed IvrCall with registered
templates, the VoiceReport a key press pushes, and refusals sorted as for SMS."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from aiohttp import web

from deploy.local.aliyun_api import LocalAliyunSms, fake_access_key
from deploy.local.twilio_api import AiohttpThread
from handlers.aliyun_voice import AliyunVoice
from handlers.sms_errors import PermanentSmsError, RetryableSmsError

SHOW = "04828000000"
VOICE = {"TTS_1": "${drill}${level},编号${code}。确认收到请按1。", "TTS_2": "已确认${code}"}
OFFICER = "+8613800000101"
PARAMS = {"drill": "", "level": "黄色预警", "code": "K7Q"}


class Receiver:
    def __init__(self) -> None:
        self.pushed: list[list[dict]] = []
        self._lock = threading.Lock()
        app = web.Application()
        app.router.add_post("/voice", self._receive)
        self.server = AiohttpThread(app)

    async def _receive(self, request: web.Request) -> web.Response:
        with self._lock:
            self.pushed.append(await request.json())
        return web.json_response({"code": 0, "msg": "接收成功"})


@pytest.fixture()
def sandbox() -> Iterator[tuple[LocalAliyunSms, AliyunVoice, Receiver]]:
    receiver = Receiver()
    receiver.server.start()
    key, secret = fake_access_key()
    with LocalAliyunSms(access_key_id=key, access_key_secret=secret, templates={}, sign_names={"x"},
                        voice_templates=VOICE, show_numbers={SHOW}, voice_url=receiver.server.url + "/voice") as api:
        yield api, AliyunVoice(key, secret, SHOW, endpoint=api.endpoint, timeout=2.0), receiver
    receiver.server.stop()


def test_a_signed_ivr_call_reads_the_template_and_a_key_press_comes_back(sandbox) -> None:
    api, voice, receiver = sandbox
    out_id = "0123456789abcdef0123456789abcdef"
    sent = voice.call(OFFICER, "TTS_1", PARAMS, "TTS_2", {"code": "K7Q"}, out_id=out_id)
    [call] = api.calls
    assert sent.sid == call.call_id and call.phone == "13800000101" and call.show_number == SHOW
    assert call.said == "黄色预警,编号K7Q。确认收到请按1。" and call.keys == {"1": "TTS_2"}
    assert call.out_id == out_id[:15], "IvrCall's OutId holds 15 bytes"
    pushed = api.answer_call(OFFICER, "1")
    assert pushed.status == 200
    [item] = receiver.pushed[0]
    assert (item["call_id"], item["callee"], item["dtmf"], item["status_code"]) == (call.call_id, "13800000101", "1",
                                                                                    "200000")
    api.miss_call(OFFICER, "200002")
    assert receiver.pushed[1][0]["status_code"] == "200002" and receiver.pushed[1][0]["dtmf"] == ""


@pytest.mark.parametrize("show, code, params, refusal", [
    ("05710000000", "TTS_1", PARAMS, "isv.DISPLAY_NUMBER_ILLEGAL"),
    (SHOW, "TTS_9", PARAMS, "isv.TTS_TEMPLATE_ILLEGAL"),
    (SHOW, "TTS_1", {"code": "K7Q"}, "isv.TEMPLATE_MISSING_PARAMETERS"),
])
def test_what_aliyun_refuses_for_good_is_permanent(sandbox, show, code, params, refusal) -> None:
    api, _, _ = sandbox
    key, secret = next(iter(api._keys.items()))
    voice = AliyunVoice(key, secret, show, endpoint=api.endpoint)
    with pytest.raises(PermanentSmsError) as caught:
        voice.call(OFFICER, code, params, "TTS_2", {"code": "K7Q"}, out_id="ab")
    assert refusal in str(caught.value) and api.calls == []


def test_flow_control_and_server_errors_are_retryable(sandbox) -> None:
    api, voice, _ = sandbox
    api.throttle(OFFICER, 30)
    with pytest.raises(RetryableSmsError) as caught:
        voice.call(OFFICER, "TTS_1", PARAMS, "TTS_2", {"code": "K7Q"}, out_id="ab")
    assert caught.value.limited and not caught.value.maybe_sent and api.calls == []
    api.fail_next(1, 500)
    with pytest.raises(RetryableSmsError) as caught:
        voice.call("+8613800000102", "TTS_1", PARAMS, "TTS_2", {"code": "K7Q"}, out_id="ab")
    assert caught.value.maybe_sent


def test_a_wrong_secret_is_refused_by_the_signature_check(sandbox) -> None:
    api, _, _ = sandbox
    key = next(iter(api._keys))
    with pytest.raises(PermanentSmsError):
        AliyunVoice(key, "not-the-secret", SHOW, endpoint=api.endpoint).call(
            OFFICER, "TTS_1", PARAMS, "TTS_2", {"code": "K7Q"}, out_id="ab")
    time.sleep(0)
    assert ("IvrCall", "SignatureDoesNotMatch") in api.refusals
