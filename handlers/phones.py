"""Phone numbers in logs: every log line shows a number masked (contingency.phones.mask), e.g. +86138****0001."""
from __future__ import annotations

import logging
import re

from contingency.phones import mask

# A number anywhere in free text: "+" or its URL encoding "%2B", then a run of 7 or more digits.
_NUMBER_IN_TEXT = re.compile(r"(\+|%2B)(\d{7,})", re.IGNORECASE)


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
