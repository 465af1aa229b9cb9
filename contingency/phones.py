"""Phone numbers as ERS shows them anywhere outside the SMS itself (logs, reports, consoles): +86138****0001."""
from __future__ import annotations

_MASK = "****"
_TAIL = 4
_MAX_HEAD = 5
_MIN_HIDDEN = 4


def mask(phone: str | None) -> str:
    """Masked form of a phone number: country code and operator prefix, four stars, the last four digits.

    At least four digits are always hidden, so a short number shows less of its head;
    a channel prefix such as "whatsapp:" is kept.
    """
    if not phone:
        return "<none>"
    channel, separator, address = phone.rpartition(":")
    prefix = channel + separator
    plus = "+" if address.startswith("+") else ""
    digits = address[len(plus):]
    if len(digits) < _TAIL + _MIN_HIDDEN:
        return f"{prefix}{plus}{_MASK}{digits[-2:]}" if len(digits) > 2 else f"{prefix}{_MASK}"
    head = min(_MAX_HEAD, len(digits) - _TAIL - _MIN_HIDDEN)
    return f"{prefix}{plus}{digits[:head]}{_MASK}{digits[-_TAIL:]}"


def aliyun_number(e164: str) -> str:
    """How Aliyun's APIs write a number: +8613800000001 -> 13800000001; +85291234567 -> 85291234567."""
    digits = e164.lstrip("+")
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def e164_of(aliyun: str) -> str:
    """What Aliyun reports (11 digits, or with 86 / 0086) as E.164."""
    digits = aliyun.strip().lstrip("+")
    if digits.startswith("0086"):
        digits = digits[4:]
    if len(digits) == 11 and digits.startswith("1"):
        return "+86" + digits
    return "+" + digits
