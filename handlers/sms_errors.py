"""What every SMS provider's adapter returns and raises (handlers/sms_gateway.py: Twilio; handlers/aliyun_sms.py:
Aliyun), and the retry policy the delivery service applies to both."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SentMessage:
    sid: str
    status: str
    num_segments: int


class SmsError(Exception):
    pass


class RetryableSmsError(SmsError):
    """Worth trying again later: 5xx, 429, timeouts, connection errors.

    `retry_after`: seconds the provider asked us to wait (Retry-After), if it said.
    `maybe_sent`: the request may have reached the provider and created the message (a timeout after sending,
    a 500), so a careful caller looks for it (`find_sent`) before sending again.
    `limited`: the provider's rate limit for the number or the account (Twilio 429, Aliyun flow control): the
    message was surely not sent, and another channel may reach the person sooner.
    """

    def __init__(self, retry_after: float | None = None, reason: str = "", *, maybe_sent: bool = False,
                 limited: bool = False) -> None:
        super().__init__(reason or "temporary SMS failure")
        self.retry_after = retry_after
        self.reason = reason
        self.limited = limited
        self.maybe_sent = maybe_sent


class PermanentSmsError(SmsError):
    """Sending this message again will not help (4xx other than 429): bad number, bad credentials, ..."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class RetryPolicy:
    """Deterministic capped exponential backoff: base, base*factor, base*factor^2, ... capped at max_delay; a
    provider's Retry-After is used as it is (up to max_retry_after).

    A page is never given up on: after the first `inline_attempts` quick tries (a blip) it waits in the outbox
    for its next try while the dispatcher goes on with other pages. Only where nothing would come back for it (a
    drill's virtual clock) does `max_attempts` end the tries.
    """

    inline_attempts: int = 2       # the dispatcher sends one page at a time: in an outage each costs this
    inline_max_delay: float = 1.0
    base_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    max_retry_after: float = 600.0
    max_attempts: int = 5

    def next_delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        if retry_after is not None:
            return min(max(0.0, retry_after), self.max_retry_after)
        return min(self.max_delay, self.base_delay * self.factor ** (min(attempt, 64) - 1))

    def retry_inline(self, attempt: int, delay: float) -> bool:
        """Whether to wait and try again at once (a blip) rather than defer the page."""
        return attempt < self.inline_attempts and delay <= self.inline_max_delay
