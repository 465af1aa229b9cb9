"""The SMS outbox and `deliver`, on SQLite always and on PostgreSQL when ERS_TEST_POSTGRES_URL is set:
claims are idempotent, a crash between claim and send is reconciled without a second SMS, retries follow
the policy, and status callbacks and replies reach the outbox through the webhook guard."""
from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import requests
from aiohttp import web
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from handlers.database import make_engine, migrate
from handlers.sms_errors import RetryPolicy
from handlers.sms_gateway import TwilioSms
from handlers.sms_router import SmsRouter
from handlers.sms_outbox import SmsOutbox
from streams.services.sms_delivery import deliver, retry_due
from deploy.local.twilio_api import AiohttpThread, LocalTwilioApi, fake_account_sid, fake_auth_token
from tests.integration.harness import wait_until
from handlers.twilio_webhook import SIGNATURE_HEADER, WebhookGuard, twiml_empty, twiml_message
from schemas.notifications import Notification

OUR_NUMBER = "+15005550006"




@pytest.fixture
def outbox(database_url: str) -> Iterator[SmsOutbox]:
    migrate(database_url)
    engine = make_engine(database_url)
    yield SmsOutbox(engine)
    engine.dispose()


@pytest.fixture
def api() -> Iterator[LocalTwilioApi]:
    with LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid(), callback_delay=0.05) as server:
        yield server


@pytest.fixture
def gateway(api: LocalTwilioApi) -> SmsRouter:
    return SmsRouter(twilio=TwilioSms(api.account_sid, api.auth_token, OUR_NUMBER, api_base=api.url, timeout=5))


def a_notification(body: str | None = None, drill_id: str | None = None) -> Notification:
    """A notification to a phone of its own (PostgreSQL keeps rows between tests)."""
    return Notification(notification_id=uuid.uuid4(), person_id="duty.officer.zhang",
                        to="+86138" + f"{secrets.randbelow(10**8):08d}",
                        body=body or f"【ERS】哈拉哈河 断面 氨氮 1.6 mg/L 超标 {uuid.uuid4().hex[:6]}，回复 1 确认",
                        created_at=datetime.now(timezone.utc), drill_id=drill_id)


class Sleeps(list[float]):
    """A sleep() that only writes down how long it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def state_of(outbox: SmsOutbox, notification_id: str) -> str | None:
    record = outbox.get(notification_id)
    return record.state if record else None


# ----------------------------------------------------------------------------- the table


def test_migration_creates_the_sms_tables(database_url: str) -> None:
    migrate(database_url)
    engine = make_engine(database_url)
    tables = set(inspect(engine).get_table_names())
    columns = {c["name"] for c in inspect(engine).get_columns("sms_outbox")}
    engine.dispose()
    assert {"sms_outbox", "webhook_receipts", "processed_events"} <= tables
    assert {"notification_id", "person_id", "to_phone", "body", "drill_id", "state", "provider_sid", "attempts",
            "claimed_at", "sent_at", "last_error", "updated_at"} <= columns


def test_claiming_twice_returns_the_first_claim(outbox: SmsOutbox) -> None:
    notification = a_notification(drill_id="drill-2026-07")
    first = outbox.claim(notification, datetime.now(timezone.utc))
    again = outbox.claim(notification, datetime.now(timezone.utc))
    assert (first.is_new, first.state, first.needs_reconcile, first.already_done) == (True, "claimed", False, False)
    assert (again.is_new, again.state, again.needs_reconcile) == (False, "claimed", True)
    assert abs(again.claimed_at - first.claimed_at) < timedelta(seconds=1)
    assert again.claimed_at.tzinfo is not None
    record = outbox.get(str(notification.notification_id))
    assert record is not None and (record.to_phone, record.drill_id, record.attempts) == \
        (notification.to, "drill-2026-07", 0)


def test_a_sent_notification_is_never_claimed_for_sending_again(outbox: SmsOutbox) -> None:
    notification = a_notification()
    nid = str(notification.notification_id)
    outbox.claim(notification, datetime.now(timezone.utc))
    outbox.mark_sent(nid, "SM" + secrets.token_hex(16), 2, datetime.now(timezone.utc))
    claim = outbox.claim(notification, datetime.now(timezone.utc))
    assert (claim.is_new, claim.state, claim.already_done, claim.needs_reconcile) == (False, "sent", True, False)
    record = outbox.get(nid)
    assert record is not None and record.num_segments == 2 and record.sent_at is not None


def test_a_provider_sid_belongs_to_one_notification(outbox: SmsOutbox) -> None:
    sid = "SM" + secrets.token_hex(16)
    first, second = a_notification(), a_notification()
    outbox.claim(first, datetime.now(timezone.utc))
    outbox.claim(second, datetime.now(timezone.utc))
    outbox.mark_sent(str(first.notification_id), sid, 1, datetime.now(timezone.utc))
    with pytest.raises(IntegrityError):
        outbox.mark_sent(str(second.notification_id), sid, 1, datetime.now(timezone.utc))


def test_mark_sent_needs_a_claim(outbox: SmsOutbox) -> None:
    with pytest.raises(LookupError):
        outbox.mark_sent(str(uuid.uuid4()), "SM" + secrets.token_hex(16), 1, datetime.now(timezone.utc))


def test_statuses_only_move_forward(outbox: SmsOutbox) -> None:
    notification = a_notification()
    nid, sid = str(notification.notification_id), "SM" + secrets.token_hex(16)
    outbox.claim(notification, datetime.now(timezone.utc))
    outbox.mark_sent(nid, sid, 1, datetime.now(timezone.utc))
    assert outbox.record_status(sid, "queued", None, datetime.now(timezone.utc)) == nid
    assert outbox.record_status(sid, "delivered", None, datetime.now(timezone.utc)) == nid
    assert outbox.record_status(sid, "sent", None, datetime.now(timezone.utc)) == nid            # arrived late: ignored
    record = outbox.get(nid)
    assert record is not None and record.state == "delivered"
    assert outbox.record_status("SM" + secrets.token_hex(16), "delivered", None, datetime.now(timezone.utc)) is None


def test_a_failed_delivery_keeps_the_error_code(outbox: SmsOutbox) -> None:
    notification = a_notification()
    nid, sid = str(notification.notification_id), "SM" + secrets.token_hex(16)
    outbox.claim(notification, datetime.now(timezone.utc))
    outbox.mark_sent(nid, sid, 1, datetime.now(timezone.utc))
    assert outbox.record_status(sid, "undelivered", "30003", datetime.now(timezone.utc)) == nid
    record = outbox.get(nid)
    assert record is not None and record.state == "undelivered" and "30003" in (record.last_error or "")


def test_remember_webhook_spots_replays(outbox: SmsOutbox) -> None:
    sid = "SM" + secrets.token_hex(16)
    assert outbox.remember_webhook(sid, "inbound", datetime.now(timezone.utc)) is True
    assert outbox.remember_webhook(sid, "inbound", datetime.now(timezone.utc)) is False
    assert outbox.remember_webhook(sid, "status:sent", datetime.now(timezone.utc)) is True
    assert outbox.remember_webhook(sid, "status:delivered", datetime.now(timezone.utc)) is True
    assert outbox.remember_webhook(sid, "status:delivered", datetime.now(timezone.utc)) is False


# ----------------------------------------------------------------------------- deliver


def test_deliver_sends_once_and_skips_a_redelivered_notification(outbox: SmsOutbox, gateway: SmsRouter,
                                                                  api: LocalTwilioApi) -> None:
    notification = a_notification()
    now = datetime.now(timezone.utc)
    first = deliver(outbox, gateway, notification, None, lambda: now, sleep=Sleeps())
    again = deliver(outbox, gateway, notification, None, lambda: now, sleep=Sleeps())
    assert (first.outcome, first.state, first.tries) == ("sent", "sent", 1)
    assert (again.outcome, again.state, again.provider_sid) == ("skipped", "sent", first.provider_sid)
    assert [m.sid for m in api.messages] == [first.provider_sid]
    record = outbox.get(first.notification_id)
    assert record is not None and record.attempts == 1 and record.provider_sid == first.provider_sid


def test_deliver_retries_on_500_then_succeeds_without_a_duplicate(outbox: SmsOutbox, gateway: SmsRouter,
                                                                   api: LocalTwilioApi) -> None:
    api.fail_next(2, status=500)
    sleeps = Sleeps()
    result = deliver(outbox, gateway, a_notification(), None, lambda: datetime.now(timezone.utc), sleep=sleeps,
                     policy=RetryPolicy(inline_attempts=3, inline_max_delay=2, base_delay=1, factor=2))
    assert (result.outcome, result.tries) == ("sent", 3)
    assert sleeps == [1, 2]
    # after each 500 it looked (GET) before sending again, since a 500 may come after the message exists
    assert [(r.method, r.status) for r in api.requests] == [("POST", 500), ("GET", 200), ("POST", 500),
                                                             ("GET", 200), ("POST", 201)]
    assert len(api.messages) == 1
    record = outbox.get(result.notification_id)
    assert record is not None and record.attempts == 3


def test_deliver_retries_a_short_429_at_once(outbox: SmsOutbox, gateway: SmsRouter, api: LocalTwilioApi) -> None:
    api.fail_next(1, status=429, retry_after=1)
    sleeps = Sleeps()
    result = deliver(outbox, gateway, a_notification(), None, lambda: datetime.now(timezone.utc), sleep=sleeps)
    assert result.outcome == "sent" and sleeps == [1.0]
    assert [r.method for r in api.requests] == ["POST", "POST"]  # a 429 is a refusal: nothing to look for


def only_ours(outbox: SmsOutbox) -> None:
    """Settle the pages earlier tests left waiting (the PostgreSQL database is shared by the tests), so a retry
    loop sends only this test's."""
    for row in outbox.waiting_rows():
        outbox.mark_superseded(row.notification_id, "left by an earlier test", datetime.now(timezone.utc))


def ours(tried: list, notification: Notification) -> list:
    """What the retry loop did to this test's notification (the PostgreSQL database is shared by the tests)."""
    return [result for note, result in tried if note.notification_id == notification.notification_id]


def test_a_long_429_defers_the_page_without_waiting(outbox: SmsOutbox, gateway: SmsRouter,
                                                     api: LocalTwilioApi) -> None:
    api.fail_next(1, status=429, retry_after=90)
    sleeps, now = Sleeps(), datetime.now(timezone.utc)
    result = deliver(outbox, gateway, a_notification(), None, lambda: now, sleep=sleeps)
    assert (result.outcome, result.state, sleeps) == ("deferred", "claimed", [])
    assert result.retry_at == now + timedelta(seconds=90) and "rate limited" in (result.error or "")
    record = outbox.get(result.notification_id)
    assert record is not None and record.waiting and record.retry_at == result.retry_at
    assert [r for r in outbox.due(now + timedelta(seconds=89), limit=10_000)
            if r.notification_id == result.notification_id] == []


def test_a_page_waits_through_an_outage_and_goes_once_when_it_ends(outbox: SmsOutbox, gateway: SmsRouter,
                                                                    api: LocalTwilioApi) -> None:
    only_ours(outbox)
    notification, start = a_notification(), datetime.now(timezone.utc)
    api.fail_next(10_000, status=503)
    result = deliver(outbox, gateway, notification, None, lambda: start, sleep=Sleeps())
    assert (result.outcome, result.tries) == ("deferred", 2)  # one quick retry, then it waits
    # The dispatcher meets the notification again (redelivered): it leaves it to the retry loop.
    assert deliver(outbox, gateway, notification, None, lambda: start, sleep=Sleeps()).outcome == "skipped"
    never = lambda note: None  # noqa: E731
    now, rounds = start, []
    for _ in range(6):  # the outage goes on: each round of the loop tries once, and the waits grow
        now = outbox.get(result.notification_id).retry_at  # type: ignore[union-attr]
        [again] = ours(retry_due(outbox, gateway, None, now, never), notification)
        rounds.append((again.outcome, round((again.retry_at - now).total_seconds())))  # type: ignore[operator]
    assert [outcome for outcome, _ in rounds] == ["deferred"] * 6
    waits = [wait for _, wait in rounds]
    assert waits == sorted(waits) and waits[-1] == 60
    assert ours(retry_due(outbox, gateway, None, now, never), notification) == []  # not due again yet
    api.recover()
    [sent] = ours(retry_due(outbox, gateway, None, now + timedelta(minutes=1), never), notification)
    assert sent.outcome == "sent" and len(api.messages) == 1
    assert ours(retry_due(outbox, gateway, None, now + timedelta(hours=1), never), notification) == []
    assert deliver(outbox, gateway, notification, None, lambda: now, sleep=Sleeps()).outcome == "skipped"
    assert len(api.messages) == 1


def test_a_waiting_page_is_superseded_and_never_sent(outbox: SmsOutbox, gateway: SmsRouter,
                                                     api: LocalTwilioApi) -> None:
    only_ours(outbox)
    notification, now = a_notification(), datetime.now(timezone.utc)
    api.fail_next(10_000, status=503)
    deliver(outbox, gateway, notification, None, lambda: now, sleep=Sleeps())
    api.recover()
    later = now + timedelta(minutes=5)
    [result] = ours(retry_due(outbox, gateway, None, later,
                              lambda note: "incident KPF resolved" if note == notification else None), notification)
    assert (result.outcome, result.error) == ("superseded", "incident KPF resolved")
    record = outbox.get(result.notification_id)
    assert record is not None and record.state == "superseded" and api.messages == []
    assert deliver(outbox, gateway, notification, None, lambda: later, sleep=Sleeps()).outcome == "skipped"


def test_only_one_of_two_workers_takes_a_due_page(outbox: SmsOutbox, gateway: SmsRouter,
                                                   api: LocalTwilioApi) -> None:
    only_ours(outbox)
    notification, now = a_notification(), datetime.now(timezone.utc)
    api.fail_next(3, status=503)
    deliver(outbox, gateway, notification, None, lambda: now, sleep=Sleeps())
    later = now + timedelta(minutes=5)
    nid = str(notification.notification_id)
    [first], [second] = ([r for r in outbox.due(later, limit=10_000) if r.notification_id == nid]
                         for _ in range(2))  # both workers see it due
    assert outbox.lease(first, later + timedelta(minutes=2), later) is True
    assert outbox.lease(second, later + timedelta(minutes=2), later) is False


def test_in_a_drill_the_tries_end_and_the_page_fails(outbox: SmsOutbox, gateway: SmsRouter,
                                                     api: LocalTwilioApi) -> None:
    api.fail_next(5, status=503)
    sleeps = Sleeps()
    notification = a_notification()
    result = deliver(outbox, gateway, notification, None, lambda: datetime.now(timezone.utc), sleep=sleeps,
                     policy=RetryPolicy(max_attempts=3), can_defer=False)
    assert (result.outcome, result.state, result.tries) == ("failed", "failed", 3)
    assert sleeps == [1, 2] and api.messages == []
    assert "gave up after 3 tries" in (result.error or "")
    assert deliver(outbox, gateway, notification, None, lambda: datetime.now(timezone.utc)).outcome == "skipped"


def test_deliver_does_not_retry_a_permanent_400(outbox: SmsOutbox, gateway: SmsRouter, api: LocalTwilioApi) -> None:
    notification = a_notification()
    api.refuse_to(notification.to)  # 21610: the officer's phone replied STOP at some point
    sleeps = Sleeps()
    result = deliver(outbox, gateway, notification, None, lambda: datetime.now(timezone.utc), sleep=sleeps)
    assert (result.outcome, result.tries, sleeps) == ("failed", 1, [])
    record = outbox.get(result.notification_id)
    assert record is not None and record.state == "failed" and "21610" in (record.last_error or "")
    assert notification.to not in (record.last_error or "")


def test_a_crash_between_claim_and_send_is_reconciled_then_sent_once(outbox: SmsOutbox, gateway: SmsRouter,
                                                                      api: LocalTwilioApi) -> None:
    notification = a_notification()
    outbox.claim(notification, datetime.now(timezone.utc))  # ... and the worker died before calling Twilio
    result = deliver(outbox, gateway, notification, None, lambda: datetime.now(timezone.utc), sleep=Sleeps())
    assert result.outcome == "sent"
    assert [r.method for r in api.requests] == ["GET", "POST"]  # looked first, found nothing, sent
    assert len(api.messages) == 1


def test_a_crash_after_twilio_accepted_is_reconciled_without_resending(outbox: SmsOutbox, gateway: SmsRouter,
                                                                        api: LocalTwilioApi) -> None:
    notification = a_notification()
    claimed_at = datetime.now(timezone.utc)
    outbox.claim(notification, claimed_at)
    already = gateway.send(notification)  # ... and the worker died before mark_sent
    result = deliver(outbox, gateway, notification, None, lambda: claimed_at + timedelta(minutes=2), sleep=Sleeps())
    assert (result.outcome, result.provider_sid) == ("reconciled", already.sid)
    assert [m.sid for m in api.messages] == [already.sid]
    assert [r.method for r in api.requests] == ["POST", "GET"]
    record = outbox.get(result.notification_id)
    assert record is not None and record.state == "sent" and record.provider_sid == already.sid


def test_a_lost_response_is_reconciled_without_resending(outbox: SmsOutbox, api: LocalTwilioApi) -> None:
    """Twilio accepted the message but the answer timed out: look before trying again."""
    api.stall_next(1, seconds=0.5)
    impatient = SmsRouter(twilio=TwilioSms(api.account_sid, api.auth_token, OUR_NUMBER, api_base=api.url,
                                           timeout=0.15))
    result = deliver(outbox, impatient, a_notification(), None, lambda: datetime.now(timezone.utc), sleep=Sleeps())
    assert result.outcome == "reconciled" and len(api.messages) == 1
    assert result.provider_sid == api.messages[0].sid


def test_the_same_body_sent_before_the_claim_is_not_taken_for_this_notification(
        outbox: SmsOutbox, gateway: SmsRouter, api: LocalTwilioApi) -> None:
    notification = a_notification()
    gateway.send(notification)  # an earlier, separate alert with the same text
    later = datetime.now(timezone.utc) + timedelta(minutes=10)
    outbox.claim(notification, later)
    result = deliver(outbox, gateway, notification, None, lambda: later, sleep=Sleeps())
    assert result.outcome == "sent" and len(api.messages) == 2


def test_a_claim_is_left_to_its_sender_and_taken_over_only_after_its_lease(outbox: SmsOutbox, gateway: SmsRouter,
                                                                           api: LocalTwilioApi) -> None:
    """The sweep and the dispatcher (or two workers after a rebalance) meet one notification at once: the one that
    claimed it sends; the other leaves it alone. A sender that dies mid-send leaves it to the retry loop."""
    from streams.services.sms_delivery import CLAIM_LEASE

    only_ours(outbox)
    notification, now = a_notification(), datetime.now(timezone.utc)
    outbox.claim(notification, now, now + CLAIM_LEASE)  # the first sender...
    gateway.send(notification)                          # ...sent it and died before recording it
    meanwhile = deliver(outbox, gateway, notification, None, lambda: now + timedelta(seconds=20), sleep=Sleeps())
    assert meanwhile.outcome == "skipped" and len(api.messages) == 1, "another sender is at work: leave it"
    assert ours(retry_due(outbox, gateway, None, now + timedelta(seconds=20), lambda n: None), notification) == []
    [taken] = ours(retry_due(outbox, gateway, None, now + CLAIM_LEASE + timedelta(seconds=1), lambda n: None),
                   notification)
    assert taken.outcome == "reconciled" and len(api.messages) == 1, "after the lease: looked up, not sent again"


def test_a_restarted_worker_takes_over_its_dead_predecessors_sends_at_once_and_no_one_elses(
        outbox: SmsOutbox, gateway: SmsRouter, api: LocalTwilioApi) -> None:
    from streams.services.sms_delivery import CLAIM_LEASE

    only_ours(outbox)
    now = datetime.now(timezone.utc)
    mine, theirs, waiting = a_notification(), a_notification(), a_notification()
    outbox.claim(mine, now, now + CLAIM_LEASE, "worker-a#first")      # this slot's process, killed mid-send
    gateway.send(mine)
    outbox.claim(theirs, now, now + CLAIM_LEASE, "worker-b#first")    # another worker, at work
    api.fail_next(2, status=503)
    assert deliver(outbox, gateway, waiting, None, lambda: now, sleep=Sleeps(),
                   sender="worker-a#first").outcome == "deferred"   # the provider could not take this one
    restarted = "worker-a#second"
    soon = now + timedelta(seconds=5)
    taken = deliver(outbox, gateway, mine, None, lambda: soon, sleep=Sleeps(), sender=restarted)
    assert taken.outcome == "reconciled" and len(api.messages) == 1, "its own send: found, not sent again"
    assert deliver(outbox, gateway, theirs, None, lambda: soon, sleep=Sleeps(), sender=restarted).outcome == \
        "skipped", "another worker's claim waits for its lease"
    assert deliver(outbox, gateway, waiting, None, lambda: soon, sleep=Sleeps(), sender=restarted).outcome == \
        "skipped", "a page waiting for the provider is the retry loop's"
    assert len(api.messages) == 1


def test_a_twin_text_sent_for_another_notification_is_not_taken_for_this_one(outbox: SmsOutbox, gateway: SmsRouter,
                                                                            api: LocalTwilioApi) -> None:
    """Two notifications with the same text to the same person (a tier paged twice): reconciling the second must
    not take the first's SMS for it (its provider id is recorded already)."""
    first = a_notification()
    second = first.model_copy(update={"notification_id": uuid.uuid4()})
    now = datetime.now(timezone.utc)
    outbox.claim(second, now)  # claimed, then its sender died before calling Twilio
    assert deliver(outbox, gateway, first, None, lambda: now, sleep=Sleeps()).outcome == "sent"
    result = deliver(outbox, gateway, second, None, lambda: now + timedelta(minutes=2), sleep=Sleeps())
    assert result.outcome == "sent" and len(api.messages) == 2, "the first's SMS is not the second's"
    assert {outbox.get(str(n.notification_id)).provider_sid for n in (first, second)} == \
        {m.sid for m in api.messages}  # type: ignore[union-attr]


def test_one_row_failing_does_not_stop_a_retry_round(outbox: SmsOutbox, api: LocalTwilioApi) -> None:
    only_ours(outbox)
    broken, fine, now = a_notification(), a_notification(), datetime.now(timezone.utc)
    api.fail_next(4, status=503)
    router = SmsRouter(twilio=TwilioSms(api.account_sid, api.auth_token, OUR_NUMBER, api_base=api.url, timeout=5))
    for n in (broken, fine):
        assert deliver(outbox, router, n, None, lambda: now, sleep=Sleeps()).outcome == "deferred"

    class Flaky(SmsRouter):
        def send(self, notification, status_callback_url=None):
            if notification.notification_id == broken.notification_id:
                raise RuntimeError("a bug on this row")
            return super().send(notification, status_callback_url)

    flaky = Flaky(twilio=TwilioSms(api.account_sid, api.auth_token, OUR_NUMBER, api_base=api.url, timeout=5))
    tried = retry_due(outbox, flaky, None, now + timedelta(minutes=5), lambda n: None)
    assert [r.outcome for r in ours(tried, fine)] == ["sent"], "the round went on past the broken row"
    assert ours(tried, broken) == [] and state_of(outbox, str(broken.notification_id)) == "claimed", \
        "the broken row waits for its lease and is tried again"


# ----------------------------------------------------------------------------- webhooks end to end


class ErsWebhooks:
    """ERS's side of the webhooks as an aiohttp app: the guard, then record_status or an acknowledgement."""

    def __init__(self, outbox: SmsOutbox, auth_token: str, officers: set[str]) -> None:
        self.replies: list[str] = []
        self._outbox = outbox
        app = web.Application()
        app.router.add_post("/twilio/status", self._status)
        app.router.add_post("/twilio/sms", self._inbound)
        self.server = AiohttpThread(app)
        self.server.start()
        self.url = self.server.url
        self._guard = WebhookGuard(auth_token, self.url, outbox, known_phone=officers.__contains__)

    async def _status(self, request: web.Request) -> web.Response:
        form = await request.post()
        verdict = self._guard.check(request.raw_path, form, request.headers.get(SIGNATURE_HEADER), datetime.now(timezone.utc))
        if not verdict:
            return web.Response(status=verdict.status_code, text=verdict.reason)
        self._outbox.record_status(str(form["MessageSid"]), str(form["MessageStatus"]), form.get("ErrorCode"),
                                   datetime.now(timezone.utc))
        return web.Response(text=twiml_empty(), content_type="text/xml")

    async def _inbound(self, request: web.Request) -> web.Response:
        form = await request.post()
        verdict = self._guard.check(request.raw_path, form, request.headers.get(SIGNATURE_HEADER), datetime.now(timezone.utc))
        if not verdict:
            return web.Response(status=verdict.status_code, text=verdict.reason)
        self.replies.append(str(form["Body"]))
        return web.Response(text=twiml_message("已确认 / acknowledged"), content_type="text/xml")


@pytest.fixture
def ers_webhooks(outbox: SmsOutbox, api: LocalTwilioApi) -> Iterator[ErsWebhooks]:
    webhooks = ErsWebhooks(outbox, api.auth_token, officers={"+8613800000001"})
    yield webhooks
    webhooks.server.stop()


def test_status_callbacks_reach_the_outbox_and_replays_are_refused(
        outbox: SmsOutbox, gateway: SmsRouter, api: LocalTwilioApi, ers_webhooks: ErsWebhooks) -> None:
    result = deliver(outbox, gateway, a_notification(), f"{ers_webhooks.url}/twilio/status",
                     lambda: datetime.now(timezone.utc))

    wait_until(lambda: state_of(outbox, result.notification_id) == "delivered")
    wait_until(lambda: len(api.callbacks) == 2)
    assert [c.response_status for c in api.callbacks] == [200, 200]
    replayed = api.callbacks[-1]
    again = requests.post(replayed.url, data=replayed.params, headers={SIGNATURE_HEADER: replayed.signature},
                          timeout=5)
    assert again.status_code == 403 and "replay" in again.text


def test_an_undelivered_alert_is_recorded(outbox: SmsOutbox, gateway: SmsRouter, api: LocalTwilioApi,
                                          ers_webhooks: ErsWebhooks) -> None:
    notification = a_notification()
    api.fail_to(notification.to, "undelivered", 30003)
    result = deliver(outbox, gateway, notification, f"{ers_webhooks.url}/twilio/status",
                     lambda: datetime.now(timezone.utc))
    wait_until(lambda: state_of(outbox, result.notification_id) == "undelivered")
    record = outbox.get(result.notification_id)
    assert record is not None and "30003" in (record.last_error or "")


def test_replies_from_officers_pass_once_and_strangers_never(api: LocalTwilioApi,
                                                              ers_webhooks: ErsWebhooks) -> None:
    base = ers_webhooks.url
    status, text = api.post_inbound(f"{base}/twilio/sms", from_="+8613800000001", to=OUR_NUMBER, body="1")
    assert status == 200 and "已确认" in text
    sid = [m.sid for m in api.messages if m.direction == "inbound"][0]
    replayed = api.post_inbound(f"{base}/twilio/sms", from_="+8613800000001", to=OUR_NUMBER, body="1",
                                message_sid=sid)
    assert replayed[0] == 403
    stranger = api.post_inbound(f"{base}/twilio/sms", from_="+8613911112222", to=OUR_NUMBER, body="1")
    assert stranger == (403, "unknown number")
    assert ers_webhooks.replies == ["1"]
