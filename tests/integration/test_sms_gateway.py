"""TwilioSms through the real twilio library against the local API: sending, error classes, Retry-After,
timeouts, finding a message sent before a crash, masked logs; and the RetryPolicy."""
from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from aiohttp import web

from handlers.sms_errors import PermanentSmsError, RetryableSmsError, RetryPolicy, SentMessage
from handlers.sms_gateway import RedirectingHttpClient, TwilioSms
from deploy.local.twilio_api import AiohttpThread, LocalTwilioApi, fake_account_sid, fake_auth_token

OFFICER = "+8613800000001"
OUR_NUMBER = "+15005550006"


@pytest.fixture
def api() -> Iterator[LocalTwilioApi]:
    with LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid(), callback_delay=0.02) as server:
        yield server


def gateway(api: LocalTwilioApi, **options: object) -> TwilioSms:
    settings: dict[str, object] = {"status_callback_url": None, "timeout": 5, **options}
    return TwilioSms(api.account_sid, api.auth_token, str(settings.pop("from_number", OUR_NUMBER)),
                     api_base=api.url, **settings)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ----------------------------------------------------------------------------- sending


def test_send_goes_through_the_real_client(api: LocalTwilioApi) -> None:
    sent = gateway(api, status_callback_url="http://127.0.0.1:9/twilio/status").send(OFFICER, "阿尔山 告警" * 20)
    assert isinstance(sent, SentMessage) and sent.status == "queued" and sent.num_segments == 2
    (message,) = api.messages
    assert (message.sid, message.to, message.from_) == (sent.sid, OFFICER, OUR_NUMBER)
    assert message.status_callback == "http://127.0.0.1:9/twilio/status"


def test_a_status_callback_per_message_overrides_the_default(api: LocalTwilioApi) -> None:
    sms = gateway(api, status_callback_url="http://127.0.0.1:9/default")
    sms.send(OFFICER, "x", status_callback_url="http://127.0.0.1:9/this-one")
    gateway(api).send(OFFICER, "y")
    assert [m.status_callback for m in api.messages] == ["http://127.0.0.1:9/this-one", None]


def test_a_messaging_service_sid_is_sent_as_the_sender(api: LocalTwilioApi) -> None:
    sent = gateway(api, from_number="MG" + "2" * 32).send(OFFICER, "x")
    assert sent.status == "accepted" and api.messages[0].messaging_service_sid == "MG" + "2" * 32


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("status", "maybe_sent"), [(500, True), (502, True), (504, True), (503, False)])
def test_5xx_is_retryable(api: LocalTwilioApi, status: int, maybe_sent: bool) -> None:
    """503 is refused at the door; after any other 5xx the message may exist, so look before resending."""
    api.fail_next(1, status=status)
    with pytest.raises(RetryableSmsError) as failure:
        gateway(api).send(OFFICER, "x")
    assert failure.value.retry_after is None and failure.value.maybe_sent is maybe_sent
    assert gateway(api).send(OFFICER, "x").sid == api.messages[0].sid  # and it recovers


def test_429_is_retryable_with_retry_after(api: LocalTwilioApi) -> None:
    api.fail_next(1, status=429, retry_after=2)
    with pytest.raises(RetryableSmsError) as failure:
        gateway(api).send(OFFICER, "x")
    assert (failure.value.retry_after, failure.value.maybe_sent) == (2.0, False)


def test_503_with_fractional_retry_after(api: LocalTwilioApi) -> None:
    api.fail_next(1, status=503, retry_after=0.5)
    with pytest.raises(RetryableSmsError) as failure:
        gateway(api).send(OFFICER, "x")
    assert failure.value.retry_after == 0.5


def test_an_invalid_number_is_permanent_and_its_message_is_masked(api: LocalTwilioApi) -> None:
    with pytest.raises(PermanentSmsError) as failure:
        gateway(api).send("+86138000000011234", "x")  # 17 digits: not E.164
    assert failure.value.code == 21211
    assert "+86138000000011234" not in str(failure.value) and "****" in failure.value.message


def test_an_unsubscribed_recipient_is_permanent(api: LocalTwilioApi) -> None:
    api.refuse_to(OFFICER)
    with pytest.raises(PermanentSmsError) as failure:
        gateway(api).send(OFFICER, "x")
    assert failure.value.code == 21610


def test_wrong_credentials_are_permanent(api: LocalTwilioApi) -> None:
    sms = TwilioSms(api.account_sid, "wrong-token", OUR_NUMBER, api_base=api.url)
    with pytest.raises(PermanentSmsError) as failure:
        sms.send(OFFICER, "x")
    assert failure.value.code == 20003


def test_connection_refused_is_retryable_and_surely_not_sent() -> None:
    sms = TwilioSms(fake_account_sid(), fake_auth_token(), OUR_NUMBER, api_base=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(RetryableSmsError) as failure:
        sms.send(OFFICER, "x")
    assert failure.value.maybe_sent is False


def test_a_timeout_is_retryable_and_maybe_sent(api: LocalTwilioApi) -> None:
    """The local API accepts the message and holds its answer back: the response is lost, the SMS is not."""
    api.stall_next(1, seconds=0.5)
    sms = gateway(api, timeout=0.15)
    since = datetime.now(timezone.utc)
    started = time.monotonic()
    with pytest.raises(RetryableSmsError) as failure:
        sms.send(OFFICER, "水源地 氨氮 超标")
    assert time.monotonic() - started < 0.45
    assert failure.value.maybe_sent is True
    found = sms.find_sent(OFFICER, "水源地 氨氮 超标", since)
    assert found is not None and found.sid == api.messages[0].sid


# ----------------------------------------------------------------------------- finding a message sent before a crash


def test_find_sent_matches_number_body_and_time(api: LocalTwilioApi) -> None:
    sms = gateway(api)
    since = datetime.now(timezone.utc)
    wanted = sms.send(OFFICER, "INC-1 尾矿库 水位超限")
    sms.send(OFFICER, "INC-2 another body")
    sms.send("+8613800000002", "INC-1 尾矿库 水位超限")
    found = sms.find_sent(OFFICER, "INC-1 尾矿库 水位超限", since)
    assert found is not None and found.sid == wanted.sid and found.num_segments == 1
    assert sms.find_sent(OFFICER, "INC-3 never sent", since) is None
    assert sms.find_sent(OFFICER, "INC-1 尾矿库 水位超限", since + timedelta(minutes=5)) is None  # sent before that


def test_find_sent_accepts_times_in_any_zone(api: LocalTwilioApi) -> None:
    sms = gateway(api)
    since_in_arxan = datetime.now(timezone(timedelta(hours=8)))
    sent = sms.send(OFFICER, "x")
    found = sms.find_sent(OFFICER, "x", since_in_arxan)
    assert found is not None and found.sid == sent.sid


def test_find_sent_finds_a_message_still_queued() -> None:
    """A queued message has no DateSent yet; find_sent must not depend on it."""
    with LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid(), callback_delay=30) as api:
        sms = gateway(api)
        since = datetime.now(timezone.utc)
        sent = sms.send(OFFICER, "x")
        found = sms.find_sent(OFFICER, "x", since)
        assert found is not None and (found.sid, found.status) == (sent.sid, "queued")


def test_find_sent_ignores_inbound_messages(api: LocalTwilioApi) -> None:
    """Only outbound messages count as sent by us, even one listed under the same number and body."""
    async def answer(request: web.Request) -> web.Response:
        return web.Response(text="<Response/>", content_type="text/xml")

    app = web.Application()
    app.router.add_post("/sms", answer)
    with AiohttpThread(app) as webhook:
        since = datetime.now(timezone.utc)
        api.post_inbound(f"{webhook.url}/sms", from_=OUR_NUMBER, to=OFFICER, body="x")
    assert [m.direction for m in api.messages] == ["inbound"]
    assert gateway(api).find_sent(OFFICER, "x", since) is None


def test_find_sent_reads_past_the_first_page(api: LocalTwilioApi) -> None:
    sms = gateway(api)
    since = datetime.now(timezone.utc)
    first = sms.send(OFFICER, "the first")
    for n in range(5):
        sms.send(OFFICER, f"later {n}")
    found = sms.find_sent(OFFICER, "the first", since, limit=10)
    assert found is not None and found.sid == first.sid
    assert sms.find_sent(OFFICER, "the first", since, limit=3) is None  # beyond the limit: say so honestly


# ----------------------------------------------------------------------------- the library's plumbing


def test_the_http_client_only_redirects_twilio_api_hosts() -> None:
    local = RedirectingHttpClient("http://127.0.0.1:8099/", timeout=1)
    assert local.rewrite("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json") == \
        "http://127.0.0.1:8099/2010-04-01/Accounts/AC1/Messages.json"
    assert local.rewrite("https://api.dublin.ie1.twilio.com/2010-04-01/x.json?a=1") == \
        "http://127.0.0.1:8099/2010-04-01/x.json?a=1"
    with pytest.raises(ValueError):
        local.rewrite("https://evil.example.com/2010-04-01/x.json")
    real = RedirectingHttpClient(None, timeout=1)
    assert real.rewrite("https://api.twilio.com/x") == "https://api.twilio.com/x"


def test_credentials_are_never_taken_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", fake_account_sid())
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", fake_auth_token())
    with pytest.raises(ValueError):
        TwilioSms("", "", OUR_NUMBER, api_base="http://127.0.0.1:9")


def test_no_log_line_shows_a_full_number(api: LocalTwilioApi, caplog: pytest.LogCaptureFixture) -> None:
    sms = gateway(api)
    with caplog.at_level(logging.DEBUG):
        since = datetime.now(timezone.utc)
        sms.send(OFFICER, "x")
        sms.find_sent(OFFICER, "x", since)
        api.fail_next(1, status=500)
        with pytest.raises(RetryableSmsError):
            sms.send(OFFICER, "x")
        with pytest.raises(PermanentSmsError):
            sms.send("+86138000000011234", "x")
    lines = [record.getMessage() for record in caplog.records]
    assert any("+86138****0001" in line for line in lines)
    assert not [line for line in lines if "8613800000001" in line or "%2B8613800000001" in line]


# ----------------------------------------------------------------------------- retry policy (pure)


def test_retry_policy_backs_off_exponentially_and_never_gives_up() -> None:
    policy = RetryPolicy(base_delay=1, factor=2, max_delay=30)
    assert [policy.next_delay(attempt, None) for attempt in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert policy.next_delay(10_000) == 30  # however long the outage


def test_retry_policy_caps_the_backoff() -> None:
    policy = RetryPolicy(base_delay=5, factor=3, max_delay=30)
    assert [policy.next_delay(attempt) for attempt in range(1, 5)] == [5, 15, 30, 30]


def test_retry_policy_honours_retry_after_within_reason() -> None:
    policy = RetryPolicy(max_retry_after=600)
    assert policy.next_delay(1, 7.5) == 7.5
    assert policy.next_delay(1, 0.0) == 0.0
    assert policy.next_delay(1, -3) == 0.0
    assert policy.next_delay(1, 3600) == 600  # a provider asking for an hour is asked again after ten minutes


def test_retry_policy_retries_a_blip_at_once_and_defers_the_rest() -> None:
    policy = RetryPolicy(inline_attempts=3, inline_max_delay=2)
    assert policy.retry_inline(1, 1.0) and policy.retry_inline(2, 2.0)
    assert not policy.retry_inline(3, 1.0)   # the third failure in a row is not a blip
    assert RetryPolicy().inline_attempts == 2  # by default one quick retry: the dispatcher waits for it
    assert not policy.retry_inline(1, 60.0)  # flow control: wait in the outbox, not in the dispatcher
