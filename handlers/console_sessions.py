"""Console sessions and CSRF tokens, signed (HMAC-SHA256) rather than stored, so any number of `ers web` processes
sharing ERS_CONSOLE_SECRET serve the same sessions. A session names the user, when it began, and when their
password last changed: a new password ends every older session. Time is passed in."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets as _secrets
from dataclasses import dataclass

SESSION_HOURS = 12  # one duty shift and its handover


@dataclass(frozen=True)
class Session:
    username: str
    issued_at: dt.datetime
    password_changed_at: dt.datetime


class SessionKeys:
    def __init__(self, secret: str | None) -> None:
        self.ephemeral = secret is None
        self._key = (secret or _secrets.token_urlsafe(48)).encode("utf-8")

    def session_token(self, username: str, now: dt.datetime, password_changed_at: dt.datetime) -> str:
        payload = f"{username}|{int(now.timestamp())}|{int(password_changed_at.timestamp())}"
        return _b64(payload.encode("utf-8")) + "." + self._sign("session|" + payload)

    def session(self, token: str | None, now: dt.datetime) -> Session | None:
        """The session a cookie holds, if it is ours, whole and not expired."""
        if not token or token.count(".") != 1:
            return None
        encoded, signature = token.split(".")
        try:
            payload = _unb64(encoded).decode("utf-8")
            username, issued, changed = payload.split("|")
            issued_at = dt.datetime.fromtimestamp(int(issued), dt.timezone.utc)
            changed_at = dt.datetime.fromtimestamp(int(changed), dt.timezone.utc)
        except (ValueError, UnicodeDecodeError):
            return None
        if not hmac.compare_digest(signature, self._sign("session|" + payload)):
            return None
        if not issued_at <= now + dt.timedelta(minutes=1) <= issued_at + dt.timedelta(hours=SESSION_HOURS):
            return None
        return Session(username, issued_at, changed_at)

    def csrf_token(self, binding: str) -> str:
        """The token a form must carry: bound to the session (or, before login, to the login cookie's nonce)."""
        return self._sign("csrf|" + binding)

    def csrf_ok(self, binding: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(binding), token or "")

    def _sign(self, text: str) -> str:
        return _b64(hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).digest())


def new_nonce() -> str:
    return _secrets.token_urlsafe(24)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
