"""Deterministic ids: the same input events always give the same detection and incident ids (uuid5),
so a replayed report produces identical events downstream."""
from __future__ import annotations

import uuid

NAMESPACE = uuid.UUID("5f0c7a52-6a0e-5b7e-9d1e-1c3e5e0a3e12")  # fixed forever: changing it changes every id
CODE_ALPHABET = "ACDEFHJKMNPQRTUVWXY3479"  # no 0/O, 1/I/L, 2/Z, 5/S, 6/G, 8/B: read aloud or typed in an SMS
CODE_LENGTH = 3


def derive(*parts: object) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "|".join(str(part) for part in parts))


def code_candidates(incident_id: uuid.UUID):
    """Codes to try in order; the first not used by an open incident is taken."""
    attempt = 0
    while True:
        number = (incident_id if attempt == 0 else uuid.uuid5(incident_id, f"code:{attempt}")).int
        letters = []
        for _ in range(CODE_LENGTH):
            number, digit = divmod(number, len(CODE_ALPHABET))
            letters.append(CODE_ALPHABET[digit])
        yield "".join(letters)
        attempt += 1


EXTENSION_DIGITS = 5  # 23**3 = 12167 codes: five digits


def extension_of(code: str) -> str | None:
    """The SMS extension (Aliyun's SmsUpExtendCode) that stands for an incident code: a reply sent to it comes back
    with it, so a bare "1" can be tied to that incident. None for a string that is not an incident code."""
    number = 0
    for letter in reversed(code.upper()):
        if letter not in CODE_ALPHABET:
            return None
        number = number * len(CODE_ALPHABET) + CODE_ALPHABET.index(letter)
    return f"{number:0{EXTENSION_DIGITS}d}" if len(code) == CODE_LENGTH else None


def code_of_extension(extension: str) -> str | None:
    """The incident code an extension stands for, or None."""
    if len(extension) != EXTENSION_DIGITS or not extension.isdigit():
        return None
    number = int(extension)
    if number >= len(CODE_ALPHABET) ** CODE_LENGTH:
        return None
    letters = []
    for _ in range(CODE_LENGTH):
        number, digit = divmod(number, len(CODE_ALPHABET))
        letters.append(CODE_ALPHABET[digit])
    return "".join(letters)


def receipt_id(notification_id: uuid.UUID, source: str, status: str) -> uuid.UUID:
    """The event id of a delivery receipt: one per notification, reporter ("dispatch", "twilio") and status, so a
    receipt reported again is the same event."""
    return uuid.uuid5(notification_id, f"{source}:{status}")


def hj212_reading_id(mn: str, cn: str, data_time: str) -> uuid.UUID:
    """The event id of a reading from an HJ 212 upload: a station resending a packet that got no answer yields the
    same reading, which the rules stage drops as already seen."""
    return derive("hj212", mn, cn, data_time)
