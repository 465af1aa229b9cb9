"""Data uploads: real-time (2011), minute (2051), hourly (2061) and daily (2031) values, read from a packet's CP.

`DataTime` is China time (UTC+8, no daylight saving) and becomes an aware datetime. Split uploads (PNUM/PNO)
are put back together by `Reassembler` before they are read.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from enum import StrEnum

from handlers.hj212.packet import Packet, PacketError, parse_cp

CHINA = dt.timezone(dt.timedelta(hours=8), "UTC+08:00")
VALUE_FIELDS = ("Rtd", "Avg", "Min", "Max", "Cou")
# Per-factor items that are not values: kept in the raw archive, not read.
OTHER_FIELDS = frozenset({"Flag", "EFlag", "SampleTime", "ZsRtd", "ZsAvg", "ZsMin", "ZsMax", "Ala", "UpValue",
                          "LowValue", "Data", "DayData", "NightData"})


class UploadKind(StrEnum):
    REALTIME = "realtime"
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"


UPLOAD_COMMANDS: dict[str, UploadKind] = {"2011": UploadKind.REALTIME, "2051": UploadKind.MINUTE,
                                          "2061": UploadKind.HOUR, "2031": UploadKind.DAY}


@dataclass(frozen=True)
class FactorValues:
    code: str
    values: dict[str, float]
    flag: str | None = None

    def value_for(self, kind: UploadKind) -> float | None:
        """The value rules judge: the real-time value, or an interval's average."""
        return self.values.get("Rtd" if kind is UploadKind.REALTIME else "Avg")


@dataclass(frozen=True)
class Upload:
    packet: Packet
    kind: UploadKind
    data_time: dt.datetime
    factors: tuple[FactorValues, ...] = field(default=())


def is_upload(packet: Packet) -> bool:
    return packet.cn in UPLOAD_COMMANDS


def parse_data_time(text: str) -> dt.datetime:
    if len(text) != 14 or not (text.isascii() and text.isdigit()):
        raise PacketError(f"DataTime {text[:20]!r} is not yyyyMMddHHmmss")
    try:  # by hand: strptime costs a tenth of the gateway's time per packet
        return dt.datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]),
                           int(text[12:]), tzinfo=CHINA)
    except ValueError:
        raise PacketError(f"DataTime {text} is not a real time") from None


def format_data_time(when: dt.datetime) -> str:
    t = when.astimezone(CHINA)
    return f"{t.year:04d}{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}{t.second:02d}"


def read_upload(packet: Packet) -> Upload:
    kind = UPLOAD_COMMANDS.get(packet.cn)
    if kind is None:
        raise PacketError(f"CN {packet.cn} is not a data upload")
    data_times: set[str] = set()
    factors: dict[str, dict[str, str]] = {}
    for group in parse_cp(packet.cp):
        for name, value in group.items():
            if name == "DataTime":
                data_times.add(value)
                continue
            code, dash, item = name.partition("-")
            if not dash:
                continue  # a field of the upload itself, not of a factor
            items = factors.setdefault(code, {})
            if item in items:
                raise PacketError(f"{name} given twice")
            items[item] = value
    if not data_times:
        raise PacketError("no DataTime in CP")
    if len(data_times) > 1:
        raise PacketError(f"parts disagree on DataTime: {sorted(data_times)}")
    data_time = parse_data_time(data_times.pop())
    return Upload(packet, kind, data_time, tuple(_factor(code, items) for code, items in factors.items()))


def _factor(code: str, items: dict[str, str]) -> FactorValues:
    values: dict[str, float] = {}
    for name, text in items.items():
        if name in VALUE_FIELDS:
            values[name] = _number(f"{code}-{name}", text)
    flag = items.get("Flag")
    if flag is not None and (len(flag) != 1 or not flag.isalpha()):
        raise PacketError(f"{code}-Flag {flag[:10]!r} is not a one-letter data flag")
    return FactorValues(code, values, flag)


def _number(name: str, text: str) -> float:
    if not text or len(text) > 32:
        raise PacketError(f"{name} {text[:20]!r} is not a number")
    try:
        value = float(text)
    except ValueError:
        raise PacketError(f"{name} {text[:20]!r} is not a number") from None
    if not math.isfinite(value):  # float() reads "nan" and "inf" too
        raise PacketError(f"{name} {text[:20]!r} is not a finite number")
    return value


class Reassembler:
    """Holds the parts of split uploads (same MN and QN) until all PNUM have come; `expired` gives up on a set
    whose parts stopped coming (its packets stay in the raw archive)."""

    def __init__(self, timeout_seconds: float = 60.0) -> None:
        self._parts: dict[tuple[str, str], tuple[float, dict[int, Packet]]] = {}
        self._timeout = timeout_seconds

    def add(self, packet: Packet, now: float) -> Packet | None:
        if not packet.split:
            return packet
        if packet.qn is None:
            raise PacketError("a split packet needs a QN to be put back together")
        key = (packet.mn, packet.qn)
        first_seen, parts = self._parts.get(key, (now, {}))
        if parts and next(iter(parts.values())).pnum != packet.pnum:
            raise PacketError(f"PNUM {packet.pnum} differs from the set's {next(iter(parts.values())).pnum}")
        parts[packet.pno] = packet  # a resent part replaces the first copy
        if len(parts) < (packet.pnum or 1):
            self._parts[key] = (first_seen, parts)
            return None
        self._parts.pop(key, None)
        ordered = [parts[number] for number in sorted(parts)]
        return _whole(ordered)

    def expired(self, now: float) -> list[list[Packet]]:
        gone = [key for key, (first, _) in self._parts.items() if now - first > self._timeout]
        return [list(self._parts.pop(key)[1].values()) for key in gone]

    def __len__(self) -> int:
        return len(self._parts)


def _whole(parts: list[Packet]) -> Packet:
    first = parts[0]
    return replace(first, cp=";".join(part.cp for part in parts if part.cp), pnum=None, pno=None)
