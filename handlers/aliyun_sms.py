"""Sending SMS through Aliyun (Dysmsapi 2017-05-25) with the official SDK, errors sorted as for Twilio.

Aliyun sends only registered templates under a registered sign: a message is a template code and its parameters;
`OutId` (our notification id) comes back in delivery reports and in QuerySendDetails, and `SmsUpExtendCode`
makes a reply come back with that extension, so it can be tied to the message it answers. With `endpoint` the
SDK talks to any server speaking the API (deploy/local/aliyun_api.py in tests): its own signing and parsing run.

Mainland numbers go as 11 digits (+86 dropped); other numbers as their digits with the country code.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping

from alibabacloud_dysmsapi20170525 import models
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException, ThrottlingException
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.runtime import RuntimeOptions

from contingency.phones import aliyun_number, mask
from handlers.sms_errors import PermanentSmsError, RetryableSmsError, SentMessage, SmsError

log = logging.getLogger("ers.sms.aliyun")

ALIYUN_ENDPOINT = "dysmsapi.aliyuncs.com"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
# Refusals that another try later may get past; every other isv.* code is about this message or this account.
_LIMITS = {"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "isv.MONTH_LIMIT_CONTROL", "Throttling.User",
           "Throttling", "isv.OUT_OF_SERVICE_FLOW_CONTROL"}
_TEMPORARY = {"isp.SYSTEM_ERROR", "isp.GATEWAY_ERROR", "ServiceUnavailable", "InternalError"}
FLOW_CONTROL_WAIT = 60.0  # seconds: Aliyun's per-number limits count per minute, hour and day


def sdk_config(access_key_id: str, access_key_secret: str, endpoint: str, timeout: float) -> Config:
    """The SDK's configuration; plain HTTP only to a local sandbox."""
    local = endpoint.startswith(("127.", "localhost"))
    return Config(access_key_id=access_key_id, access_key_secret=access_key_secret, endpoint=endpoint,
                  protocol="http" if local else "https", read_timeout=int(timeout * 1000),
                  connect_timeout=int(min(timeout, 5) * 1000))


class AliyunSms:
    def __init__(self, access_key_id: str, access_key_secret: str, sign_name: str, *, endpoint: str | None = None,
                 timeout: float = 10.0) -> None:
        if not access_key_id or not access_key_secret:
            # the SDK would otherwise look for ALIBABA_CLOUD_ACCESS_KEY_* itself
            raise ValueError("access_key_id and access_key_secret are required")
        self._client = Client(sdk_config(access_key_id, access_key_secret, endpoint or ALIYUN_ENDPOINT, timeout))
        self._sign = sign_name

    def send(self, to: str, template_code: str, params: Mapping[str, str], *, out_id: str,
             extend_code: str | None = None) -> SentMessage:
        request = models.SendSmsRequest(phone_numbers=aliyun_number(to), sign_name=self._sign,
                                        template_code=template_code,
                                        template_param=json.dumps(dict(params), ensure_ascii=False),
                                        out_id=out_id, sms_up_extend_code=extend_code)
        try:
            body = self._client.send_sms_with_options(request, RuntimeOptions(autoretry=False)).body
        except Exception as exc:
            raise self._classify(exc, to) from exc
        if body.code != "OK":
            raise self._refused(body.code or "", body.message or "", to)
        log.info("sms %s to %s accepted by aliyun (%s)", body.biz_id, mask(to), template_code)
        return SentMessage(sid=body.biz_id or "", status="sent", num_segments=1)

    def find_sent(self, to: str, out_id: str, since: dt.datetime) -> SentMessage | None:
        """The message sent to `to` with `out_id` on a day since `since` (China days), or None."""
        day = since.astimezone(SHANGHAI).date()
        today = dt.datetime.now(SHANGHAI).date()
        while day <= today:
            page = 1
            while True:
                request = models.QuerySendDetailsRequest(phone_number=aliyun_number(to),
                                                         send_date=day.strftime("%Y%m%d"), page_size=50,
                                                         current_page=page)
                try:
                    body = self._client.query_send_details_with_options(request,
                                                                         RuntimeOptions(autoretry=False)).body
                except Exception as exc:
                    raise self._classify(exc, to, listing=True) from exc
                if body.code != "OK":
                    raise self._refused(body.code or "", body.message or "", to, listing=True)
                details = body.sms_send_detail_dtos.sms_send_detail_dto if body.sms_send_detail_dtos else []
                for detail in details or []:
                    if detail.out_id == out_id:
                        log.info("sms to %s found already sent (OutId %s)", mask(to), out_id)
                        return SentMessage(sid=f"out:{out_id}", status="sent", num_segments=1)
                if page * 50 >= int(body.total_count or 0):
                    break
                page += 1
            day += dt.timedelta(days=1)
        return None

    def _refused(self, code: str, message: str, to: str, listing: bool = False) -> SmsError:
        return refusal(code, message, to, "listing messages to" if listing else "sms to")

    def _classify(self, exc: Exception, to: str, listing: bool = False) -> SmsError:
        return failure(exc, to, "listing messages to" if listing else "sms to", may_have_sent=not listing)


def refusal(code: str, message: str, to: str, what: str) -> SmsError:
    """An Aliyun answer whose Code is not OK, sorted: flow control, temporary, or about this message for good."""
    if code in _LIMITS:
        log.warning("%s %s: aliyun flow control %s (%s)", what, mask(to), code, message)
        return RetryableSmsError(FLOW_CONTROL_WAIT, f"{code}: {message}", limited=True)
    if code in _TEMPORARY:
        log.warning("%s %s: aliyun %s (%s), retryable", what, mask(to), code, message)
        return RetryableSmsError(None, f"{code}: {message}", maybe_sent=False)
    log.error("%s %s: aliyun refused: %s (%s)", what, mask(to), code, message)
    return PermanentSmsError(None, f"{code}: {message}")


def failure(exc: Exception, to: str, what: str, may_have_sent: bool) -> SmsError:
    """What the SDK raised, sorted; `may_have_sent`: the request could have created something (not a listing)."""
    if isinstance(exc, ThrottlingException):
        return RetryableSmsError(float(exc.retry_after or FLOW_CONTROL_WAIT), f"{exc.code}", limited=True)
    if isinstance(exc, ServerException):
        log.warning("%s %s: aliyun HTTP %s %s, retryable", what, mask(to), exc.status_code, exc.code)
        # a 5xx may come after the message was accepted: look before sending again
        return RetryableSmsError(None, f"HTTP {exc.status_code}: {exc.code}", maybe_sent=may_have_sent)
    if isinstance(exc, ClientException):
        log.error("%s %s: aliyun HTTP %s %s", what, mask(to), exc.status_code, exc.code)
        return PermanentSmsError(exc.status_code, f"{exc.code}: {exc.message}")
    # what the HTTP layer raises: a refused connection surely sent nothing; a timeout may come after
    text = f"{type(exc).__name__}: {exc}"
    refused = "refused" in text.lower() or "NewConnectionError" in text
    log.warning("%s %s: %s (%s)", what, mask(to), type(exc).__name__, "not sent" if refused else "may have been sent")
    return RetryableSmsError(None, type(exc).__name__, maybe_sent=may_have_sent and not refused)
