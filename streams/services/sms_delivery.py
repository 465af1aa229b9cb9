"""Delivering a notification by SMS as nearly exactly once as we can: `deliver`, over the outbox (the database record
of sends, handlers/sms_outbox.py) and an SMS gateway (handlers/sms_gateway.py, Twilio).

How `deliver` avoids sending twice:
- Before any API call the notification id is claimed (a row in sms_outbox, state "claimed"). A row that
  is already sent, delivered, undelivered or failed is never sent again: the call returns "skipped".
- A new claim is leased to its sender for CLAIM_LEASE (`retry_at`): a redelivered notification, the sweep or
  another worker's dispatcher find it "waiting" and leave it alone, so two senders never race on one page. A
  worker restarted after a crash takes its own predecessor's unfinished claims over at once (`predecessor_of`).
- A row still "claimed" with no provider sid after its lease means its sender stopped between the claim and
  mark_sent: before, during or after the API call. The retry loop then takes it and asks the provider first
  (`find_sent`: Twilio, an outbound message to the same number with the same body, created since the claim and
  not already recorded for another notification; Aliyun, a message to the same number with the notification's
  OutId, sent since the claim's day) and only sends if there is none.
- A retryable error that may come after Twilio created the message (a read timeout, a dropped
  connection, a 500) triggers the same look-up before the next attempt; a 429 or 503 does not.

How a page survives a provider outage or rate limit: after a few quick tries (RetryPolicy) `deliver` defers it:
the row stays claimed with `retry_at` and the notification itself, the call returns "deferred", and the
dispatcher goes on. `retry_due` (a timer on every worker) takes due rows one at a time (a lease on
`retry_at`) and delivers them, looking for an earlier send first. Whoever sends, a notification that `superseded`
says is no longer worth sending (its incidents were resolved after it was made) is dropped with the reason. A deferred row met again by the dispatcher (a redelivered notification) is left to the
retry loop.

What can still go wrong, honestly:
- Twilio's message list may lag behind a creation by a moment; a look-up in that moment misses the
  message and it is sent again. The look-up also misses a message whose body Twilio changed (trial
  accounts prefix it) or that is older than the `find_sent` limit allows.
- Two live workers holding the same notification at once (a zombie consumer after a rebalance) look
  the same as one crashed worker: both can reconcile, find nothing, and send.
- In a drill (virtual clock, no retry loop) the tries end after RetryPolicy.max_attempts and the row is
  marked failed, although after a may-have-been-sent error a message may have gone out.
- A status callback that arrives before mark_sent commits names an unknown sid too; record_status
  returns None for it.
- "failed" is final for a notification id: a new attempt needs a new notification.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from contingency.phones import mask
from handlers.sms_errors import PermanentSmsError, RetryableSmsError, RetryPolicy, SentMessage
from handlers.sms_outbox import ClaimResult, OutboxState, SmsOutbox
from schemas.notifications import Notification

log = logging.getLogger("ers.sms")


class SmsGateway(Protocol):
    def send(self, notification: Notification, status_callback_url: str | None = None) -> SentMessage: ...

    def find_sent(self, notification: Notification, since: datetime,
                  taken: Callable[[str], bool] = ...) -> SentMessage | None: ...


# A sender holds a new claim this long (`retry_at`): a redelivered notification, the sweep or another worker's
# dispatcher leave it alone meanwhile, and if the sender dies before recording what happened, the retry loop
# takes the row after it, asking the provider first. Longer than any send with its quick retries takes.
CLAIM_LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class DeliveryResult:
    notification_id: str
    outcome: Literal["sent", "reconciled", "skipped", "failed", "deferred", "superseded"]
    state: OutboxState
    provider_sid: str | None = None
    tries: int = 0
    error: str | None = None
    retry_at: datetime | None = None


def deliver(outbox: SmsOutbox, gateway: SmsGateway, notification: Notification, status_callback_url: str | None,
            clock: Callable[[], datetime], *, policy: RetryPolicy = RetryPolicy(),
            sleep: Callable[[float], None] = time.sleep, only_if_new: bool = False, can_defer: bool = True,
            retrying: bool = False, superseded: Callable[[Notification], str | None] = lambda n: None,
            sender: str | None = None) -> DeliveryResult:
    """Send `notification` unless it was sent before; see the module docstring for what that guarantees.
    `clock` dates what is written (the worker's clock: virtual in a drill). `only_if_new`: leave it alone unless
    this call is the first to claim it (another sender may be at work). `can_defer`: a retry loop will come back
    for a deferred page (False in drills: the tries end instead). `retrying`: called by that loop, which holds
    the row's lease. `superseded`: why the notification is no longer worth sending, if it is not."""
    now = clock()
    # Only on the wall clock does a retry loop take over a claim whose sender died (drills have none).
    claim = outbox.claim(notification, now, now + CLAIM_LEASE if can_defer else None, sender)
    nid, to = claim.notification_id, notification.to
    if only_if_new and not claim.is_new:
        return DeliveryResult(nid, "skipped", claim.state, claim.provider_sid)
    if claim.already_done:
        log.info("notification %s to %s not sent again: %s", nid, mask(to), claim.state)
        return DeliveryResult(nid, "skipped", claim.state, claim.provider_sid)
    if claim.waiting and not retrying:
        if not (predecessor_of(sender, claim) and claim.claimed_by is not None
                and outbox.take_over(nid, claim.claimed_by, sender or "", now + CLAIM_LEASE, now)):
            return DeliveryResult(nid, "skipped", claim.state, retry_at=claim.retry_at)
        log.info("notification %s to %s: taking over the unfinished send of %s, which died", nid, mask(to),
                 claim.claimed_by)
    reason = superseded(notification)
    if reason is not None:
        outbox.mark_superseded(nid, reason, clock())
        log.info("notification %s to %s superseded: %s", nid, mask(to), reason)
        return DeliveryResult(nid, "superseded", "superseded", error=reason)

    look_first = claim.needs_reconcile
    tries = 0
    attempts_before = claim.attempts
    while True:
        tries += 1
        try:
            if look_first:
                found = gateway.find_sent(notification, claim.claimed_at, outbox.knows_sid)
                if found is not None:
                    outbox.mark_sent(nid, found.sid, found.num_segments, clock())
                    log.info("notification %s to %s was already sent as %s", nid, mask(to), found.sid)
                    return DeliveryResult(nid, "reconciled", "sent", found.sid, tries)
                look_first = False
            outbox.note_attempt(nid, clock())
            sent = gateway.send(notification, status_callback_url)
        except PermanentSmsError as exc:
            outbox.mark_failed(nid, str(exc), clock())
            log.error("notification %s to %s failed: %s", nid, mask(to), exc)
            return DeliveryResult(nid, "failed", "failed", None, tries, str(exc))
        except RetryableSmsError as exc:
            look_first = look_first or exc.maybe_sent
            attempt = attempts_before + tries
            delay = policy.next_delay(attempt, exc.retry_after)
            if policy.retry_inline(tries, delay) or (not can_defer and tries < policy.max_attempts):
                log.info("notification %s to %s: try %d failed (%s), next in %.1f s", nid, mask(to), attempt,
                         exc.reason, delay)
                sleep(delay)
                continue
            if not can_defer:
                error = f"gave up after {tries} tries: {exc.reason}"
                outbox.mark_failed(nid, error, clock())
                log.error("notification %s to %s failed: %s", nid, mask(to), error)
                return DeliveryResult(nid, "failed", "failed", None, tries, error)
            retry_at = clock() + timedelta(seconds=delay)
            reason = f"{'rate limited' if exc.limited else 'provider unavailable'}: {exc.reason}"
            outbox.defer(notification, retry_at, reason, clock())
            log.warning("notification %s to %s waits for the provider (%s, %d tries so far); next try at %s",
                        nid, mask(to), reason, attempt, retry_at.isoformat(timespec="seconds"))
            return DeliveryResult(nid, "deferred", "claimed", None, tries, reason, retry_at)
        outbox.mark_sent(nid, sent.sid, sent.num_segments, clock())
        return DeliveryResult(nid, "sent", "sent", sent.sid, tries)


def predecessor_of(sender: str | None, claim: ClaimResult) -> bool:
    """Whether `claim` is an unfinished send of this worker's previous process, which is dead: a sender is
    "<slot>#<process>", and a slot (the worker's group member and web port on its host) has one live process at
    most. Its sends are taken over at once after a restart; anyone else's wait for their lease to end."""
    if sender is None or claim.claimed_by is None or claim.deferred or claim.claimed_by == sender:
        return False
    return claim.claimed_by.partition("#")[0] == sender.partition("#")[0]


def retry_due(outbox: SmsOutbox, gateway: SmsGateway, status_callback_url: str | None, now: datetime,
              superseded: Callable[[Notification], str | None], *, lease: timedelta = timedelta(minutes=2),
              policy: RetryPolicy = RetryPolicy(), limit: int = 100) -> list[tuple[Notification, DeliveryResult]]:
    """Try again every waiting page whose time has come (see the module docstring); what happened to each."""
    results = []
    for record in outbox.due(now, limit):
        if record.payload is None or not outbox.lease(record, now + lease, now):
            continue  # taken by another worker (or a row from before payloads were kept: the sweep has it)
        notification = Notification.model_validate_json(record.payload)
        try:
            results.append((notification, deliver(outbox, gateway, notification, status_callback_url, lambda: now,
                                                  policy=policy, retrying=True, superseded=superseded)))
        except Exception:  # this row waits for its lease to end; the others are tried now
            log.exception("retrying notification %s to %s failed", record.notification_id, mask(record.to_phone))
    return results
