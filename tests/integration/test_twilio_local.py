"""The local Twilio API, driven by the REAL twilio client: create/list/fetch, auth, error shapes,
segments, injected failures, and status callbacks and inbound SMS signed like Twilio's."""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
import requests
from aiohttp import web
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from handlers.sms_gateway import RedirectingHttpClient
from deploy.local.twilio_api import (
    AiohttpThread, LocalTwilioApi, count_segments, fake_account_sid, fake_auth_token, sms_encoding,
)
from tests.integration.harness import wait_until
from handlers.twilio_webhook import SIGNATURE_HEADER, twiml_message

OFFICER = "+8613800000001"
DEPUTY = "+8613800000002"
OUR_NUMBER = "+15005550006"


@pytest.fixture
def api() -> Iterator[LocalTwilioApi]:
    with LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid(), callback_delay=0.02) as server:
        yield server


def client_for(api: LocalTwilioApi, auth_token: str | None = None) -> Client:
    return Client(api.account_sid, auth_token or api.auth_token, http_client=RedirectingHttpClient(api.url, 5))


@dataclass
class Receiver:
    """A webhook endpoint that records what it got and answers a TwiML reply."""

    server: AiohttpThread
    got: list[tuple[str, dict[str, str], str | None]] = field(default_factory=list)  # (url, form, signature)

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    app = web.Application()
    server = AiohttpThread(app)
    found = Receiver(server)

    async def record(request: web.Request) -> web.Response:
        form = await request.post()
        found.got.append((f"{found.url}{request.raw_path}", {k: str(v) for k, v in form.items()},
                          request.headers.get(SIGNATURE_HEADER)))
        return web.Response(text=twiml_message("收到"), content_type="text/xml")

    app.router.add_post("/{tail:.*}", record)
    server.start()
    yield found
    server.stop()


def test_create_returns_twilios_message_shape_to_the_real_client(api: LocalTwilioApi) -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    message = client_for(api).messages.create(to=OFFICER, from_=OUR_NUMBER, body="ERS: 测试告警")
    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid)
    assert message.account_sid == api.account_sid
    assert (message.to, message.from_, message.body) == (OFFICER, OUR_NUMBER, "ERS: 测试告警")
    assert message.status == "queued" and message.direction == "outbound-api"
    assert message.num_segments == "1" and message.error_code is None
    assert before <= message.date_created <= datetime.now(timezone.utc)
    assert message.uri == f"/2010-04-01/Accounts/{api.account_sid}/Messages/{message.sid}.json"
    assert [m.sid for m in api.messages] == [message.sid]


def test_wrong_credentials_get_twilios_401(api: LocalTwilioApi) -> None:
    with pytest.raises(TwilioRestException) as failure:
        client_for(api, auth_token="not-the-token").messages.create(to=OFFICER, from_=OUR_NUMBER, body="x")
    assert (failure.value.status, failure.value.code) == (401, 20003)
    assert api.messages == []


def test_another_accounts_path_is_not_found(api: LocalTwilioApi) -> None:
    response = requests.get(f"{api.url}/2010-04-01/Accounts/{fake_account_sid()}/Messages.json",
                            auth=(api.account_sid, api.auth_token), timeout=5)
    assert response.status_code == 404 and response.json()["code"] == 20404


@pytest.mark.parametrize(("fields", "code"), [
    ({"to": "13800000001", "from_": OUR_NUMBER, "body": "x"}, 21211),  # not E.164
    ({"to": OFFICER, "body": "x"}, 21603),                             # no From nor MessagingServiceSid
    ({"to": OFFICER, "from_": OUR_NUMBER, "body": "x" * 1601}, 21617),
])
def test_invalid_requests_get_twilio_error_codes(api: LocalTwilioApi, fields: dict[str, str], code: int) -> None:
    with pytest.raises(TwilioRestException) as failure:
        client_for(api).messages.create(**fields)
    assert (failure.value.status, failure.value.code) == (400, code)


def test_error_body_has_twilios_json_shape(api: LocalTwilioApi) -> None:
    response = requests.post(f"{api.url}/2010-04-01/Accounts/{api.account_sid}/Messages.json",
                             data={"To": "12345", "From": OUR_NUMBER, "Body": "x"},
                             auth=(api.account_sid, api.auth_token), timeout=5)
    assert response.status_code == 400
    assert response.json() == {"code": 21211, "message": "Invalid 'To' Phone Number: 12345",
                               "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}


@pytest.mark.parametrize(("body", "encoding", "segments"), [
    ("a" * 160, "GSM-7", 1), ("a" * 161, "GSM-7", 2), ("a" * 306, "GSM-7", 2), ("a" * 307, "GSM-7", 3),
    ("€" * 80, "GSM-7", 1), ("€" * 81, "GSM-7", 2),           # extension characters cost two septets
    ("a" * 152 + "€", "GSM-7", 1), ("a" * 152 + "€" + "a" * 8, "GSM-7", 2),
    ("中" * 70, "UCS-2", 1), ("中" * 71, "UCS-2", 2), ("中" * 134, "UCS-2", 2), ("中" * 135, "UCS-2", 3),
    ("a" * 69 + "中", "UCS-2", 1),                             # one non-GSM character makes it all UCS-2
    ("😀" * 35, "UCS-2", 1), ("😀" * 36, "UCS-2", 2),          # surrogate pairs count two units
])
def test_segments(body: str, encoding: str, segments: int) -> None:
    assert (sms_encoding(body), count_segments(body)) == (encoding, segments)


def test_segments_reach_the_client(api: LocalTwilioApi) -> None:
    message = client_for(api).messages.create(to=OFFICER, from_=OUR_NUMBER, body="阿尔山告警" * 20)
    assert message.num_segments == "2"


def test_list_filters_and_fetch(api: LocalTwilioApi) -> None:
    client = client_for(api)
    first = client.messages.create(to=OFFICER, from_=OUR_NUMBER, body="one")
    second = client.messages.create(to=OFFICER, from_=OUR_NUMBER, body="two")
    client.messages.create(to=DEPUTY, from_=OUR_NUMBER, body="three")
    assert [m.sid for m in client.messages.list(to=OFFICER)] == [second.sid, first.sid]  # newest first
    assert len(client.messages.list(from_=OUR_NUMBER)) == 3
    fetched = client.messages(first.sid).fetch()
    assert (fetched.sid, fetched.body, fetched.to) == (first.sid, "one", OFFICER)
    with pytest.raises(TwilioRestException) as missing:
        client.messages("SM" + "0" * 32).fetch()
    assert (missing.value.status, missing.value.code) == (404, 20404)


def test_date_sent_filters_skip_messages_not_sent_yet() -> None:
    """As on Twilio, a queued message has no DateSent; the library sends DateSent> as a full UTC time."""
    with LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid(), callback_delay=0.05) as api:
        client = client_for(api)
        message = client.messages.create(to=OFFICER, from_=OUR_NUMBER, body="x")
        a_minute_ago = datetime.now(timezone.utc) - timedelta(minutes=1)
        assert client.messages.list(to=OFFICER, date_sent_after=a_minute_ago) == []
        wait_until(lambda: api.message(message.sid).status == "delivered")
        assert [m.sid for m in client.messages.list(to=OFFICER, date_sent_after=a_minute_ago)] == [message.sid]
        today = datetime.now(timezone.utc).date().isoformat()  # a day must be a string, see below
        assert [m.sid for m in client.messages.list(to=OFFICER, date_sent=today)] == [message.sid]
        assert client.messages.list(to=OFFICER, date_sent_before=a_minute_ago) == []


def test_the_library_does_not_convert_filter_times_to_utc(api: LocalTwilioApi) -> None:
    """twilio.base.serialize.iso8601_datetime formats an aware time's wall clock with a 'Z' and a date object
    as midnight, so a filter time in Arxan's +08:00 means 8 hours later than intended: convert to UTC first."""
    client = client_for(api)
    message = client.messages.create(to=OFFICER, from_=OUR_NUMBER, body="x")
    wait_until(lambda: api.message(message.sid).status == "delivered")
    a_minute_ago = datetime.now(timezone.utc) - timedelta(minutes=1)
    in_arxan = a_minute_ago.astimezone(timezone(timedelta(hours=8)))
    assert client.messages.list(to=OFFICER, date_sent_after=in_arxan) == []
    assert [m.sid for m in client.messages.list(to=OFFICER, date_sent_after=a_minute_ago)] == [message.sid]
    assert client.messages.list(to=OFFICER, date_sent=datetime.now(timezone.utc).date()) == []


def test_list_pages_through_the_real_client(api: LocalTwilioApi) -> None:
    client = client_for(api)
    for n in range(5):
        client.messages.create(to=OFFICER, from_=OUR_NUMBER, body=f"m{n}")
    assert [m.body for m in client.messages.list(to=OFFICER, page_size=2)] == ["m4", "m3", "m2", "m1", "m0"]
    assert sum(1 for r in api.requests if r.method == "GET") == 3


def test_status_callbacks_are_signed_like_twilios(api: LocalTwilioApi, receiver: Receiver) -> None:
    callback_url = f"{receiver.url}/twilio/status?county=arxan"
    message = client_for(api).messages.create(to=OFFICER, from_=OUR_NUMBER, body="x", status_callback=callback_url)
    wait_until(lambda: len(receiver.got) == 2)
    assert [form["MessageStatus"] for _, form, _ in receiver.got] == ["sent", "delivered"]
    for url, form, signature in receiver.got:
        assert url == callback_url
        assert RequestValidator(api.auth_token).validate(url, form, signature)
        assert not RequestValidator("another-token").validate(url, form, signature)
        assert (form["MessageSid"], form["AccountSid"], form["To"], form["From"]) == \
            (message.sid, api.account_sid, OFFICER, OUR_NUMBER)
        assert "ErrorCode" not in form
    assert [c.response_status for c in api.callbacks] == [200, 200]
    assert api.message(message.sid).status == "delivered" and api.message(message.sid).date_sent is not None


@pytest.mark.parametrize(("final", "statuses"), [("undelivered", ["sent", "undelivered"]), ("failed", ["failed"])])
def test_numbers_told_to_fail_end_with_an_error_code(api: LocalTwilioApi, receiver: Receiver, final: str,
                                                      statuses: list[str]) -> None:
    api.fail_to(DEPUTY, final_status=final, error_code=30003)  # type: ignore[arg-type]
    message = client_for(api).messages.create(to=DEPUTY, from_=OUR_NUMBER, body="x",
                                              status_callback=f"{receiver.url}/status")
    wait_until(lambda: len(receiver.got) == len(statuses))
    assert [form["MessageStatus"] for _, form, _ in receiver.got] == statuses
    assert receiver.got[-1][1]["ErrorCode"] == "30003"
    fetched = client_for(api).messages(message.sid).fetch()
    assert (fetched.status, fetched.error_code) == (final, 30003)


def test_fail_next_answers_with_the_status_and_retry_after_then_recovers(api: LocalTwilioApi) -> None:
    api.fail_next(2, status=429, retry_after=3)
    url = f"{api.url}/2010-04-01/Accounts/{api.account_sid}/Messages.json"
    form = {"To": OFFICER, "From": OUR_NUMBER, "Body": "x"}
    for _ in range(2):
        refused = requests.post(url, data=form, auth=(api.account_sid, api.auth_token), timeout=5)
        assert (refused.status_code, refused.headers["Retry-After"], refused.json()["code"]) == (429, "3", 20429)
    assert requests.post(url, data=form, auth=(api.account_sid, api.auth_token), timeout=5).status_code == 201
    assert [r.status for r in api.requests] == [429, 429, 201]
    assert len(api.messages) == 1


def test_refuse_to_gives_a_permanent_400(api: LocalTwilioApi) -> None:
    api.refuse_to(DEPUTY)
    with pytest.raises(TwilioRestException) as failure:
        client_for(api).messages.create(to=DEPUTY, from_=OUR_NUMBER, body="x")
    assert (failure.value.status, failure.value.code) == (400, 21610)


def test_messaging_service_sender(api: LocalTwilioApi) -> None:
    message = client_for(api).messages.create(to=OFFICER, messaging_service_sid="MG" + "1" * 32, body="x")
    assert (message.status, message.from_, message.messaging_service_sid) == ("accepted", None, "MG" + "1" * 32)
    wait_until(lambda: api.message(message.sid).status == "delivered")
    assert api.message(message.sid).from_ == OUR_NUMBER


def test_post_inbound_is_signed_like_twilio(api: LocalTwilioApi, receiver: Receiver) -> None:
    status, text = api.post_inbound(f"{receiver.url}/twilio/sms", from_=OFFICER, to=OUR_NUMBER, body="1 收到")
    assert status == 200 and "<Message>收到</Message>" in text
    (url, form, signature), = receiver.got
    assert RequestValidator(api.auth_token).validate(url, form, signature)
    assert re.fullmatch(r"SM[0-9a-f]{32}", form["MessageSid"])
    assert (form["From"], form["To"], form["Body"], form["NumMedia"], form["AccountSid"]) == \
        (OFFICER, OUR_NUMBER, "1 收到", "0", api.account_sid)
    inbound = [m for m in api.messages if m.direction == "inbound"]
    assert [(m.sid, m.status) for m in inbound] == [(form["MessageSid"], "received")]


def test_server_thread_starts_and_stops_cleanly() -> None:
    server = LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid())
    server.start()
    url = server.url
    server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=1)
    with pytest.raises(ValueError):
        LocalTwilioApi(auth_token="", account_sid="not-an-account")
