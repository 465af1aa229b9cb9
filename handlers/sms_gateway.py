"""Sending SMS through the real `twilio` library, with errors sorted into retryable and permanent.

`TwilioSms` talks to api.twilio.com, or, with `api_base`, to any server speaking the same API (the local
one in deploy/local/twilio_api.py): an http client subclass rewrites the URL prefix, so the library's own
request, auth and parsing code is what runs in tests too.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from contingency.phones import mask
from handlers.phones import mask_in_text, mask_logger
from handlers.sms_errors import PermanentSmsError, RetryableSmsError, SentMessage, SmsError
from handlers.times import as_utc
from handlers.twilio_webhook import VOICE_GATHER_PATH, VOICE_STATUS_PATH, twiml_call

log = logging.getLogger("ers.sms")

TWILIO_API = "https://api.twilio.com"
# 503 and 429 are refusals made before a message exists; any other 5xx may come after Twilio created it.
_REFUSED_BEFORE_CREATION = {429, 503}


class RedirectingHttpClient(TwilioHttpClient):
    """The library's own HTTP client, pointed at `api_base` instead of api.twilio.com when that is set.

    It also keeps the last response per thread (the library's exceptions drop the headers, and
    Retry-After is in them) and logs requests with phone numbers masked (the library's own logging
    prints query strings such as To=+8613...).
    """

    def __init__(self, api_base: str | None, timeout: float) -> None:
        super().__init__(timeout=timeout, logger=log)
        self._api_base = api_base.rstrip("/") if api_base else None
        self._last = threading.local()

    def request(self, method: str, url: str, params: dict[str, object] | None = None,
                data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
                auth: tuple[str, str] | None = None, timeout: float | None = None,
                allow_redirects: bool = False) -> Response:
        self._last.response = None
        response = super().request(method, self.rewrite(url), params=params, data=data, headers=headers,
                                   auth=auth, timeout=timeout, allow_redirects=allow_redirects)
        self._last.response = response
        return response

    def rewrite(self, url: str) -> str:
        if self._api_base is None:
            return url
        parts = urlsplit(url)
        host = parts.hostname or ""
        # api.twilio.com, or api.<edge>.<region>.twilio.com when TWILIO_EDGE/TWILIO_REGION are set
        if parts.scheme == "https" and host.startswith("api.") and host.endswith(".twilio.com"):
            return self._api_base + url[len(f"{parts.scheme}://{parts.netloc}"):]
        raise ValueError(f"refusing to send {url} elsewhere than {self._api_base}")

    def last_response(self) -> Response | None:
        return getattr(self._last, "response", None)

    def log_request(self, kwargs: dict[str, Any]) -> None:
        params = kwargs.get("params") or {}
        shown = "&".join(f"{key}={mask(str(value)) if key in ('To', 'From') else value}"
                         for key, value in params.items())
        log.debug("twilio %s %s%s", kwargs["method"], urlsplit(kwargs["url"]).path, f"?{shown}" if shown else "")

    def log_response(self, status_code: int, response: Any) -> None:
        log.debug("twilio response %s", status_code)


class TwilioSms:
    """Sends SMS from one number (or Messaging Service, "MG...") through twilio.rest.Client.

    Creating one attaches a number-masking filter to the "urllib3.connectionpool" logger: at DEBUG it
    prints request URLs, and listing messages puts the To number in the query string.
    """

    def __init__(self, account_sid: str, auth_token: str, from_number: str, api_base: str | None = None,
                 status_callback_url: str | None = None, timeout: float = 10, *, webhook_base: str | None = None,
                 voice_from: str | None = None) -> None:
        if not account_sid or not auth_token:
            # twilio.rest.Client would quietly take TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN from the environment
            raise ValueError("account_sid and auth_token are required")
        mask_logger("urllib3.connectionpool")
        self._from = from_number
        self._status_callback_url = status_callback_url
        self._webhook_base = webhook_base.rstrip("/") if webhook_base else None
        # a Messaging Service (MG...) sends SMS only: calls need a number
        self._voice_from = voice_from or (None if from_number.startswith("MG") else from_number)
        self._http = RedirectingHttpClient(api_base, timeout)
        self._client = Client(account_sid, auth_token, http_client=self._http)

    def send(self, to: str, body: str, status_callback_url: str | None = None) -> SentMessage:
        callback = status_callback_url or self._status_callback_url
        sender = {"messaging_service_sid": self._from} if self._from.startswith("MG") else {"from_": self._from}
        extra = {"status_callback": callback} if callback else {}
        try:
            message = self._client.messages.create(to=to, body=body, **sender, **extra)
        except Exception as exc:
            raise self._classify(exc, to) from exc
        sent = SentMessage(sid=message.sid, status=message.status, num_segments=_as_int(message.num_segments))
        log.info("sms %s to %s accepted: %s, %d segment(s)", sent.sid, mask(to), sent.status, sent.num_segments)
        return sent

    def call(self, to: str, text: str, language: str) -> SentMessage:
        """Place a call (叫应) that reads `text` and asks for one key; Twilio posts the key to the gather URL and
        how the call ended to the voice status URL (both below the webhook base, handlers/twilio_webhook.py)."""
        if self._webhook_base is None:
            raise PermanentSmsError(None, "no public webhook URL for calls (ERS_PUBLIC_URL)")
        sender = self._voice_from or self._from
        try:
            call = self._client.calls.create(
                to=to, from_=sender, twiml=twiml_call(text, language, self._webhook_base + VOICE_GATHER_PATH),
                status_callback=self._webhook_base + VOICE_STATUS_PATH, status_callback_event=["completed"],
                timeout=30)
        except Exception as exc:
            raise self._classify(exc, to) from exc
        log.info("call %s to %s accepted: %s", call.sid, mask(to), call.status)
        return SentMessage(sid=call.sid, status=str(call.status), num_segments=1)

    def find_sent(self, to: str, body: str, since: datetime, *, limit: int = 200,
                  clock_skew: timedelta = timedelta(seconds=60),
                  taken: Callable[[str], bool] = lambda sid: False) -> SentMessage | None:
        """The newest outbound message to `to` with exactly `body`, created at or after `since` (minus
        `clock_skew`, since Twilio's clock is not ours), and not `taken` (known as another notification's), or None.

        Filters by To only: a message still queued has no DateSent yet, so a DateSent filter would hide
        exactly the message that a crash right after sending leaves behind.
        """
        earliest = as_utc(since) - clock_skew
        try:
            for message in self._client.messages.stream(to=to, limit=limit, page_size=min(limit, 100)):
                created = message.date_created
                if message.direction is None or not str(message.direction).startswith("outbound"):
                    continue
                if message.body != body or created is None or created < earliest or taken(message.sid):
                    continue
                found = SentMessage(message.sid, message.status, _as_int(message.num_segments))
                log.info("sms to %s found already sent as %s (%s)", mask(to), found.sid, found.status)
                return found
        except Exception as exc:
            raise self._classify(exc, to, listing=True) from exc
        return None

    def _classify(self, exc: Exception, to: str, listing: bool = False) -> SmsError:
        what = "listing messages to" if listing else "sms to"
        status = _status_of(exc)
        if status is not None:
            code = getattr(exc, "code", None)
            text = mask_in_text(getattr(exc, "msg", None) or getattr(exc, "detail", None)
                                or getattr(exc, "title", None) or str(exc))
            if status == 429 or status >= 500:
                retry_after = _retry_after(self._http.last_response())
                log.warning("%s %s: HTTP %s (%s), retryable, retry after %s", what, mask(to), status, text, retry_after)
                return RetryableSmsError(retry_after, f"HTTP {status}: {text}",
                                         maybe_sent=not listing and status not in _REFUSED_BEFORE_CREATION,
                                         limited=status == 429)
            log.error("%s %s: HTTP %s, Twilio error %s: %s", what, mask(to), status, code, text)
            return PermanentSmsError(code if isinstance(code, int) else None, text)
        if isinstance(exc, requests.Timeout | requests.ConnectionError):
            maybe_sent = not listing and _may_have_arrived(exc)
            log.warning("%s %s: %s (%s)", what, mask(to), type(exc).__name__,
                        "may have been sent" if maybe_sent else "not sent")
            return RetryableSmsError(None, f"{type(exc).__name__}", maybe_sent=maybe_sent)
        if isinstance(exc, TwilioException):
            log.error("%s %s: %s", what, mask(to), mask_in_text(str(exc)))
            return PermanentSmsError(None, mask_in_text(str(exc)))
        raise exc


def _status_of(exc: Exception) -> int | None:
    if isinstance(exc, TwilioRestException | TwilioServiceException):
        return int(exc.status)
    # A list page that is not 200 raises a bare TwilioException("Unable to fetch page", response).
    if isinstance(exc, TwilioException) and len(exc.args) > 1 and isinstance(exc.args[1], Response):
        return exc.args[1].status_code
    return None


def _may_have_arrived(exc: requests.RequestException) -> bool:
    """False only when the request surely never left: a connect timeout or a refused connection."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return not isinstance(reason, NewConnectionError)


def _retry_after(response: Response | None) -> float | None:
    value = (response.headers or {}).get("Retry-After") if response is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (as_utc(when) - datetime.now(timezone.utc)).total_seconds())



def _as_int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
