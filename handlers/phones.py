"""Phone numbers in logs: every log line shows a number masked, e.g. +86138****0001."""
from __future__ import annotations

import logging
import re

_MASK = "****"
_TAIL = 4
_MAX_HEAD = 5
_MIN_HIDDEN = 4
# A number anywhere in free text: "+" or its URL encoding "%2B", then a run of 7 or more digits.
_NUMBER_IN_TEXT = re.compile(r"(\+|%2B)(\d{7,})", re.IGNORECASE)


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


def mask_in_text(text: str | None) -> str:
    """The text with every number in it masked: "+8613800000001", and "%2B8613800000001" in a URL."""
    if not text:
        return ""
    return _NUMBER_IN_TEXT.sub(lambda found: found.group(1) + mask("+" + found.group(2))[1:], text)


class MaskPhonesFilter(logging.Filter):
    """Masks numbers in the records of loggers we do not control (e.g. urllib3 prints request URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_in_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def mask_logger(name: str) -> None:
    """Attach MaskPhonesFilter to the named logger, once."""
    logger = logging.getLogger(name)
    if not any(isinstance(existing, MaskPhonesFilter) for existing in logger.filters):
        logger.addFilter(MaskPhonesFilter())
