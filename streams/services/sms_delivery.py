"""Delivering a notification by SMS as nearly exactly once as we can: `deliver`, over the outbox (the database record
of sends, handlers/sms_outbox.py) and an SMS gateway (handlers/sms_gateway.py, Twilio).

How `deliver` avoids sending twice:
- Before any API call the notification id is claimed (a row in sms_outbox, state "claimed"). A row that
  is already sent, delivered, undelivered or failed is never sent again: the call returns "skipped".
- A row found "claimed" with no provider sid means an earlier run stopped between the claim and
  mark_sent: before, during or after the API call. `deliver` then asks the provider first (`find_sent`:
  Twilio, an outbound message to the same number with the same body, created since the claim; Aliyun, a
  message to the same number with the notification's OutId, sent since the claim's day) and only
  sends if there is none.
- A retryable error that may come after Twilio created the message (a read timeout, a dropped
  connection, a 500) triggers the same look-up before the next attempt; a 429 or 503 does not.

What can still go wrong, honestly:
- Twilio's message list may lag behind a creation by a moment; a look-up in that moment misses the
  message and it is sent again. The look-up also misses a message whose body Twilio changed (trial
  accounts prefix it) or that is older than the `find_sent` limit allows.
- Two live workers holding the same notification at once (a zombie consumer after a rebalance) look
  the same as one crashed worker: both can reconcile, find nothing, and send.
- When the retries end after a may-have-been-sent error, the row is marked failed although a message
  may have gone out; its status callbacks then name a sid this table does not know.
- A status callback that arrives before mark_sent commits names an unknown sid too; record_status
  returns None for it.
- "failed" is final for a notification id: a new attempt needs a new notification.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from contingency.phones import mask
from handlers.sms_errors import PermanentSmsError, RetryableSmsError, RetryPolicy, SentMessage
from handlers.sms_outbox import OutboxState, SmsOutbox
from schemas.notifications import Notification

log = logging.getLogger("ers.sms")


class SmsGateway(Protocol):
    def send(self, notification: Notification, status_callback_url: str | None = None) -> SentMessage: ...

    def find_sent(self, notification: Notification, since: datetime) -> SentMessage | None: ...


@dataclass(frozen=True)
class DeliveryResult:
    notification_id: str
    outcome: Literal["sent", "reconciled", "skipped", "failed"]
    state: OutboxState
    provider_sid: str | None = None
    tries: int = 0
    error: str | None = None


def deliver(outbox: SmsOutbox, gateway: SmsGateway, notification: Notification, status_callback_url: str | None,
            clock: Callable[[], datetime], *, policy: RetryPolicy = RetryPolicy(),
            sleep: Callable[[float], None] = time.sleep, only_if_new: bool = False) -> DeliveryResult:
    """Send `notification` unless it was sent before; see the module docstring for what that guarantees.
    `clock` dates what is written (the worker's clock: virtual in a drill). `only_if_new`: leave it alone unless
    this call is the first to claim it (another sender may be at work)."""
    claim = outbox.claim(notification, clock())
    nid, to = claim.notification_id, notification.to
    if only_if_new and not claim.is_new:
        return DeliveryResult(nid, "skipped", claim.state, claim.provider_sid)
    if claim.already_done:
        log.info("notification %s to %s not sent again: %s", nid, mask(to), claim.state)
        return DeliveryResult(nid, "skipped", claim.state, claim.provider_sid)

    look_first = claim.needs_reconcile
    tries = 0
    while True:
        tries += 1
        try:
            if look_first:
                found = gateway.find_sent(notification, claim.claimed_at)
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
            delay = policy.next_delay(tries, exc.retry_after)
            if delay is None:
                error = f"gave up after {tries} tries: {exc.reason}"
                outbox.mark_failed(nid, error, clock())
                log.error("notification %s to %s failed: %s", nid, mask(to), error)
                return DeliveryResult(nid, "failed", "failed", None, tries, error)
            log.info("notification %s to %s: try %d failed (%s), next in %.1f s", nid, mask(to), tries,
                     exc.reason, delay)
            sleep(delay)
            continue
        outbox.mark_sent(nid, sent.sid, sent.num_segments, clock())
        return DeliveryResult(nid, "sent", "sent", sent.sid, tries)

