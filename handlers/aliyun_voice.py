"""Calling people through Aliyun voice (Dyvmsapi 2017-05-25) with the official SDK: 叫应, an IVR call that reads the
incident (a registered text-to-speech template) and asks for the key 1.

`IvrCall` with `CalledShowNumber` (a number bought in the voice console), `CalledNumber` (mainland, 11 digits),
`StartCode` + `StartTtsParams` (the "call" template and its slots), `MenuKeyMap` (key 1 plays "call_acked"),
`PlayTimes` 2 and `OutId` (the notification id, cut to the 15 bytes IvrCall takes). Aliyun answers with a
`CallId`; the call's result, and the key pressed, come back in a VoiceReport push (handlers/aliyun_push.py).
Errors are sorted as for SMS (handlers/aliyun_sms.py).

There is no look-up of calls by OutId: a worker killed between its claim and recording the CallId may call once
more after a restart (the outbox says so in `find_sent`).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from alibabacloud_dyvmsapi20170525 import models
from alibabacloud_dyvmsapi20170525.client import Client
from darabonba.runtime import RuntimeOptions

from contingency.phones import aliyun_number, mask
from contingency.sms_text import CALL_KEY
from handlers.aliyun_sms import failure, refusal, sdk_config
from handlers.sms_errors import SentMessage

log = logging.getLogger("ers.voice.aliyun")

VOICE_ENDPOINT = "dyvmsapi.aliyuncs.com"
OUT_ID_BYTES = 15     # IvrCall's OutId: 1-15 bytes
PLAY_TIMES = 2        # the message is read twice (IvrCall allows 1-3)
KEY_TIMEOUT_MS = 10_000


def call_out_id(notification_hex: str) -> str:
    return notification_hex[:OUT_ID_BYTES]


class AliyunVoice:
    def __init__(self, access_key_id: str, access_key_secret: str, show_number: str, *, endpoint: str | None = None,
                 timeout: float = 10.0) -> None:
        if not access_key_id or not access_key_secret:
            raise ValueError("access_key_id and access_key_secret are required")
        self._client = Client(sdk_config(access_key_id, access_key_secret, endpoint or VOICE_ENDPOINT, timeout))
        self._show = show_number

    def call(self, to: str, start_code: str, params: Mapping[str, str], acked_code: str, acked_params: Mapping[str, str],
             *, out_id: str) -> SentMessage:
        request = models.IvrCallRequest(
            called_show_number=self._show, called_number=aliyun_number(to), start_code=start_code,
            start_tts_params=json.dumps(dict(params), ensure_ascii=False), play_times=PLAY_TIMES,
            timeout=KEY_TIMEOUT_MS, out_id=call_out_id(out_id),
            menu_key_map=[models.IvrCallRequestMenuKeyMap(
                key=CALL_KEY, code=acked_code, tts_params=json.dumps(dict(acked_params), ensure_ascii=False))])
        try:
            body = self._client.ivr_call_with_options(request, RuntimeOptions(autoretry=False)).body
        except Exception as exc:
            raise failure(exc, to, "call to", may_have_sent=True) from exc
        if body.code != "OK":
            raise refusal(body.code or "", body.message or "", to, "call to")
        log.info("call %s to %s accepted by aliyun (%s)", body.call_id, mask(to), start_code)
        return SentMessage(sid=body.call_id or "", status="sent", num_segments=1)
