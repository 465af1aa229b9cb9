"""A local stand-in for Twilio's Messages API, for tests and development.

The real `twilio` client talks to it over HTTP (see handlers/sms_gateway.py, `api_base`), so the
library's own request, auth and parsing code runs. It implements the part of the 2010-04-01 API that
ERS uses: create, list (To/From/DateSent filters, paging) and fetch of Messages, Basic auth, Twilio's
error shape and codes, GSM-7/UCS-2 segment counts, and signed status callbacks (sent, then delivered,
or undelivered/failed for numbers told to fail). It can also play a phone replying: `post_inbound`
posts a signed inbound-SMS webhook the way Twilio does. Calls (叫应): `Calls.json` create keeps the call and its
TwiML; `answer_call` plays the person pressing a key (the signed <Gather> action, then the "completed" status
callback), `miss_call` a call nobody answers (a "no-answer" or "busy" status callback).

It serves from its own event loop in a background thread (`AiohttpThread`), so synchronous code and
tests can use it with `with LocalTwilioApi(...) as api:`.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import threading
import xml.etree.ElementTree as ElementTree
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

import aiohttp
import yarl
from aiohttp import web
from twilio.request_validator import RequestValidator

from contingency.sms_text import is_gsm, segments
from contingency.phones import mask

log = logging.getLogger("ers.sms.local")

API_VERSION = "2010-04-01"
SIGNATURE_HEADER = "X-Twilio-Signature"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_MAX_BODY = 1600
T = TypeVar("T")

FinalFailure = Literal["undelivered", "failed"]


# --------------------------------------------------------------------------- helpers anyone may use


def fake_account_sid() -> str:
    """A random, obviously local account SID ("AC" + 32 hex)."""
    return "AC" + secrets.token_hex(16)


def fake_auth_token() -> str:
    return secrets.token_hex(16)


def new_message_sid(prefix: Literal["SM", "MM"] = "SM") -> str:
    return prefix + secrets.token_hex(16)


def sign(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The X-Twilio-Signature Twilio would send for a form POST of `params` to `url`."""
    return RequestValidator(auth_token).compute_signature(url, dict(params))


def rfc2822(moment: datetime) -> str:
    """Twilio's date format: 'Wed, 01 Jul 2026 00:00:00 +0000'."""
    return format_datetime(moment.astimezone(timezone.utc).replace(microsecond=0))


def sms_encoding(body: str) -> Literal["GSM-7", "UCS-2"]:
    return "GSM-7" if is_gsm(body) else "UCS-2"


def count_segments(body: str) -> int:
    """SMS segments Twilio bills for `body` (the domain's rule, which paging uses to fit texts)."""
    return segments(body)


# --------------------------------------------------------------------------- background aiohttp server


class AiohttpThread:
    """An aiohttp application served from its own event loop in a daemon thread."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0,
                 shutdown_timeout: float = 0.5) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._shutdown_timeout = shutdown_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._bound_port: int | None = None

    @property
    def url(self) -> str:
        if self._bound_port is None:
            raise RuntimeError("server not started")
        return f"http://{self._host}:{self._bound_port}"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("server not started")
        return self._loop

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._serve, name=f"aiohttp-{self._host}:{self._port}", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            raise self._startup_error

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None

    def __enter__(self) -> AiohttpThread:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def run(self, coroutine: Awaitable[T], timeout: float | None = 30) -> T:
        """Run a coroutine on the server's loop from another thread and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)  # type: ignore[arg-type]

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        # access_log=None: aiohttp's access log would print query strings, which can hold phone numbers.
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=self._shutdown_timeout)
        try:
            loop.run_until_complete(self._setup(runner))
        except BaseException as exc:  # handed to start() in the caller's thread
            self._startup_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    async def _setup(self, runner: web.AppRunner) -> None:
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._bound_port = runner.addresses[0][1]


# --------------------------------------------------------------------------- what the fake records


@dataclass(frozen=True)
class LocalMessage:
    """A message as the local API holds it (outbound-api, or inbound from post_inbound)."""

    sid: str
    account_sid: str
    to: str
    from_: str | None
    body: str
    direction: Literal["outbound-api", "inbound"]
    status: str
    num_segments: int
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None = None
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    error_code: int | None = None
    error_message: str | None = None


@dataclass
class LocalCall:
    """A call placed through Calls.json: to whom, what it says (its TwiML), and where Twilio reports."""

    sid: str
    account_sid: str
    to: str
    from_: str
    twiml: str
    status_callback: str | None
    status: str
    date_created: datetime

    @property
    def said(self) -> str:
        """The text its <Say> reads out."""
        return "".join(element.text or "" for element in ElementTree.fromstring(self.twiml).iter("Say"))

    @property
    def gather_action(self) -> str | None:
        gather = ElementTree.fromstring(self.twiml).find("Gather")
        return gather.get("action") if gather is not None else None


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    status: int


@dataclass(frozen=True)
class PostedCallback:
    """A status callback the local API posted: where, what, and the receiver's answer (None: unreachable)."""

    url: str
    params: dict[str, str]
    signature: str
    response_status: int | None


@dataclass(frozen=True)
class _InjectedFailure:
    status: int
    retry_after: float | None


@dataclass(frozen=True)
class _NumberFailure:
    final_status: FinalFailure
    error_code: int


_FAILURE_TEXT = {
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    502: (20502, "Bad Gateway"),
    503: (20503, "Service Unavailable"),
    504: (20504, "Gateway Timeout"),
}
_DELIVERY_ERRORS = {
    30003: "Unreachable destination handset",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30008: "Unknown error",
}


def twilio_error(status: int, code: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    """An error response in Twilio's JSON shape."""
    return web.json_response(
        {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
        status=status, headers=dict(headers or {}))


# --------------------------------------------------------------------------- the fake API


class LocalTwilioApi:
    """Twilio's Messages resource on a local port. Use as a context manager or start()/stop()."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, auth_token: str, account_sid: str,
                 callback_delay: float = 0.2, service_sender: str = "+15005550006") -> None:
        if not account_sid.startswith("AC") or not auth_token:
            raise ValueError("account_sid must look like AC..., auth_token must be set")
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.callback_delay = callback_delay
        self._service_sender = service_sender
        self._lock = threading.Lock()
        self._messages: dict[str, LocalMessage] = {}  # insertion order = creation order
        self._calls: dict[str, LocalCall] = {}
        self._requests: list[RecordedRequest] = []
        self._callbacks: list[PostedCallback] = []
        self._failures: deque[_InjectedFailure] = deque()
        self._stalls: deque[float] = deque()
        self._failing_numbers: dict[str, _NumberFailure] = {}
        self._refused_numbers: dict[str, tuple[int, str]] = {}
        self._lifecycles: set[asyncio.Task[None]] = set()
        self._created = 0
        self._settled = 0
        self._session: aiohttp.ClientSession | None = None
        # a short shutdown: a stalled answer (stall_next) is cancelled on stop() rather than waited for
        self._server = AiohttpThread(self._make_app(), host, port, shutdown_timeout=0.1)

    # ----- lifecycle

    def start(self) -> LocalTwilioApi:
        self._server.start()
        log.info("local Twilio API at %s (account %s)", self.url, self.account_sid)
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> LocalTwilioApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def auth_token(self) -> str:
        """The token this fake signs with and checks (a test signs its own webhooks with it)."""
        return self._auth_token

    # ----- what happened

    @property
    def messages(self) -> list[LocalMessage]:
        with self._lock:
            return list(self._messages.values())

    def message(self, sid: str) -> LocalMessage:
        with self._lock:
            return self._messages[sid]

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def callbacks(self) -> list[PostedCallback]:
        with self._lock:
            return list(self._callbacks)

    def settled(self) -> int | None:
        """How many messages were created, when every one of them has made its last status callback; None while
        some are still on their way. Equal answers at two moments mean nothing happened in between."""
        with self._lock:
            return self._created if self._settled == self._created else None

    # ----- failure injection

    def fail_next(self, n: int = 1, status: int = 500, retry_after: float | None = None) -> None:
        """Answer the next `n` message creations with `status` (e.g. 500, 429, 503), optionally with Retry-After."""
        if status not in _FAILURE_TEXT:
            raise ValueError(f"unsupported failure status {status}")
        with self._lock:
            self._failures.extend(_InjectedFailure(status, retry_after) for _ in range(n))

    def recover(self) -> None:
        """Forget the failures still pending from `fail_next`: the outage is over."""
        with self._lock:
            self._failures.clear()

    def stall_next(self, n: int = 1, seconds: float = 1.0) -> None:
        """Accept the next `n` messages but hold the 201 back for `seconds`: a response lost to a timeout."""
        with self._lock:
            self._stalls.extend(seconds for _ in range(n))

    def fail_to(self, number: str, final_status: FinalFailure = "undelivered", error_code: int = 30003) -> None:
        """Messages to `number` end undelivered (after sent) or failed (straight from queued) with `error_code`."""
        with self._lock:
            self._failing_numbers[number] = _NumberFailure(final_status, error_code)

    def refuse_to(self, number: str, code: int = 21610,
                  message: str = "Attempt to send to unsubscribed recipient") -> None:
        """Answer messages to `number` with 400 and Twilio error `code` (21610: the recipient replied STOP)."""
        with self._lock:
            self._refused_numbers[number] = (code, message)

    # ----- a phone replying

    @property
    def calls(self) -> list[LocalCall]:
        with self._lock:
            return list(self._calls.values())

    def answer_call(self, to: str, digits: str, *, call: LocalCall | None = None, timeout: float = 10
                    ) -> tuple[int, str]:
        """The person at `to` answers (default: the newest call to that number) and presses `digits` (empty: none):
        the signed <Gather> action, then the "completed" status callback. Returns the gather's (status, TwiML)."""
        placed = call or self._newest_call(to)
        action = placed.gather_action
        if action is None:
            raise ValueError(f"call {placed.sid} has no <Gather action=...>")
        params = {**self._call_params(placed, "in-progress"), "Digits": digits, "FinishedOnKey": ""}
        return self._server.run(self._answer(placed, action, params), timeout=timeout + 5)

    def miss_call(self, to: str, status: Literal["no-answer", "busy", "failed"] = "no-answer", *,
                  call: LocalCall | None = None) -> int | None:
        """Nobody answers the newest call to `to`: its status callback; the receiver's HTTP status."""
        placed = call or self._newest_call(to)
        return self._server.run(self._end_call(placed, status))

    def _newest_call(self, to: str) -> LocalCall:
        found = [c for c in self.calls if c.to == to]
        if not found:
            raise LookupError(f"no call to {mask(to)}")
        return found[-1]

    @staticmethod
    def _call_params(call: LocalCall, status: str) -> dict[str, str]:
        return call_webhook_params(call.account_sid, call.sid, call.from_, call.to, status)

    async def _answer(self, call: LocalCall, action: str, params: dict[str, str]) -> tuple[int, str]:
        assert self._session is not None
        answer = await _post_signed(self._session, action, params, self._auth_token)
        await self._end_call(call, "completed")
        return answer

    async def _end_call(self, call: LocalCall, status: str) -> int | None:
        with self._lock:
            call.status = status
        if call.status_callback is None or self._session is None:
            return None
        params = {**self._call_params(call, status), "CallDuration": "20" if status == "completed" else "0"}
        signature = sign(self._auth_token, call.status_callback, params)
        try:
            response_status, _ = await _post_signed(self._session, call.status_callback, params, self._auth_token,
                                                    signature)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning("call status callback %s %s failed: %s", call.sid, status, exc)
            response_status = None
        with self._lock:
            self._callbacks.append(PostedCallback(call.status_callback, params, signature, response_status))
        return response_status

    async def _create_call(self, request: web.Request) -> web.Response:
        form = await request.post()
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            code, text = _FAILURE_TEXT[failure.status]
            return twilio_error(failure.status, code, text)
        to, from_ = str(form.get("To", "")).strip(), str(form.get("From", "")).strip()
        twiml, callback = str(form.get("Twiml", "")), str(form.get("StatusCallback", "")).strip() or None
        if not _E164.match(to):
            return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not from_:
            return twilio_error(400, 21213, "No 'From' number is specified")
        try:
            ElementTree.fromstring(twiml)
        except ElementTree.ParseError:
            return twilio_error(400, 21205, "Url or Twiml required, and Twiml must be valid XML")
        now = datetime.now(timezone.utc)
        call = LocalCall(sid="CA" + secrets.token_hex(16), account_sid=self.account_sid, to=to, from_=from_,
                         twiml=twiml, status_callback=callback, status="queued", date_created=now)
        with self._lock:
            self._calls[call.sid] = call
        log.info("local Twilio API placed call %s to %s", call.sid, mask(to))
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{call.sid}"
        return web.json_response({
            "sid": call.sid, "account_sid": call.account_sid, "to": to, "from": from_, "status": call.status,
            "direction": "outbound-api", "api_version": API_VERSION, "date_created": rfc2822(now),
            "date_updated": rfc2822(now), "uri": f"{uri}.json"}, status=201)

    def post_inbound(self, webhook_url: str, from_: str, to: str, body: str, *,
                     message_sid: str | None = None, timeout: float = 10) -> tuple[int, str]:
        """POST a signed inbound-SMS webhook like Twilio's; returns (HTTP status, response text).

        Runs on the local API's loop; from inside a running event loop use post_inbound_async instead.
        """
        return self._server.run(self.post_inbound_async(webhook_url, from_, to, body, message_sid=message_sid,
                                                        timeout=timeout), timeout=timeout + 5)

    async def post_inbound_async(self, webhook_url: str, from_: str, to: str, body: str, *,
                                 message_sid: str | None = None, timeout: float = 10) -> tuple[int, str]:
        sid = message_sid or new_message_sid("SM")
        now = datetime.now(timezone.utc)
        with self._lock:
            self._messages.setdefault(sid, LocalMessage(
                sid=sid, account_sid=self.account_sid, to=to, from_=from_, body=body, direction="inbound",
                status="received", num_segments=count_segments(body), date_created=now, date_updated=now,
                date_sent=now))
        params = {
            "ToCountry": "", "ToState": "", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "", "FromZip": "",
            "SmsSid": sid, "FromState": "", "SmsStatus": "received", "FromCity": "", "Body": body,
            "FromCountry": "", "To": to, "ToZip": "", "NumSegments": str(count_segments(body)),
            "MessageSid": sid, "AccountSid": self.account_sid, "From": from_, "ApiVersion": API_VERSION,
        }
        log.info("inbound SMS %s from %s to %s -> %s", sid, mask(from_), mask(to), webhook_url)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            status, text = await _post_signed(session, webhook_url, params, self._auth_token)
        return status, text

    # ----- the aiohttp application

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._record_middleware, self._auth_middleware])
        base = f"/{API_VERSION}/Accounts/{{account_sid}}"
        app.router.add_post(f"{base}/Messages.json", self._create_message)
        app.router.add_get(f"{base}/Messages.json", self._list_messages)
        app.router.add_get(f"{base}/Messages/{{message_sid}}.json", self._fetch_message)
        app.router.add_post(f"{base}/Calls.json", self._create_call)
        app.on_startup.append(self._open_session)
        app.on_cleanup.append(self._close_session)
        return app

    async def _open_session(self, app: web.Application) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def _close_session(self, app: web.Application) -> None:
        for task in list(self._lifecycles):
            task.cancel()
        await asyncio.gather(*self._lifecycles, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    @web.middleware
    async def _record_middleware(self, request: web.Request,
                                 handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc
        with self._lock:
            self._requests.append(RecordedRequest(request.method, request.path, response.status))
        if isinstance(response, web.HTTPException) and response.status >= 400:
            code = 20404 if response.status == 404 else 20001
            return twilio_error(response.status, code, response.reason or "error")
        return response

    @web.middleware
    async def _auth_middleware(self, request: web.Request,
                               handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        try:
            credentials = aiohttp.BasicAuth.decode(request.headers.get("Authorization", ""))
        except ValueError:
            credentials = None
        expected = (self.account_sid, self._auth_token)
        if credentials is None or not (secrets.compare_digest(credentials.login, expected[0])
                                       and secrets.compare_digest(credentials.password, expected[1])):
            return twilio_error(401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'})
        if request.match_info.get("account_sid") != self.account_sid:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        return await handler(request)

    async def _create_message(self, request: web.Request) -> web.Response:
        form = await request.post()
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            code, text = _FAILURE_TEXT[failure.status]
            headers = {"Retry-After": _format_seconds(failure.retry_after)} if failure.retry_after is not None else {}
            log.info("local Twilio API: injected HTTP %s", failure.status)
            return twilio_error(failure.status, code, text, headers)

        to = str(form.get("To", "")).strip()
        from_ = str(form.get("From", "")).strip() or None
        service_sid = str(form.get("MessagingServiceSid", "")).strip() or None
        body = str(form.get("Body", ""))
        callback = str(form.get("StatusCallback", "")).strip() or None
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not _E164.match(to):
            return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if from_ is None and service_sid is None:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return twilio_error(400, 21602, "Message body is required.")
        if len(body) > _MAX_BODY:
            return twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        with self._lock:
            refusal = self._refused_numbers.get(to)
        if refusal is not None:
            return twilio_error(400, *refusal)

        now = datetime.now(timezone.utc)
        message = LocalMessage(
            sid=new_message_sid("SM"), account_sid=self.account_sid, to=to, from_=from_, body=body,
            direction="outbound-api", status="accepted" if from_ is None else "queued",
            num_segments=count_segments(body), date_created=now, date_updated=now,
            messaging_service_sid=service_sid, status_callback=callback)
        with self._lock:
            self._messages[message.sid] = message
            self._created += 1
            stall = self._stalls.popleft() if self._stalls else None
        log.info("local Twilio API accepted %s to %s (%d segment(s))", message.sid, mask(to), message.num_segments)
        task = asyncio.get_running_loop().create_task(self._lifecycle(message.sid))
        self._lifecycles.add(task)
        task.add_done_callback(self._lifecycles.discard)
        if stall is not None:
            await asyncio.sleep(stall)
        return web.json_response(self._resource(message), status=201)

    async def _list_messages(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            page_size = min(1000, max(1, int(query.get("PageSize", "50"))))
            page = max(0, int(query.get("Page", "0")))
            date_filters = [(op, _parse_date_filter(query[key])) for key, op in
                            (("DateSent", "="), ("DateSent<", "<="), ("DateSent>", ">=")) if key in query]
        except ValueError as exc:
            return twilio_error(400, 20001, f"Invalid parameter: {exc}")
        selected = [m for m in reversed(self.messages)
                    if ("To" not in query or m.to == query["To"])
                    and ("From" not in query or m.from_ == query["From"])
                    and all(_date_matches(m.date_sent, op, bound) for op, bound in date_filters)]
        selected.sort(key=lambda m: m.date_created, reverse=True)  # stable: newest first, ties newest first
        start = page * page_size
        chunk = selected[start:start + page_size]
        filters = {k: query[k] for k in ("To", "From", "DateSent", "DateSent<", "DateSent>") if k in query}
        path = request.path

        def page_uri(number: int) -> str:
            return f"{path}?{urlencode({**filters, 'PageSize': page_size, 'Page': number})}"

        more = start + page_size < len(selected)
        return web.json_response({
            "messages": [self._resource(m) for m in chunk],
            "page": page, "page_size": page_size, "start": start, "end": start + max(len(chunk) - 1, 0),
            "uri": page_uri(page), "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) + f"&PageToken=PA{page + 1}" if more else None,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
        })

    async def _fetch_message(self, request: web.Request) -> web.Response:
        sid = request.match_info["message_sid"]
        with self._lock:
            message = self._messages.get(sid)
        if message is None:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        return web.json_response(self._resource(message))

    def _resource(self, m: LocalMessage) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{m.account_sid}/Messages/{m.sid}"
        return {
            "account_sid": m.account_sid, "api_version": API_VERSION, "body": m.body,
            "date_created": rfc2822(m.date_created), "date_updated": rfc2822(m.date_updated),
            "date_sent": rfc2822(m.date_sent) if m.date_sent else None,
            "direction": m.direction, "error_code": m.error_code, "error_message": m.error_message,
            "from": m.from_, "messaging_service_sid": m.messaging_service_sid,
            "num_media": "0", "num_segments": str(m.num_segments), "price": None, "price_unit": "USD",
            "sid": m.sid, "status": m.status, "to": m.to, "uri": f"{uri}.json",
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
        }

    # ----- status progression and signed callbacks

    async def _lifecycle(self, sid: str) -> None:
        try:
            await self._progress(sid)
        finally:
            with self._lock:
                self._settled += 1

    async def _progress(self, sid: str) -> None:
        with self._lock:
            failing = self._failing_numbers.get(self._messages[sid].to)
        await asyncio.sleep(self.callback_delay)
        if failing is not None and failing.final_status == "failed":
            await self._advance(sid, "failed", failing.error_code)
            return
        await self._advance(sid, "sent")
        await asyncio.sleep(self.callback_delay)
        if failing is not None:
            await self._advance(sid, "undelivered", failing.error_code)
        else:
            await self._advance(sid, "delivered")

    async def _advance(self, sid: str, status: str, error_code: int | None = None) -> None:
        now = datetime.now(timezone.utc)
        with self._lock:
            current = self._messages[sid]
            message = replace(
                current, status=status, date_updated=now,
                date_sent=current.date_sent or (now if status in ("sent", "undelivered", "delivered") else None),
                from_=current.from_ or self._service_sender,
                error_code=error_code,
                error_message=_DELIVERY_ERRORS.get(error_code, "Unknown error") if error_code else None)
            self._messages[sid] = message
        if message.status_callback is None or self._session is None:
            return
        params = {
            "MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
            "AccountSid": message.account_sid, "To": message.to, "From": message.from_ or "",
            "ApiVersion": API_VERSION,
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        signature = sign(self._auth_token, message.status_callback, params)
        try:
            response_status, _ = await _post_signed(self._session, message.status_callback, params,
                                                    self._auth_token, signature)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning("status callback %s %s to %s failed: %s", sid, status, message.status_callback, exc)
            response_status = None
        with self._lock:
            self._callbacks.append(PostedCallback(message.status_callback, params, signature, response_status))


async def _post_signed(session: aiohttp.ClientSession, url: str, params: dict[str, str], auth_token: str,
                       signature: str | None = None) -> tuple[int, str]:
    signature = signature or sign(auth_token, url, params)
    headers = {SIGNATURE_HEADER: signature, "User-Agent": "TwilioProxy/1.1",
               "Content-Type": "application/x-www-form-urlencoded"}
    # encoded=True: post to exactly the URL that was signed, without yarl re-quoting it.
    async with session.post(yarl.URL(url, encoded=True), data=urlencode(params), headers=headers) as response:
        return response.status, await response.text()


def call_webhook_params(account_sid: str, call_sid: str, from_: str, to: str, status: str) -> dict[str, str]:
    """The fields Twilio posts about an outbound call (its <Gather> action adds Digits, its status callback
    CallDuration)."""
    return {"AccountSid": account_sid, "CallSid": call_sid, "From": from_, "To": to, "CallStatus": status,
            "Direction": "outbound-api", "ApiVersion": API_VERSION}


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def _parse_date_filter(value: str) -> date | datetime:
    """Twilio accepts 'YYYY-MM-DD' or a full 'YYYY-MM-DDTHH:MM:SSZ' (which is what the python library sends)."""
    if "T" in value:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return date.fromisoformat(value)


def _date_matches(sent: datetime | None, op: str, bound: date | datetime) -> bool:
    if sent is None:  # like Twilio: a message not sent yet has no DateSent and matches no DateSent filter
        return False
    left: date | datetime = sent if isinstance(bound, datetime) else sent.date()
    if op == "=":
        return left == bound
    return left <= bound if op == "<=" else left >= bound  # type: ignore[operator]


__all__ = [
    "AiohttpThread", "LocalCall", "LocalMessage", "call_webhook_params", "LocalTwilioApi", "PostedCallback", "RecordedRequest", "count_segments",
    "fake_account_sid", "fake_auth_token", "new_message_sid", "rfc2822", "sign", "sms_encoding", "twilio_error",
]


SANDBOX_FROM = "+15005550006"


def sandbox_credentials(path: Path) -> tuple[str, str]:
    """The local sandbox's (account_sid, auth_token), made once and kept in `path` (mode 600), so that
    `ers sms reply` can sign webhooks for the sandbox that `ers up` runs."""
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        return data["account_sid"], data["auth_token"]
    path.parent.mkdir(parents=True, exist_ok=True)
    account_sid, auth_token = fake_account_sid(), fake_auth_token()
    path.write_text(json.dumps({"account_sid": account_sid, "auth_token": auth_token}), encoding="utf-8")
    path.chmod(0o600)
    return account_sid, auth_token


def post_signed_form(url: str, params: Mapping[str, str], auth_token: str, timeout: float = 10) -> tuple[int, str]:
    """POST a form signed like Twilio signs its webhooks (for `ers sms reply`); returns (status, body)."""
    request = urllib.request.Request(
        url, data=urllib.parse.urlencode(params).encode("utf-8"), method="POST",
        headers={"X-Twilio-Signature": sign(auth_token, url, params),
                 "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
