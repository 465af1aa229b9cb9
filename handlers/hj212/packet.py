"""The data segment: `QN=..;ST=..;CN=..;PW=..;MN=..;Flag=..;[PNUM=..;PNO=..;]CP=&&...&&`.

The version is recognised per packet: Flag's bits 2-7 carry it in HJ 212-2017 (000001); HJ/T 212-2005 has
version 0 or no Flag at all.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum

FLAG_ANSWER = 0b01  # A: the sender wants an answer
FLAG_SPLIT = 0b10   # D: the packet is one of PNUM parts
_FIELD_NAMES = ("QN", "PNUM", "PNO", "ST", "CN", "PW", "MN", "Flag")
_QN = re.compile(r"^\d{17}\Z")
_CODE = re.compile(r"^\d{4}\Z")
_ST = re.compile(r"^\d{2}\Z")
_MN = re.compile(r"^[0-9A-Za-z]{1,24}\Z")
_PW = re.compile(r"^[\x21-\x7e]{1,9}\Z")


class Version(StrEnum):
    HJ212_2017 = "2017"
    HJ212_2005 = "2005"


class PacketError(ValueError):
    """A data segment that is not a packet of either version; the message is meant for a dead letter."""


@dataclass(frozen=True)
class Packet:
    st: str
    cn: str
    pw: str
    mn: str
    cp: str                  # what lies between CP=&& and the closing &&
    qn: str | None = None
    flag: int | None = None
    pnum: int | None = None
    pno: int | None = None
    version: Version = Version.HJ212_2017

    @property
    def wants_answer(self) -> bool:
        return self.flag is not None and bool(self.flag & FLAG_ANSWER)

    @property
    def split(self) -> bool:
        return self.pnum is not None and self.pnum > 1

    def with_cp(self, cp: str) -> "Packet":
        return replace(self, cp=cp)


# The fields as a station of either edition writes them when the packet is not split, with a password of letters
# and digits. Such a segment is read in one match; `_parse_fields` reads every other one, and gives the same Packet
# for these (tests/unit/handlers/test_hj212_packet.py checks it): no field can hold "CP=&&" or ";", so the first
# "CP=&&" is the one matched, and each field matches exactly what `_parse_fields` accepts for it.
_USUAL = re.compile(r"(?:QN=(\d{17});)?ST=(\d\d);CN=(\d{4});PW=([0-9A-Za-z]{1,9});MN=([0-9A-Za-z]{1,24});"
                    r"(?:Flag=(\d{1,3});)?CP=&&(.*)&&", re.ASCII | re.DOTALL)
_new = object.__new__


def parse_segment(segment: bytes) -> Packet:
    try:
        text = segment.decode("ascii")
    except UnicodeDecodeError as exc:
        raise PacketError(f"non-ASCII byte at {exc.start}") from None
    usual = _USUAL.fullmatch(text)
    if usual is not None:
        qn, st, cn, pw, mn, flag_text, cp = usual.groups()
        flag = None if flag_text is None else int(flag_text)
        if flag is None or flag < 8:
            packet = _new(Packet)  # a frozen dataclass's __init__ costs a microsecond; these fields need no check
            packet.__dict__.update(st=st, cn=cn, pw=pw, mn=mn, cp=cp, qn=qn, flag=flag, pnum=None, pno=None,
                                   version=Version.HJ212_2017 if flag is not None and flag >> 2 == 1
                                   else Version.HJ212_2005)
            return packet
    return _parse_fields(text)


def _parse_fields(text: str) -> Packet:
    head, sep, rest = text.partition("CP=&&")
    if not sep:
        raise PacketError("no CP=&& field")
    if not rest.endswith("&&"):
        raise PacketError("CP does not end with &&")
    fields: dict[str, str] = {}
    for item in head.split(";"):
        if not item:
            continue
        name, eq, value = item.partition("=")
        if not eq:
            raise PacketError(f"field {item[:20]!r} has no '='")
        if name not in _FIELD_NAMES:
            raise PacketError(f"unknown field {name[:20]!r}")
        if name in fields:
            raise PacketError(f"field {name} given twice")
        fields[name] = value
    for name in ("ST", "CN", "PW", "MN"):
        if name not in fields:
            raise PacketError(f"no {name} field")
    qn = fields.get("QN")
    if qn is not None and not _QN.match(qn):
        raise PacketError(f"QN {qn[:20]!r} is not yyyyMMddHHmmssSSS")
    if not _CODE.match(fields["CN"]):
        raise PacketError(f"CN {fields['CN'][:20]!r} is not a 4-digit command code")
    if not _ST.match(fields["ST"]):
        raise PacketError(f"ST {fields['ST'][:20]!r} is not a 2-digit system code")
    if not _MN.match(fields["MN"]):
        raise PacketError(f"MN {fields['MN'][:30]!r} is not 1-24 letters or digits")
    if fields["PW"] and not _PW.match(fields["PW"]):
        raise PacketError("PW is not 1-9 printable characters")
    flag = _small_int(fields, "Flag", 255)
    pnum, pno = _small_int(fields, "PNUM", 9999), _small_int(fields, "PNO", 9999)
    if (pnum is None) != (pno is None):
        raise PacketError("PNUM and PNO come together")
    if pnum is not None and pno is not None and not 1 <= pno <= pnum:
        raise PacketError(f"PNO {pno} outside 1..PNUM {pnum}")
    cp = rest[:-2]
    version = Version.HJ212_2017 if flag is not None and flag >> 2 == 1 else Version.HJ212_2005
    if flag is not None and flag >> 2 > 1:
        raise PacketError(f"Flag {flag}: unknown protocol version {flag >> 2}")
    return Packet(st=fields["ST"], cn=fields["CN"], pw=fields["PW"], mn=fields["MN"], cp=cp, qn=qn, flag=flag,
                  pnum=pnum, pno=pno, version=version)


def _small_int(fields: dict[str, str], name: str, limit: int) -> int | None:
    value = fields.get(name)
    if value is None:
        return None
    if not value.isdigit() or len(value) > 4 or int(value) > limit:
        raise PacketError(f"{name} {value[:20]!r} is not a number 0-{limit}")
    return int(value)


def encode_segment(packet: Packet) -> str:
    parts = []
    if packet.qn is not None:
        parts.append(f"QN={packet.qn}")
    split = [f"PNUM={packet.pnum}", f"PNO={packet.pno}"] if packet.pnum is not None else []
    if packet.version is Version.HJ212_2005:
        parts += split  # 2005 puts PNUM/PNO right after QN, 2017 after Flag
    parts += [f"ST={packet.st}", f"CN={packet.cn}", f"PW={packet.pw}", f"MN={packet.mn}"]
    if packet.flag is not None:
        parts.append(f"Flag={packet.flag}")
    if packet.version is Version.HJ212_2017:
        parts += split
    return ";".join(parts) + f";CP=&&{packet.cp}&&"


def parse_cp(cp: str) -> list[dict[str, str]]:
    """CP as groups (`;`) of `name=value` items (`,`), in order; empty items are skipped."""
    groups = []
    for group in cp.split(";"):
        items: dict[str, str] = {}
        for item in group.split(","):
            if not item:
                continue
            name, eq, value = item.partition("=")
            if not eq or not name:
                raise PacketError(f"CP item {item[:30]!r} is not name=value")
            if name in items:
                raise PacketError(f"CP item {name[:30]!r} given twice in one group")
            items[name] = value
        if items:
            groups.append(items)
    return groups


def encode_cp(groups: list[dict[str, str]]) -> str:
    return ";".join(",".join(f"{k}={v}" for k, v in group.items()) for group in groups)
