"""HJ 212 data segments: parse_segment / encode_segment / parse_cp / encode_cp, both editions."""
from __future__ import annotations

import math
import string

import pytest
from hypothesis import example, given, settings, strategies as st

from handlers.hj212.frame import Frame, FrameReader, encode_frame
from handlers.hj212.packet import (_USUAL, Packet, PacketError, Version, _parse_fields, encode_cp, encode_segment,
                                   parse_cp, parse_segment)
from handlers.hj212.server import answer_segment

FAST = settings(max_examples=200, deadline=None)
EXAMPLE = b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&"


def test_parses_the_standards_example():
    p = parse_segment(EXAMPLE)
    assert (p.qn, p.st, p.cn, p.pw, p.mn, p.flag, p.cp) == (
        "20160801085857223", "32", "1062", "100000", "010000A8900016F000169DC0", 5, "RtdInterval=30")
    assert p.version is Version.HJ212_2017
    assert p.wants_answer and not p.split
    assert (p.pnum, p.pno) == (None, None)


def test_2005_edition_without_flag_or_with_version_zero():
    p = parse_segment(b"ST=32;CN=2011;PW=123456;MN=88888880000001;CP=&&DataTime=20040516020111;022-Rtd=1.2&&")
    assert p.version is Version.HJ212_2005 and p.flag is None and p.qn is None and not p.wants_answer
    q = parse_segment(b"QN=20040516020111000;ST=32;CN=2011;PW=123456;MN=8888;Flag=1;CP=&&&&")
    assert q.version is Version.HJ212_2005 and q.wants_answer


def test_unknown_version_in_flag_is_refused():
    with pytest.raises(PacketError, match="unknown protocol version"):
        parse_segment(b"ST=32;CN=2011;PW=1;MN=1;Flag=8;CP=&&&&")


def test_split_fields_order_per_edition():
    p17 = Packet("32", "2011", "123456", "MN1", "a=1", qn="2" * 17, flag=6, pnum=2, pno=1)
    p05 = Packet("32", "2011", "123456", "MN1", "a=1", qn="2" * 17, flag=2, pnum=2, pno=1,
                 version=Version.HJ212_2005)
    s17, s05 = encode_segment(p17), encode_segment(p05)
    assert s17.index("Flag=") < s17.index("PNUM=")
    assert s05.index("PNUM=") < s05.index("ST=")
    assert parse_segment(s17.encode()) == p17
    assert parse_segment(s05.encode()) == p05
    assert p17.split and p05.split


@pytest.mark.parametrize("segment, reason", [
    (b"ST=32;CN=2011;PW=1;MN=1;", "no CP=&&"),
    (b"ST=32;CN=2011;PW=1;MN=1;CP=&&x=1", "does not end with &&"),
    (b"ST=32;CN=2011;PW=1;CP=&&&&", "no MN"),
    (b"ST=32;CN=2011;MN=1;CP=&&&&", "no PW"),
    (b"ST=32;CN=201;PW=1;MN=1;CP=&&&&", "CN"),
    (b"ST=3;CN=2011;PW=1;MN=1;CP=&&&&", "ST"),
    (b"QN=2016;ST=32;CN=2011;PW=1;MN=1;CP=&&&&", "QN"),
    (b"ST=32;CN=2011;PW=1;MN=a-b;CP=&&&&", "MN"),
    (b"ST=32;CN=2011;PW=1234567890;MN=1;CP=&&&&", "PW"),
    (b"ST=32;CN=2011;PW=1;MN=1;Flag=x;CP=&&&&", "Flag"),
    (b"ST=32;CN=2011;PW=1;MN=1;PNUM=2;CP=&&&&", "PNUM and PNO"),
    (b"ST=32;CN=2011;PW=1;MN=1;PNUM=2;PNO=3;CP=&&&&", "PNO 3 outside"),
    (b"ST=32;ST=33;CN=2011;PW=1;MN=1;CP=&&&&", "twice"),
    (b"ST=32;XX=1;CN=2011;PW=1;MN=1;CP=&&&&", "unknown field"),
    (b"ST=32;CN;PW=1;MN=1;CP=&&&&", "no '='"),
    (b"ST=32;CN=2011;PW=1;MN=\xe9;CP=&&&&", "non-ASCII"),
])
def test_bad_segments_are_refused_with_reason(segment, reason):
    with pytest.raises(PacketError, match=reason):
        parse_segment(segment)


def test_trailing_newline_in_fields_is_refused():
    with pytest.raises(PacketError):
        parse_segment(b"ST=32;CN=2011;PW=1;MN=150000HLHDSK000000000001\n;CP=&&&&")


def test_parse_cp_groups_and_items():
    assert parse_cp("DataTime=20160801084000;w01018-Rtd=50.1,w01018-Flag=N;;w21003-Rtd=0.5,") == [
        {"DataTime": "20160801084000"}, {"w01018-Rtd": "50.1", "w01018-Flag": "N"}, {"w21003-Rtd": "0.5"}]
    assert parse_cp("") == []
    with pytest.raises(PacketError):
        parse_cp("a=1,a=2")
    with pytest.raises(PacketError):
        parse_cp("novalue")
    with pytest.raises(PacketError):
        parse_cp("=1")


# --- round trip property -------------------------------------------------------------------------------------

digits = st.text(string.digits, min_size=1, max_size=1)
factor_codes = st.one_of(
    st.builds(lambda a, n: a + n, st.sampled_from("wa"), st.text(string.digits, min_size=5, max_size=5)),
    st.text(string.digits, min_size=3, max_size=3),                                 # 2005: 011
    st.builds(lambda a, n: a + n, st.sampled_from("B"), st.text(string.digits, min_size=2, max_size=2)))
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
cp_group = st.dictionaries(
    st.builds(lambda c, f: f"{c}-{f}", factor_codes, st.sampled_from(["Rtd", "Avg", "Min", "Max", "Cou"])),
    finite.map(repr), min_size=1, max_size=4)
pw_chars = "".join(c for c in map(chr, range(0x21, 0x7F)) if c not in ";&")


@st.composite
def packets(draw, version: Version):
    flag_choices = st.integers(4, 7) if version is Version.HJ212_2017 else st.one_of(st.none(), st.integers(0, 3))
    pnum = draw(st.one_of(st.none(), st.integers(1, 9999)))
    pno = None if pnum is None else draw(st.integers(1, pnum))
    groups = draw(st.lists(cp_group, max_size=5))
    data_time = draw(st.one_of(st.none(), st.text(string.digits, min_size=14, max_size=14)))
    if data_time is not None:
        groups = [{"DataTime": data_time}] + groups
    return Packet(
        st=draw(st.text(string.digits, min_size=2, max_size=2)),
        cn=draw(st.text(string.digits, min_size=4, max_size=4)),
        pw=draw(st.text(pw_chars, min_size=0, max_size=9)),
        mn=draw(st.text(string.ascii_letters + string.digits, min_size=1, max_size=24)),
        cp=encode_cp(groups),
        qn=draw(st.one_of(st.none(), st.text(string.digits, min_size=17, max_size=17))),
        flag=draw(flag_choices), pnum=pnum, pno=pno, version=version), groups


def _round_trip(drawn):
    packet, groups = drawn
    segment = encode_segment(packet)
    wire = encode_frame(segment)
    reader = FrameReader()
    [frame] = reader.feed(wire)
    assert isinstance(frame, Frame)
    parsed = parse_segment(frame.segment)
    assert parsed == packet
    assert parsed.version is packet.version
    back = parse_cp(parsed.cp)
    assert [list(g) for g in back] == [list(g) for g in groups]
    for got, sent in zip(back, groups):
        for name, text in sent.items():
            if name == "DataTime":
                assert got[name] == text
            else:
                assert float(got[name]) == float(text)
                assert math.copysign(1, float(got[name])) == math.copysign(1, float(text))


@FAST
@given(packets(Version.HJ212_2017))
def test_round_trip_2017(drawn):
    _round_trip(drawn)


@FAST
@given(packets(Version.HJ212_2005))
def test_round_trip_2005(drawn):
    _round_trip(drawn)


@FAST
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_packet_error(data):
    try:
        parse_segment(data)
    except PacketError:
        pass


segment_alphabet = st.sampled_from(["QN=", "ST=", "CN=", "PW=", "MN=", "Flag=", "PNUM=", "PNO=", "CP=&&", "&&",
                                    ";", "=", ",", "0", "1", "9", "20160801085857223", "32", "2011", "A", "\n",
                                    "\x00", "é", "4", "7", "99999"])


@FAST
@given(st.one_of(st.text(max_size=200), st.lists(segment_alphabet, max_size=40).map("".join)))
def test_arbitrary_text_raises_only_packet_error(text):
    segment = text.encode("utf-8")
    try:
        packet = parse_segment(segment)
    except PacketError:
        return
    try:
        parse_cp(packet.cp)
    except PacketError:
        pass


# --- the usual fields in one match ---------------------------------------------------------------------------

def outcome(segment: bytes):
    try:
        return parse_segment(segment)
    except PacketError as exc:
        return str(exc)


def outcome_of_fields(segment: bytes):
    try:
        return _parse_fields(segment.decode("ascii"))
    except UnicodeDecodeError:
        return outcome(segment)  # decoding happens before either reads the fields
    except PacketError as exc:
        return str(exc)


good_values = {
    "QN": st.text(string.digits, min_size=17, max_size=17), "ST": st.text(string.digits, min_size=2, max_size=2),
    "CN": st.text(string.digits, min_size=4, max_size=4),
    "PW": st.text(string.ascii_letters + string.digits, min_size=1, max_size=9),
    "MN": st.text(string.ascii_letters + string.digits, min_size=1, max_size=24),
    "Flag": st.integers(0, 7).map(str), "PNUM": st.integers(1, 10).map(str), "PNO": st.integers(1, 10).map(str),
}
odd_values = {
    "QN": st.sampled_from(["", "2016", "x" * 17, "1" * 18]), "ST": st.sampled_from(["", "3", "321"]),
    "CN": st.sampled_from(["", "201", "2011 "]),
    "PW": st.one_of(st.text(pw_chars + ";=&", max_size=11), st.sampled_from(["CP=&&", "a;b", "", "a=b"])),
    "MN": st.sampled_from(["a-b", "", "CP=&&x", "1" * 25]),
    "Flag": st.one_of(st.integers(8, 300).map(str), st.sampled_from(["", "x", "0004", "05", "٣"])),
    "PNUM": st.integers(0, 10).map(str), "PNO": st.integers(0, 10).map(str),
}
usual_order = ["QN", "ST", "CN", "PW", "MN", "Flag"]


@st.composite
def segments(draw):
    """Segments near the usual shape: the usual fields in the usual order, in a third of the examples with some
    left out, moved, doubled, or holding what the standard does not allow, and a CP that may hold anything."""
    odd = draw(st.integers(0, 2)) == 0

    def value(name):
        return draw(odd_values[name]) if odd and draw(st.integers(0, 3)) == 0 else draw(good_values[name])

    names = [n for n in usual_order if n not in ("QN", "Flag") or draw(st.integers(0, 4))]
    if odd and draw(st.booleans()):
        names = draw(st.permutations(names + draw(st.lists(st.sampled_from(list(good_values)), max_size=3))))
    fields = ";".join(f"{name}={value(name)}" for name in names)
    cp = draw(st.one_of(st.text(st.characters(max_codepoint=0x7F), max_size=40),
                        st.sampled_from(["", "DataTime=20260501080000;w01018-Rtd=1.5", "&&", "x&&y", "CP=&&"])))
    ending = draw(st.sampled_from(["&&", "&", "&&\n", "", "&&é"])) if odd else "&&"
    return f"{fields};CP=&&{cp}{ending}".encode("utf-8")


@settings(max_examples=1500, deadline=None)
@given(segments())
@example(b"QN=20160801085857223;ST=32;CN=1062;PW=CP=&&;MN=1;Flag=5;CP=&&&&")
@example(b"ST=32;CN=2011;PW=1;MN=1;Flag=255;CP=&&&&")
@example(b"ST=32;CN=2011;PW=1;MN=1;Flag=8;CP=&&&&")
def test_the_one_match_reads_as_the_fields_do(segment):
    assert outcome(segment) == outcome_of_fields(segment)


@settings(max_examples=300, deadline=None)
@given(st.one_of(packets(Version.HJ212_2017), packets(Version.HJ212_2005)))
def test_usual_packets_are_read_in_one_match(drawn):
    packet, _ = drawn
    segment = encode_segment(packet)
    usual = (packet.pnum is None and (packet.pw.isalnum() and packet.pw.isascii())
             and (packet.flag is None or packet.flag < 8))
    assert bool(_USUAL.fullmatch(segment)) == usual
    assert parse_segment(segment.encode()) == _parse_fields(segment) == packet


# --- the data answer ---------------------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(packets(Version.HJ212_2017), st.sampled_from(["9014", "9013"]))
def test_the_2017_answer_is_encode_segments(drawn, cn):
    packet, _ = drawn
    expected = encode_segment(Packet(st="91", cn=cn, pw=packet.pw, mn=packet.mn, cp="", qn=packet.qn, flag=4))
    assert answer_segment(packet, cn) == expected
