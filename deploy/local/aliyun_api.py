"""A local stand-in for Aliyun SMS (Dysmsapi 2017-05-25) and voice (Dyvmsapi 2017-05-25), for tests and development.

The official SDK (`alibabacloud-dysmsapi20170525`) talks to it over HTTP with the endpoint overridden, so the
SDK's own request building, ACS3-HMAC-SHA256 signing and response parsing run. It implements what ERS uses:

- `SendSms` (RPC style, parameters in the query): the signature is checked with the test AccessKey (canonical
  request, signed headers, payload hash, a nonce used once, a date within 15 minutes); the sign name and the
  template must be registered, every `${param}` of the template given, each value at most 35 characters (the
  limit Aliyun gives for notification templates); per-number flow control answers `isv.BUSINESS_LIMIT_CONTROL`.
  The message's content is the template with its parameters filled in, as the phone shows it.
- `QuerySendDetails` by number and day (and BizId).
- Pushes, as Aliyun's HTTP batch push does (JSON arrays): `SmsReport` for every message (DELIVERED, or a
  failure for numbers told to fail), and `SmsUp` when `reply` plays a person answering a message: its
  `dest_code` is the message's `SmsUpExtendCode` (Aliyun generates it; ERS reads its last five digits).
- `IvrCall` (叫应): the show number must be registered, the start and key templates too, with every slot given;
  the call is kept with what it says. `answer_call` plays the person pressing a key (or none), `miss_call` a call
  nobody answers: each pushes a VoiceReport (status_code, dtmf, out_id) as Aliyun does.
- Failure injection: `fail_next` (HTTP 5xx), `stall_next` (slower than the client's timeout), `throttle`
  (flow control for a number, SMS and calls), `fail_to` (a number whose messages are not delivered).

Served from its own event loop in a thread (`AiohttpThread`, as the local Twilio API).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import aiohttp
from aiohttp import web

from contingency.phones import mask
from contingency.sms_templates import SLOT, render
from deploy.local.twilio_api import AiohttpThread
from contingency.phones import aliyun_number

log = logging.getLogger("ers.sms.aliyun.local")

API_VERSION = "2017-05-25"
ALGORITHM = "ACS3-HMAC-SHA256"
PARAM_CHARS = 35                  # per template variable, notification templates
NO_EXTENSION = "0"                # the dest_code of a reply to a message sent without SmsUpExtendCode
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
_DOMESTIC = re.compile(r"^1\d{10}$")


def fake_access_key() -> tuple[str, str]:
    """A random, obviously local AccessKey id and secret."""
    return "LTAIlocal" + secrets.token_hex(6), secrets.token_urlsafe(24)


def sandbox_keys(path: Path) -> tuple[str, str, str]:
    """The local sandbox's (AccessKey id, secret, push token), made once and kept in `path` (mode 600), so that
    `ers sms reply` can push replies to the worker that `ers up` runs."""
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        return data["access_key_id"], data["access_key_secret"], data["push_token"]
    path.parent.mkdir(parents=True, exist_ok=True)
    key, secret = fake_access_key()
    token = secrets.token_urlsafe(24)
    path.write_text(json.dumps({"access_key_id": key, "access_key_secret": secret, "push_token": token}),
                    encoding="utf-8")
    path.chmod(0o600)
    return key, secret, token


def post_json(url: str, items: list[dict], timeout: float = 10) -> tuple[int, str]:
    """POST a push as Aliyun does (a JSON array), from a synchronous caller (`ers sms reply`, `ers sms call-answer`);
    (status, body). OSError when the receiver cannot be reached."""
    request = urllib.request.Request(url, data=json.dumps(items, ensure_ascii=False).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def sms_up_item(phone: str, content: str, dest_code: str, sequence_id: int, sign_name: str = "") -> dict:
    """One SmsUp item as Aliyun pushes it."""
    return {"phone_number": aliyun_number(phone), "content": content, "sign_name": sign_name,
            "send_time": _local(dt.datetime.now(dt.timezone.utc)), "dest_code": dest_code, "sequence_id": sequence_id}


CALL_STATUS = {"200000": "用户听完语音", "200002": "用户占线", "200003": "用户收到呼叫但未接听", "200005": "被叫用户无法接通"}


def voice_report_item(call_id: str, caller: str, callee: str, out_id: str | None, status_code: str, dtmf: str) -> dict:
    """One VoiceReport item as Aliyun pushes it at the end of a call (`callee` 11 digits or E.164)."""
    now = _local(dt.datetime.now(dt.timezone.utc))
    answered = status_code == "200000"
    return {"call_id": call_id, "start_time": now if answered else "", "end_time": now if answered else "",
            "duration": "20" if answered else "0", "status_code": status_code,
            "status_msg": CALL_STATUS.get(status_code, "呼叫失败"), "early_media_code": "", "hangup_direction": "用户",
            "caller": caller, "callee": aliyun_number(callee), "out_id": out_id or "", "dtmf": dtmf,
            "voice_type": "voice"}


@dataclass
class LocalSms:
    biz_id: str
    phone: str                 # as sent: 11 digits for the mainland
    sign_name: str
    template_code: str
    params: dict[str, str]
    content: str               # 【sign】 + the template filled in: what the phone shows
    out_id: str | None
    extend_code: str | None
    sent_at: dt.datetime
    status: str = "sending"    # sending, delivered, failed
    err_code: str | None = None


@dataclass
class LocalCall:
    call_id: str
    phone: str                 # 11 digits
    show_number: str
    start_code: str
    params: dict[str, str]
    said: str                  # the start template filled in: what the person hears
    keys: dict[str, str]       # key -> the template code it plays
    out_id: str | None
    placed_at: dt.datetime
    status: str = "ringing"    # ringing, answered, missed


@dataclass
class PushedReport:
    url: str
    kind: str                  # SmsReport or SmsUp
    items: list[dict]
    status: int | None
    answer: str


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path_qs: str
    headers: dict[str, str]
    body: bytes


class AliyunSignatureError(Exception):
    pass


def verify_acs3(method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes,
                secrets_by_key: Mapping[str, str]) -> str:
    """The AccessKey id of a request signed with ACS3-HMAC-SHA256 by one of `secrets_by_key`, else
    AliyunSignatureError with the reason. `headers` with lower-case names."""
    authorization = headers.get("authorization", "")
    match = re.fullmatch(rf"{ALGORITHM} Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{{64}})",
                         authorization)
    if match is None:
        raise AliyunSignatureError("no ACS3-HMAC-SHA256 Authorization header")
    key, signed, signature = match.groups()
    secret = secrets_by_key.get(key)
    if secret is None:
        raise AliyunSignatureError(f"InvalidAccessKeyId.NotFound: {key}")
    names = signed.split(";")
    if not {"host", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"} <= set(names):
        raise AliyunSignatureError("the signature leaves out host, date, nonce or payload hash")
    payload = hashlib.sha256(body).hexdigest()
    if headers.get("x-acs-content-sha256") != payload:
        raise AliyunSignatureError("x-acs-content-sha256 is not the body's hash")
    canonical_query = "&".join(f"{k}={quote(v, safe='~')}" for k, v in sorted(query.items()))
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in names)
    canonical = "\n".join([method, path or "/", canonical_query, canonical_headers, signed, payload])
    to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    expected = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise AliyunSignatureError("SignatureDoesNotMatch")
    return key


class LocalAliyunSms:
    def __init__(self, *, access_key_id: str, access_key_secret: str, templates: Mapping[str, str],
                 sign_names: set[str], report_url: str | None = None, up_url: str | None = None,
                 host: str = "127.0.0.1", port: int = 0, report_delay: float = 0.05,
                 voice_templates: Mapping[str, str] | None = None, show_numbers: set[str] | None = None,
                 voice_url: str | None = None) -> None:
        self.voice_templates = dict(voice_templates or {})  # TTS code -> text with ${param}
        self.show_numbers = set(show_numbers or ())
        self.voice_url = voice_url
        self._calls: list[LocalCall] = []
        self._keys = {access_key_id: access_key_secret}
        self.templates = dict(templates)            # TemplateCode -> text with ${param}
        self.sign_names = set(sign_names)
        self.report_url, self.up_url = report_url, up_url
        self._report_delay = report_delay
        self._lock = threading.Lock()
        self._messages: list[LocalSms] = []
        self._pushes: list[PushedReport] = []
        self._refusals: list[tuple[str, str]] = []  # (action, code)
        self._requests: list[RecordedRequest] = []
        self._nonces: set[str] = set()
        self._fail_next: list[int] = []
        self._stall_next: list[float] = []
        self._throttled: dict[str, float] = {}      # phone -> until (loop time)
        self._failing: dict[str, str] = {}          # phone -> err_code of its reports
        self._sequence = 0
        self._created = 0                           # messages taken, and how many made their last report push
        self._settled = 0
        self._session: aiohttp.ClientSession | None = None
        self._server = AiohttpThread(self._app(), host, port)

    # -- running -----------------------------------------------------------------------------------------------
    def start(self) -> "LocalAliyunSms":
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> "LocalAliyunSms":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def endpoint(self) -> str:
        """What the SDK's Config.endpoint takes: host:port (with protocol "http")."""
        return urlsplit(self.url).netloc

    # -- what it saw --------------------------------------------------------------------------------------------
    @property
    def messages(self) -> list[LocalSms]:
        with self._lock:
            return list(self._messages)

    @property
    def calls(self) -> list[LocalCall]:
        with self._lock:
            return list(self._calls)

    @property
    def pushes(self) -> list[PushedReport]:
        with self._lock:
            return list(self._pushes)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every API request as it arrived (to replay one, in tests)."""
        with self._lock:
            return list(self._requests)

    @property
    def refusals(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._refusals)

    # -- failing on demand ----------------------------------------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 500) -> None:
        with self._lock:
            self._fail_next += [status] * n

    def stall_next(self, n: int = 1, seconds: float = 5.0) -> None:
        with self._lock:
            self._stall_next += [seconds] * n

    def throttle(self, phone: str, seconds: float) -> None:
        """Flow control for `phone` (11 digits or E.164) for `seconds` from now."""
        until = self._server.loop.time() + seconds
        with self._lock:
            self._throttled[aliyun_number(phone)] = until

    def fail_to(self, phone: str, err_code: str = "MK:0001") -> None:
        with self._lock:
            self._failing[aliyun_number(phone)] = err_code

    # -- a person answering -----------------------------------------------------------------------------------------
    def reply(self, phone: str, content: str, *, to: LocalSms | None = None, dest_code: str | None = None,
              sequence_id: int | None = None) -> PushedReport:
        """Push an SmsUp as Aliyun does when `phone` answers `to` (default: the newest message to it)."""
        digits = aliyun_number(phone)
        if dest_code is None:
            message = to or next((m for m in reversed(self.messages) if m.phone == digits), None)
            dest_code = (message.extend_code if message else None) or NO_EXTENSION
        with self._lock:
            self._sequence += 1
            sequence = sequence_id if sequence_id is not None else self._sequence
        item = sms_up_item(digits, content, dest_code, sequence, next(iter(self.sign_names), ""))
        return self._server.run(self._push("SmsUp", self.up_url, [item]))

    def answer_call(self, phone: str, key: str, *, call: LocalCall | None = None) -> PushedReport:
        """The person at `phone` answers the newest call to it and presses `key` ("" for none): a VoiceReport."""
        return self._end_call(call or self._newest_call(phone), "answered", "200000", key)

    def miss_call(self, phone: str, status_code: str = "200003", *, call: LocalCall | None = None) -> PushedReport:
        """Nobody answers the newest call to `phone` (200003 no answer, 200002 busy, 200005 unreachable...)."""
        return self._end_call(call or self._newest_call(phone), "missed", status_code, "")

    def _end_call(self, call: LocalCall, status: str, status_code: str, dtmf: str) -> PushedReport:
        with self._lock:
            call.status = status
        item = voice_report_item(call.call_id, call.show_number, call.phone, call.out_id, status_code, dtmf)
        return self._server.run(self._push("VoiceReport", self.voice_url, [item]))

    def _newest_call(self, phone: str) -> LocalCall:
        digits = aliyun_number(phone)
        found = [c for c in self.calls if c.phone == digits]
        if not found:
            raise LookupError(f"no call to {mask(phone)}")
        return found[-1]

    def push_raw(self, kind: str, url: str, items: list[dict]) -> PushedReport:
        """Push anything (a forged or replayed push, in tests)."""
        return self._server.run(self._push(kind, url, items))

    # -- the API ---------------------------------------------------------------------------------------------------
    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/", self._rpc)
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)
        return app

    async def _open(self, app: web.Application) -> None:
        self._session = aiohttp.ClientSession()

    async def _close(self, app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    async def _rpc(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = dict(parse_qsl(request.query_string, keep_blank_values=True))
        action = headers.get("x-acs-action", "")
        with self._lock:
            self._requests.append(RecordedRequest(request.method, request.path_qs, dict(request.headers), body))
            stall = self._stall_next.pop(0) if self._stall_next else None
            fail = self._fail_next.pop(0) if self._fail_next else None
        if stall is not None:
            await asyncio.sleep(stall)
        try:
            verify_acs3(request.method, request.path, query, headers, body, self._keys)
        except AliyunSignatureError as exc:
            code = str(exc).split(":")[0] if str(exc).startswith("InvalidAccessKeyId") else "SignatureDoesNotMatch"
            return self._error(action, 404 if code.startswith("InvalidAccessKeyId") else 400, code, str(exc))
        nonce = headers.get("x-acs-signature-nonce", "")
        when = _parse_acs_date(headers.get("x-acs-date", ""))
        if when is None or abs((dt.datetime.now(dt.timezone.utc) - when).total_seconds()) > 900:
            return self._error(action, 400, "InvalidTimeStamp.Expired", "x-acs-date is not within 15 minutes")
        with self._lock:
            replayed = nonce in self._nonces
            self._nonces.add(nonce)
        if replayed:
            return self._error(action, 400, "SignatureNonceUsed", "the nonce was used before")
        if headers.get("x-acs-version") != API_VERSION:
            return self._error(action, 400, "InvalidVersion", f"version {headers.get('x-acs-version')}")
        if fail is not None:
            return self._error(action, fail, "ServiceUnavailable", "the request failed due to a temporary failure")
        if action == "SendSms":
            return self._send(query)
        if action == "QuerySendDetails":
            return self._query(query)
        if action == "IvrCall":
            return self._ivr_call(query)
        return self._error(action, 400, "InvalidAction.NotFound", f"{action} is not served here")

    def _send(self, q: Mapping[str, str]) -> web.Response:
        phone, sign, code = q.get("PhoneNumbers", ""), q.get("SignName", ""), q.get("TemplateCode", "")
        if not _DOMESTIC.match(phone) and not re.fullmatch(r"[1-9]\d{7,14}", phone):
            return self._ok_error("SendSms", "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if sign not in self.sign_names:
            return self._ok_error("SendSms", "isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        template = self.templates.get(code)
        if template is None:
            return self._ok_error("SendSms", "isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        try:
            params = json.loads(q.get("TemplateParam") or "{}")
        except ValueError:
            return self._ok_error("SendSms", "isv.INVALID_JSON_PARAM", "JSON参数不合法")
        if not isinstance(params, dict):
            return self._ok_error("SendSms", "isv.INVALID_JSON_PARAM", "JSON参数不合法")
        params = {str(k): str(v) for k, v in params.items()}
        missing = [slot for slot in dict.fromkeys(SLOT.findall(template)) if slot not in params]
        if missing:
            return self._ok_error("SendSms", "isv.TEMPLATE_MISSING_PARAMETERS", f"模板缺少变量 {','.join(missing)}")
        long = [k for k, v in params.items() if len(v) > PARAM_CHARS]
        if long:
            return self._ok_error("SendSms", "isv.PARAM_LENGTH_LIMIT", f"参数超出长度限制 {','.join(long)}")
        extend = q.get("SmsUpExtendCode") or None
        if extend is not None and not re.fullmatch(r"\d{1,6}", extend):
            return self._ok_error("SendSms", "isv.EXTEND_CODE_ERROR", "扩展码使用错误")
        now = self._server.loop.time()
        with self._lock:
            if self._throttled.get(phone, 0) > now:
                self._refusals.append(("SendSms", "isv.BUSINESS_LIMIT_CONTROL"))
                return _json({"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发号码天级流控Permits:10",
                              "RequestId": str(uuid.uuid4())})
            message = LocalSms(biz_id=f"{secrets.randbelow(10**15):015d}^0", phone=phone, sign_name=sign,
                               template_code=code, params=params, content=f"【{sign}】{render(template, params)}",
                               out_id=q.get("OutId") or None, extend_code=extend,
                               sent_at=dt.datetime.now(dt.timezone.utc))
            self._messages.append(message)
            self._created += 1
            failing = self._failing.get(phone)
        log.info("aliyun sandbox: %s to %s (%s)", code, mask("+86" + phone if len(phone) == 11 else phone),
                 message.biz_id)
        asyncio.get_running_loop().create_task(self._deliver(message, failing))
        return _json({"Code": "OK", "Message": "OK", "BizId": message.biz_id, "RequestId": str(uuid.uuid4())})

    def _ivr_call(self, q: Mapping[str, str]) -> web.Response:
        phone, show, code = q.get("CalledNumber", ""), q.get("CalledShowNumber", ""), q.get("StartCode", "")
        if not _DOMESTIC.match(phone):
            return self._ok_error("IvrCall", "isv.MOBILE_NUMBER_ILLEGAL", "被叫号码不合法(仅支持中国内地号码)")
        if show not in self.show_numbers:
            return self._ok_error("IvrCall", "isv.DISPLAY_NUMBER_ILLEGAL", "主叫号码不是已购买的号码")
        start = self.voice_templates.get(code)
        if start is None:
            return self._ok_error("IvrCall", "isv.TTS_TEMPLATE_ILLEGAL", "文本转语音模板不存在")
        params, problem = self._tts_params(start, q.get("StartTtsParams"))
        if problem is not None:
            return self._ok_error("IvrCall", *problem)
        keys: dict[str, str] = {}
        for n in range(1, 10):
            key, key_code = q.get(f"MenuKeyMap.{n}.Key"), q.get(f"MenuKeyMap.{n}.Code")
            if key is None:
                break
            text = self.voice_templates.get(key_code or "")
            if text is None:
                return self._ok_error("IvrCall", "isv.TTS_TEMPLATE_ILLEGAL", f"按键{key}的模板不存在")
            _, problem = self._tts_params(text, q.get(f"MenuKeyMap.{n}.TtsParams"))
            if problem is not None:
                return self._ok_error("IvrCall", *problem)
            keys[key] = key_code or ""
        if not keys:
            return self._ok_error("IvrCall", "isv.INVALID_PARAMETERS", "MenuKeyMap 必填")
        out_id = q.get("OutId") or None
        if out_id is not None and len(out_id.encode()) > 15:
            return self._ok_error("IvrCall", "isv.INVALID_PARAMETERS", "OutId 长度为 1~15 个字节")
        with self._lock:
            if self._throttled.get(phone, 0) > self._server.loop.time():
                self._refusals.append(("IvrCall", "isv.BUSINESS_LIMIT_CONTROL"))
                return _json({"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发号码流控",
                              "RequestId": str(uuid.uuid4())})
            call = LocalCall(call_id=f"{secrets.randbelow(10**12):012d}^{secrets.randbelow(10**11):011d}",
                             phone=phone, show_number=show, start_code=code, params=params,
                             said=render(start, params), keys=keys, out_id=out_id,
                             placed_at=dt.datetime.now(dt.timezone.utc))
            self._calls.append(call)
        log.info("aliyun sandbox: call %s to %s (%s)", call.call_id, mask("+86" + phone), code)
        return _json({"Code": "OK", "Message": "OK", "CallId": call.call_id, "RequestId": str(uuid.uuid4())})

    @staticmethod
    def _tts_params(template: str, given: str | None) -> tuple[dict[str, str], tuple[str, str] | None]:
        try:
            params = json.loads(given or "{}")
        except ValueError:
            return {}, ("isv.INVALID_JSON_PARAM", "JSON参数不合法")
        if not isinstance(params, dict):
            return {}, ("isv.INVALID_JSON_PARAM", "JSON参数不合法")
        params = {str(k): str(v) for k, v in params.items()}
        missing = [slot for slot in dict.fromkeys(SLOT.findall(template)) if slot not in params]
        if missing:
            return params, ("isv.TEMPLATE_MISSING_PARAMETERS", f"模板缺少变量 {','.join(missing)}")
        return params, None

    def _query(self, q: Mapping[str, str]) -> web.Response:
        phone, day, biz = q.get("PhoneNumber", ""), q.get("SendDate", ""), q.get("BizId") or None
        size, page = int(q.get("PageSize") or 10), int(q.get("CurrentPage") or 1)
        found = [m for m in self.messages if m.phone == phone and _local(m.sent_at)[:10].replace("-", "") == day
                 and (biz is None or m.biz_id == biz)]
        shown = found[(page - 1) * size:page * size]
        status = {"sending": 1, "failed": 2, "delivered": 3}
        return _json({"Code": "OK", "Message": "OK", "RequestId": str(uuid.uuid4()), "TotalCount": len(found),
                      "SmsSendDetailDTOs": {"SmsSendDetailDTO": [
                          {"PhoneNum": m.phone, "SendStatus": status[m.status], "ErrCode": m.err_code or "DELIVERED",
                           "TemplateCode": m.template_code, "Content": m.content, "SendDate": _local(m.sent_at),
                           "ReceiveDate": _local(m.sent_at), "OutId": m.out_id or ""} for m in shown]}})

    def settled(self) -> int | None:
        """How many messages were taken, when every one has made its report push; None while some are on their
        way (as LocalTwilioApi.settled: equal answers at two moments mean nothing happened in between)."""
        with self._lock:
            return self._created if self._settled == self._created else None

    async def _deliver(self, message: LocalSms, failing: str | None) -> None:
        try:
            await self._report(message, failing)
        finally:
            with self._lock:
                self._settled += 1

    async def _report(self, message: LocalSms, failing: str | None) -> None:
        await asyncio.sleep(self._report_delay)
        with self._lock:
            message.status, message.err_code = ("failed", failing) if failing else ("delivered", "DELIVERED")
        if self.report_url:
            item = {"phone_number": message.phone, "send_time": _local(message.sent_at),
                    "report_time": _local(dt.datetime.now(dt.timezone.utc)), "success": failing is None,
                    "err_code": message.err_code, "err_msg": "用户接收成功" if failing is None else "用户接收失败",
                    "sms_size": "1", "biz_id": message.biz_id, "out_id": message.out_id or ""}
            await self._push("SmsReport", self.report_url, [item])

    async def _push(self, kind: str, url: str | None, items: list[dict]) -> PushedReport:
        if not url:
            raise RuntimeError(f"no URL to push {kind} to")
        assert self._session is not None
        try:
            async with self._session.post(url, json=items, timeout=aiohttp.ClientTimeout(total=10)) as response:
                pushed = PushedReport(url, kind, items, response.status, await response.text())
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            pushed = PushedReport(url, kind, items, None, f"{type(exc).__name__}: {exc}")
        with self._lock:
            self._pushes.append(pushed)
        return pushed

    def _ok_error(self, action: str, code: str, message: str) -> web.Response:
        """Aliyun answers a refused SendSms with HTTP 200 and a Code other than OK."""
        with self._lock:
            self._refusals.append((action, code))
        return _json({"Code": code, "Message": message, "RequestId": str(uuid.uuid4())})

    def _error(self, action: str, status: int, code: str, message: str) -> web.Response:
        with self._lock:
            self._refusals.append((action, code))
        log.warning("aliyun sandbox refused %s: %s (%s)", action, code, message)
        return _json({"Code": code, "Message": message, "RequestId": str(uuid.uuid4())}, status)


def _json(data: dict, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


def _local(at: dt.datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def _parse_acs_date(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None
