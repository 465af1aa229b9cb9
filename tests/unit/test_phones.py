"""Phone numbers are masked for logs: some head, four stars, the last four digits; never too much shown."""
from __future__ import annotations

import logging
import re

import pytest

from contingency.phones import mask
from handlers.phones import MaskPhonesFilter, mask_in_text, mask_logger


@pytest.mark.parametrize(("phone", "masked"), [
    ("+8613800000001", "+86138****0001"),       # China mobile: country code, operator prefix, last four
    ("+15551234567", "+155****4567"),           # shorter numbers show less of the head
    ("+4930123456", "+49****3456"),
    ("+1234567", "+****67"),                    # too short to show a head at all
    ("whatsapp:+8613912345678", "whatsapp:+86139****5678"),
    ("", "<none>"),
    (None, "<none>"),
])
def test_mask(phone: str | None, masked: str) -> None:
    assert mask(phone) == masked


@pytest.mark.parametrize("phone", ["+8613800000001", "+15551234567", "+4930123456", "+1234567", "+123456789012345"])
def test_mask_always_hides_at_least_four_digits(phone: str) -> None:
    shown = re.sub(r"\D", "", mask(phone))
    assert len(re.sub(r"\D", "", phone)) - len(shown) >= 4


def test_mask_in_text_masks_every_number_in_a_provider_message() -> None:
    text = "The 'To' number +8613800000001 is not a valid phone number (from +15005550006)."
    assert mask_in_text(text) == "The 'To' number +86138****0001 is not a valid phone number (from +150****0006)."
    assert mask_in_text(None) == ""


def test_mask_in_text_masks_url_encoded_numbers_and_whole_digit_runs() -> None:
    assert mask_in_text("GET /Messages.json?To=%2B8613800000001&PageSize=50") == \
        "GET /Messages.json?To=%2B86138****0001&PageSize=50"
    assert mask_in_text("Invalid 'To' Phone Number: +86138000000011234") == \
        "Invalid 'To' Phone Number: +86138****1234"


def test_the_filter_masks_records_of_loggers_we_do_not_control(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.phones.third_party")
    mask_logger(logger.name)
    mask_logger(logger.name)
    assert sum(isinstance(f, MaskPhonesFilter) for f in logger.filters) == 1
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        logger.debug('"%s %s" %s', "GET", "/Messages.json?To=%2B8613800000001", 200)
    assert caplog.records[-1].getMessage() == '"GET /Messages.json?To=%2B86138****0001" 200'
