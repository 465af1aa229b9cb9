"""The two records an accepted packet makes, its raw archive entry (StationPacket) and its reading (StationReport),
written straight as the bytes `schemas.encode` gives for the validated model.

Reading CP item by item, validating five pydantic models and serialising two took about 35 of the 75 us a packet
cost the gateway in process, for values the packet parser had checked already. So per station link the models are
built and serialised once, with placeholder values, and their JSON is cut into templates around the placeholders;
a packet's record is the template with its own values put in: a random event id (raw) or the one derived from MN,
CN and DataTime (reading), the frame, the peer, the times, and each measurement (a template per parameter, unit and
data flag, around the value). What the models would check is checked once per template (the station id, units,
the drill id) or is already true of a parsed packet (a finite value, an aware time). A station writes its CP the
same way every time, so its form is learnt from the first one and the next are read in one match.

Whatever is not of the usual shape (an unusual item in CP, a duplicate, a flag outside the edition's table, a
frame with characters JSON escapes, a clock that is not UTC, a plan entry the models refuse) goes the general
way, through `read_upload`, `to_report` and the models, with the same result or the same error as before.
tests/unit/handlers/test_hj212_records.py checks that both ways give the same bytes and that the models read them.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import os
import re
import uuid
from dataclasses import dataclass

from pydantic_core import to_json

from contingency.hj212 import FactorTable, StationLink
from contingency.ids import NAMESPACE
from handlers.hj212.codes import DATA_FLAGS_2005, DATA_FLAGS_2017
from handlers.hj212.packet import Packet, Version
from handlers.hj212.readings import to_report
from handlers.hj212.uploads import CHINA, UPLOAD_COMMANDS, VALUE_FIELDS, UploadKind, parse_data_time, read_upload
from schemas import Measurement, QualityFlag, StationPacket, StationReport, encode

Record = tuple[bytes, bytes]  # (key, value)

_UTC = dt.timezone.utc
_DATETIME = dt.datetime
_ZERO_ID = uuid.UUID(int=0)
_VALUE_FIELDS = frozenset(VALUE_FIELDS)
_ITEM_OF = {cn: "Rtd" if kind is UploadKind.REALTIME else "Avg" for cn, kind in UPLOAD_COMMANDS.items()}
# Frame bytes JSON writes as they are: printable ASCII but the quote and the backslash.
_PLAIN = bytes(set(range(0x20, 0x7F)) - {ord('"'), ord("\\")})
_isfinite = math.isfinite
_sha1 = hashlib.sha1
_urandom = os.urandom
_NAMESPACE = NAMESPACE.bytes


class NotUsual(Exception):
    """The packet is not of the shape the templates are for: the general path reads it."""


@dataclass(frozen=True)
class _Form:
    """How one station writes CP for one CN: a pattern of its names and separators, and what its groups are."""
    pattern: re.Pattern[str]
    data_time: int                           # the group of DataTime
    # per measured factor, in order: group of its value, of its flag (-1: none), text before the value, and after it
    # by edition and flag
    measurements: tuple[tuple[int, int, str, dict[Version, dict[str | None, str]]], ...]
    unknown: tuple[str, ...]                 # codes neither the plan nor the table knows


_SEPARATOR = re.compile(r"([;,])")
_DATA_TIME = r"\d{14}"
_NUMBER = r"-?\d{1,15}(?:\.\d{1,15})?"  # what float() reads as a finite number, in at most 32 characters
_LETTER = "[A-Za-z]"


# -- values as pydantic writes them ------------------------------------------------------------------------------
def json_float(value: float) -> str:
    """A finite float as pydantic writes it. Without an exponent Python's repr is the same shortest text; with one
    they differ (1e-05 is 0.00001 for pydantic, 1e-07 is 1e-7), and pydantic writes it."""
    text = repr(value)
    return text if "e" not in text else to_json(value).decode()


def utc_time_json(when: dt.datetime) -> str | None:
    """An aware UTC time as pydantic writes it ("...Z"), or None for any other time (then the model writes it)."""
    if when.__class__ is not _DATETIME or when.tzinfo is not _UTC:
        return None
    return f'"{when.isoformat()[:-6]}Z"'


@functools.lru_cache(maxsize=4096)
def china_time_json(data_time: str) -> str:
    """DataTime (China time) as pydantic writes the aware time it is; PacketError for a DataTime that is not one.
    Stations report at the same whole minutes, so the few texts of the moment are kept."""
    return to_json(parse_data_time(data_time)).decode()


# RFC 4122 variant (the two high bits of hex digit 16 are 10) and version (hex digit 12), as uuid.UUID(...,
# version=N) sets them, on the hex text.
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _uuid_text(hexed: str, version: str) -> str:
    return f"{hexed[:8]}-{hexed[8:12]}-{version}{hexed[13:16]}-{_VARIANT_DIGIT[hexed[16]]}{hexed[17:20]}-{hexed[20:32]}"


_pool, _pool_at = b"", 0  # random bytes from the OS, drawn 4 kB at a time


def _forget_pool() -> None:
    global _pool, _pool_at
    _pool, _pool_at = b"", 0


os.register_at_fork(after_in_child=_forget_pool)  # a forked child must not draw the parent's ids again


def random_event_id() -> str:
    """uuid.uuid4() as text (the events' default id: 122 random bits from os.urandom), without a UUID object."""
    global _pool, _pool_at
    at = _pool_at
    if at + 16 > len(_pool):
        _pool, at = _urandom(4096), 0
    _pool_at = at + 16
    return _uuid_text(_pool[at:at + 16].hex(), "4")


def reading_event_id(mn: str, cn: str, data_time: str) -> str:
    """contingency.ids.hj212_reading_id(mn, cn, data_time) as text: uuid5 of the same name in the same namespace."""
    return _uuid_text(_sha1(_NAMESPACE + f"hj212|{mn}|{cn}|{data_time}".encode()).hexdigest(), "5")


def _cut(text: str, *placeholders: str) -> tuple[str, ...] | None:
    """`text` cut around each placeholder in turn; None unless each occurs exactly once, in this order."""
    pieces, rest = [], text
    for placeholder in placeholders:
        if rest.count(placeholder) != 1:
            return None
        before, _, rest = rest.partition(placeholder)
        pieces.append(before)
    return (*pieces, rest)


# -- per station -------------------------------------------------------------------------------------------------
class StationRecords:
    """A station link's record templates. `raw` and `reading` give exactly the bytes of the validated models,
    through the templates when the packet is of the usual shape, through the models otherwise."""

    def __init__(self, link: StationLink, table: FactorTable, drill_id: str | None = None) -> None:
        self.link, self._table, self._drill_id = link, table, drill_id
        self.raw_key, self.reading_key = link.mn.encode(), link.station_id.encode()
        self._raw_templates: dict[tuple[str, str], tuple[bytes, ...] | None] = {}
        self._reading_template = self._make_reading_template()
        self._reporting = frozenset(cn for cn, kind in UPLOAD_COMMANDS.items() if kind.value in link.readings_from)
        # factor code -> (text before the value, {edition: {data flag or None: text after the value}})
        self._measurements: dict[str, tuple[str, dict[Version, dict[str | None, str]]]] = {}
        self._forms: dict[str, list[_Form]] = {}                 # CN -> the CP forms seen lately, newest first
        self._known_forms: dict[tuple[str, tuple[str, ...]], _Form] = {}
        for code, parameter in link.codes.items():
            unit = link.units.get(parameter)
            fragments = None if unit is None else measurement_template(parameter, unit)
            if fragments is not None:
                self._measurements[code] = fragments

    # The raw archive ---------------------------------------------------------------------------------------------
    def raw(self, packet: Packet, frame_raw: bytes, peer: str, peer_json: bytes, received_at: dt.datetime) -> bytes:
        """The StationPacket record's value for an accepted frame (`peer_json`: the peer as JSON, `to_json(peer)`)."""
        key = (packet.cn, packet.version.value)
        template = self._raw_templates.get(key, False)
        if template is False:
            template = self._make_raw_template(packet)
            if len(self._raw_templates) < 64:  # a station uses a few commands; any number could be sent
                self._raw_templates[key] = template
        body = frame_raw[:-2]  # without the CRLF; the model's rstrip("\r\n") takes no more when the rest is plain
        at = utc_time_json(received_at)
        if (template is None or at is None or frame_raw[-2:] != b"\r\n" or not 0 < len(body) <= 2048
                or body.translate(None, _PLAIN)):
            return encode(self.raw_model(packet, frame_raw, peer, received_at))
        a, b, c, d, e = template
        return b"".join((a, random_event_id().encode(), b, body, c, peer_json, d, at.encode(), e))

    def raw_model(self, packet: Packet, frame_raw: bytes, peer: str, received_at: dt.datetime,
                  event_id: uuid.UUID | None = None) -> StationPacket:
        """The record as the model (the general path; tests compare)."""
        fields = {} if event_id is None else {"event_id": event_id}
        return StationPacket(mn=self.link.mn, station_id=self.link.station_id, cn=packet.cn,
                             version=packet.version.value, packet=frame_raw.decode("ascii").rstrip("\r\n"), peer=peer,
                             received_at=received_at, drill_id=self._drill_id, **fields)

    def _make_raw_template(self, packet: Packet) -> tuple[bytes, ...] | None:
        try:
            model = StationPacket(event_id=_ZERO_ID, mn=self.link.mn, station_id=self.link.station_id, cn=packet.cn,
                                  version=packet.version.value, packet="\x00", peer="\x01",
                                  received_at=_DATETIME(2000, 1, 1, tzinfo=_UTC), drill_id=self._drill_id)
        except ValueError:  # the model refuses this station, CN or drill id: the general path says so
            return None
        # {..."event_id":"<id>","type":...,"packet":"<frame>","peer":<peer>,"received_at":<time>,...}
        pieces = _cut(encode(model).decode(), str(_ZERO_ID), "\\u0000", '"\\u0001"',
                      utc_time_json(model.received_at) or "?")
        return None if pieces is None else tuple(piece.encode() for piece in pieces)

    # The reading -------------------------------------------------------------------------------------------------
    def reading(self, packet: Packet) -> tuple[bytes | None, tuple[str, ...]]:
        """For a (whole) upload: the StationReport record's value (None: nothing to report) and the factor codes
        neither the plan nor the table knows. PacketError as read_upload and to_report raise it."""
        try:
            return self.usual_reading(packet)
        except NotUsual:
            pass
        translation = to_report(read_upload(packet), self.link, self._table, self._drill_id)
        return (None if translation.report is None else encode(translation.report)), translation.unknown_codes

    def usual_reading(self, packet: Packet) -> tuple[bytes | None, tuple[str, ...]]:
        """`reading` for an upload of the usual shape; NotUsual for any other. A station writes its CP the same way
        every time but for the values, so once one has been read, its form (the names and separators, with a
        pattern for each value) is kept per CN and the next ones are read in one match."""
        forms = self._forms.get(packet.cn)
        if forms:
            cp = packet.cp
            for form in forms:
                match = form.pattern.fullmatch(cp)
                if match is not None:
                    return self._reading_of_form(packet, form, match.groups())
        return self._read_cp(packet)

    def _reading_of_form(self, packet: Packet, form: _Form, values: tuple[str, ...]) -> tuple[bytes | None,
                                                                                             tuple[str, ...]]:
        """What _read_cp gives for a CP its form matches: the form fixes every name (so no duplicates, the unknown
        codes, which factors are measured) and its patterns take only numbers and flags _read_cp accepts; what
        depends on the values is checked here as there."""
        data_time = values[form.data_time]
        try:
            observed_at = china_time_json(data_time)
        except ValueError:
            raise NotUsual from None
        measurements = []
        for value_at, flag_at, prefix, tails in form.measurements:
            tail = tails[packet.version].get(None if flag_at < 0 else values[flag_at])
            if tail is None:
                raise NotUsual  # not a data flag of the edition: the general path refuses it
            measurements.append(f"{prefix}{json_float(float(values[value_at]))}{tail}")
        return self._report(packet, data_time, observed_at, measurements), form.unknown

    def _read_cp(self, packet: Packet) -> tuple[bytes | None, tuple[str, ...]]:
        """Reads CP as read_upload does (groups split at ";", items at ","; empty items skipped; `code-item=value`;
        DataTime), and takes only what read_upload and to_report accept without a word: no name given twice
        (anywhere in CP), one DataTime, no item that is not a factor's, values that are finite numbers of up to 32
        characters, one-letter flags of the edition's table. Learns the CP's form."""
        item_of = _ITEM_OF.get(packet.cn)
        if item_of is None:
            raise NotUsual
        data_time: str | None = None
        factors: dict[str, dict[str, object]] = {}
        for entry in packet.cp.replace(";", ",").split(","):
            if not entry:
                continue
            name, eq, text = entry.partition("=")
            code, dash, item = name.partition("-")
            if not eq or not dash:
                if eq and name == "DataTime" and data_time is None:
                    data_time = text
                    continue
                raise NotUsual
            items = factors.get(code)
            if items is None:
                items = factors[code] = {}
            elif item in items:
                raise NotUsual
            if item in _VALUE_FIELDS:
                if not text or len(text) > 32:
                    raise NotUsual
                try:
                    value = float(text)
                except ValueError:
                    raise NotUsual from None
                if not _isfinite(value):
                    raise NotUsual
                items[item] = value
            elif item == "Flag" and (len(text) != 1 or not text.isalpha()):
                raise NotUsual
            else:
                items[item] = text
        if data_time is None:
            raise NotUsual
        try:
            observed_at = china_time_json(data_time)
        except ValueError:
            raise NotUsual from None
        measurements, unknown, measured = [], [], []
        for code, items in factors.items():
            fragments = self._measurements.get(code)
            if fragments is None:
                if code in self.link.codes:
                    raise NotUsual  # a plan entry the model refuses: the general path raises as it always did
                if not self._table.knows(code):
                    unknown.append(code)
                continue
            value = items.get(item_of)
            if value is None:
                continue  # no value of the kind the rules judge: to_report notes it
            tail = fragments[1][packet.version].get(items.get("Flag"))  # type: ignore[arg-type]
            if tail is None:
                raise NotUsual  # not a data flag of the edition: the general path refuses it
            measurements.append(f"{fragments[0]}{json_float(value)}{tail}")  # type: ignore[arg-type]
            measured.append(code)
        report = self._report(packet, data_time, observed_at, measurements)
        self._learn(packet, item_of, measured, tuple(unknown))
        return report, tuple(unknown)

    def _report(self, packet: Packet, data_time: str, observed_at: str, measurements: list[str]) -> bytes | None:
        if not measurements or packet.cn not in self._reporting:
            return None
        if self._reading_template is None:
            raise NotUsual
        a, b, c, d = self._reading_template
        event_id = reading_event_id(self.link.mn, packet.cn, data_time)
        return f"{a}{event_id}{b}{observed_at}{c}{','.join(measurements)}{d}".encode()

    def _learn(self, packet: Packet, item_of: str, measured: list[str], unknown: tuple[str, ...]) -> None:
        """Keeps the form of a CP _read_cp accepted: its names and separators as they are; DataTime, the measured
        values and their flags as groups; the other values and flags as patterns that take only what _read_cp
        accepts (so a CP the form matches is one _read_cp accepts, but for what _reading_of_form checks)."""
        parts = _SEPARATOR.split(packet.cp)  # item, separator, item, ..., item
        if not all(parts[0::2]):
            return  # empty items: left to _read_cp
        key = (packet.cn, tuple(part if index % 2 else part.partition("=")[0] for index, part in enumerate(parts)))
        if key in self._known_forms or len(self._known_forms) >= 16:
            return  # a form whose pattern did not take these values (an exponent, say), or too many forms
        pattern: list[str] = []
        time_at, values_at, flags_at = -1, {}, {}  # group numbers (from 0) of DataTime, measured values and flags
        groups = 0
        for index, part in enumerate(parts):
            if index % 2:
                pattern.append(re.escape(part))
                continue
            name = part.partition("=")[0]
            code, _, item = name.partition("-")
            if name == "DataTime":
                value, time_at = f"({_DATA_TIME})", groups
            elif item in _VALUE_FIELDS:
                value = _NUMBER
                if item == item_of and code in measured:
                    value, values_at[code] = f"({_NUMBER})", groups
            elif item == "Flag":
                value = _LETTER
                if code in measured:
                    value, flags_at[code] = f"({_LETTER})", groups
            else:
                value = "[^;,]*"
            groups += value.startswith("(")
            pattern.append(f"{re.escape(name)}={value}")
        form = _Form(re.compile("".join(pattern), re.ASCII), time_at,
                     tuple((values_at[code], flags_at.get(code, -1), *self._measurements[code]) for code in measured),
                     unknown)
        self._known_forms[key] = form
        forms = self._forms.setdefault(packet.cn, [])
        forms.insert(0, form)
        del forms[4:]

    def _make_reading_template(self) -> tuple[str, ...] | None:
        sample = Measurement(parameter="p", value=0.5, unit="u")
        try:
            model = StationReport(event_id=_ZERO_ID, station_id=self.link.station_id,
                                  observed_at=_DATETIME(2000, 1, 1, tzinfo=CHINA), measurements=[sample],
                                  drill_id=self._drill_id)
        except ValueError:
            return None
        # {..."event_id":"<id>",...,"observed_at":<time>,"measurements":[<measurements>],...}
        return _cut(encode(model).decode(), str(_ZERO_ID), china_time_json("20000101000000"), encode(sample).decode())


@functools.lru_cache(maxsize=1024)
def measurement_template(parameter: str, unit: str) -> tuple[str, dict[Version, dict[str | None, str]]] | None:
    """A measurement's JSON before its value, and after it by edition and data flag (None: no flag, normal);
    None when the model refuses the parameter or unit. Shared by the stations that measure the same parameter in
    the same unit."""
    tails: dict[QualityFlag, str] = {}
    head = None
    for flag in QualityFlag:
        try:
            model = Measurement(parameter=parameter, value=0.5, unit=unit, flag=flag)
        except ValueError:
            return None
        pieces = _cut(encode(model).decode(), '"value":0.5')
        if pieces is None or head not in (None, pieces[0]):
            return None
        head, tails[flag] = pieces
    by_edition = {}
    for version, table in ((Version.HJ212_2017, DATA_FLAGS_2017), (Version.HJ212_2005, DATA_FLAGS_2005)):
        by_edition[version] = {**{letter: tails[flag] for letter, flag in table.items()},
                               None: tails[QualityFlag.NORMAL]}
    return f'{head}"value":', by_edition
