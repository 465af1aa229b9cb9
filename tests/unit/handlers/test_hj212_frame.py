"""HJ 212 framing: CRC16 of appendix A, and FrameReader's reassembly / resynchronisation / refusals."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from handlers.hj212.frame import MAX_SEGMENT, Frame, FrameReader, Refusal, crc16, crc16_bytewise, encode_frame

# HJ 212-2017 example (6.3 / appendix A): data segment, its length 0101 and CRC 1C80.
EXAMPLE = b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&"
EXAMPLE_PACKET = b"##0101" + EXAMPLE + b"1C80\r\n"
OTHER = b"QN=20160801085857224;ST=32;CN=1061;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&&&"

FAST = settings(max_examples=200, deadline=None)


def frames(items):
    return [item for item in items if isinstance(item, Frame)]


def refusals(items):
    return [item for item in items if isinstance(item, Refusal)]


def feed_all(reader: FrameReader, chunks) -> list:
    out = []
    for chunk in chunks:
        out += reader.feed(chunk)
    return out


# --- CRC and encoding ----------------------------------------------------------------------------------------

def test_crc16_of_the_standards_example():
    assert len(EXAMPLE) == 101
    assert crc16(EXAMPLE) == 0x1C80


def test_crc16_is_not_modbus():
    # CRC-16/MODBUS of "123456789" is 0x4B37; the HJ 212 variant differs, so a MODBUS routine would fail here.
    assert crc16(b"123456789") != 0x4B37
    assert crc16(b"") == 0xFFFF


def appendix_a_crc(data: bytes) -> int:
    """Appendix A's routine as the standard writes it, bit by bit: the reference for the table-driven one."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@FAST
@given(st.binary(max_size=1100))
def test_crc16_equals_the_bitwise_routine_of_appendix_a(data):
    assert crc16(data) == appendix_a_crc(data)
    assert crc16_bytewise(data) == appendix_a_crc(data)


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=1100, max_size=20_000))
def test_crc16_of_long_data_equals_the_bitwise_routine(data):
    assert crc16(data) == appendix_a_crc(data)


@pytest.mark.parametrize("length", range(0, 40))
def test_crc16_of_every_short_length_and_byte(length):
    for byte in (0x00, 0x01, 0x80, 0xFF, 0x23):
        data = bytes([byte]) * length
        assert crc16(data) == appendix_a_crc(data)
        data = bytes(range(byte, byte + length)) if byte + length <= 256 else data
        assert crc16(data) == appendix_a_crc(data)


def test_encode_frame_reproduces_the_standards_packet():
    assert encode_frame(EXAMPLE) == EXAMPLE_PACKET
    assert encode_frame(EXAMPLE.decode("ascii")) == EXAMPLE_PACKET


def test_encode_frame_refuses_oversize_segment():
    encode_frame(b"x" * MAX_SEGMENT)
    with pytest.raises(ValueError):
        encode_frame(b"x" * (MAX_SEGMENT + 1))


# --- FrameReader: good input ----------------------------------------------------------------------------------

def test_reads_the_standards_packet():
    reader = FrameReader()
    [item] = reader.feed(EXAMPLE_PACKET)
    assert item == Frame(EXAMPLE, EXAMPLE_PACKET)
    assert reader.pending == 0


def test_several_packets_in_one_feed():
    reader = FrameReader()
    items = reader.feed(EXAMPLE_PACKET + encode_frame(OTHER) + EXAMPLE_PACKET)
    assert [item.segment for item in items] == [EXAMPLE, OTHER, EXAMPLE]
    assert all(isinstance(item, Frame) for item in items)
    assert reader.pending == 0


def test_one_packet_byte_by_byte():
    reader = FrameReader()
    out = []
    for i in range(len(EXAMPLE_PACKET)):
        got = reader.feed(EXAMPLE_PACKET[i:i + 1])
        if i < len(EXAMPLE_PACKET) - 1:
            assert got == [], f"emitted early at byte {i}"
            assert reader.pending == i + 1
        out += got
    assert out == [Frame(EXAMPLE, EXAMPLE_PACKET)]
    assert reader.pending == 0


def test_two_packets_split_at_every_point():
    stream = EXAMPLE_PACKET + encode_frame(OTHER)
    for cut in range(1, len(stream)):
        reader = FrameReader()
        items = reader.feed(stream[:cut]) + reader.feed(stream[cut:])
        assert [i.segment for i in items] == [EXAMPLE, OTHER], cut


def test_blank_lines_between_packets_are_not_refused():
    reader = FrameReader()
    items = reader.feed(b"\r\n" + EXAMPLE_PACKET + b"\r\n  \r\n" + EXAMPLE_PACKET)
    assert items == [Frame(EXAMPLE, EXAMPLE_PACKET)] * 2


# --- FrameReader: garbage and refusals ------------------------------------------------------------------------

def test_garbage_before_header_resynchronises():
    reader = FrameReader()
    items = reader.feed(b"\x00\xffnoise 12" + EXAMPLE_PACKET)
    assert len(items) == 2
    assert isinstance(items[0], Refusal) and items[0].raw == b"\x00\xffnoise 12"
    assert "outside any packet" in items[0].reason
    assert items[1] == Frame(EXAMPLE, EXAMPLE_PACKET)


def test_single_hash_in_garbage_is_not_a_header():
    reader = FrameReader()
    items = reader.feed(b"a#b#c" + EXAMPLE_PACKET)
    assert frames(items) == [Frame(EXAMPLE, EXAMPLE_PACKET)]


def test_garbage_ending_in_hash_before_packet_resynchronises():
    reader = FrameReader()
    items = reader.feed(b"xx#" + EXAMPLE_PACKET)
    assert frames(items) == [Frame(EXAMPLE, EXAMPLE_PACKET)]


def _refused_then_good(bad: bytes, reason_part: str):
    reader = FrameReader()
    items = reader.feed(bad + EXAMPLE_PACKET)
    refused = refusals(items)
    assert refused, items
    assert reason_part in refused[0].reason, refused[0].reason
    assert refused[0].raw.startswith(b"##")
    assert items[-1] == Frame(EXAMPLE, EXAMPLE_PACKET)
    assert len(frames(items)) == 1
    assert reader.pending == 0
    return refused


def test_bad_crc_is_refused_and_next_packet_parses():
    bad = b"##0101" + EXAMPLE + b"1C81\r\n"
    [refusal] = _refused_then_good(bad, "bad CRC")
    assert "1C81" in refusal.reason and "1C80" in refusal.reason
    assert refusal.raw == bad


def test_non_hex_crc_is_refused():
    _refused_then_good(b"##0101" + EXAMPLE + b"1CZZ\r\n", "bad CRC field")


def test_non_digit_length_is_refused():
    _refused_then_good(b"##01a1" + EXAMPLE + b"1C80\r\n", "bad length field")


def test_oversize_length_is_refused():
    _refused_then_good(b"##1025" + b"x" * 10 + b"\r\n", "oversize")


def test_oversize_relative_to_reader_limit():
    reader = FrameReader(max_segment=100)
    [item] = reader.feed(EXAMPLE_PACKET)  # 101 > 100
    assert isinstance(item, Refusal) and "oversize" in item.reason


def test_missing_crlf_is_refused_and_next_packet_parses():
    # The packet as the length says, but without its CRLF, then a good packet.
    _refused_then_good(b"##0101" + EXAMPLE + b"1C80", "no CRLF")


def test_length_too_long_runs_past_crlf_is_refused_without_waiting():
    reader = FrameReader()
    items = reader.feed(b"##0500" + EXAMPLE + b"1C80\r\n")
    assert len(items) == 1 and isinstance(items[0], Refusal) and "past the packet's CRLF" in items[0].reason
    assert reader.feed(EXAMPLE_PACKET) == [Frame(EXAMPLE, EXAMPLE_PACKET)]


def test_length_too_short_is_refused():
    bad = b"##0050" + EXAMPLE + b"1C80\r\n"
    _refused_then_good(bad, "bad length")


def test_partial_packet_is_held_not_refused():
    reader = FrameReader()
    assert reader.feed(EXAMPLE_PACKET[:50]) == []
    assert reader.pending == 50


# --- properties ----------------------------------------------------------------------------------------------

def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


@FAST
@given(st.binary(max_size=600), st.lists(st.integers(min_value=0), max_size=20))
def test_arbitrary_bytes_never_raise(data, cuts):
    reader = FrameReader()
    items = feed_all(reader, chunked(data, cuts))
    assert all(isinstance(item, (Frame, Refusal)) for item in items)
    assert all(isinstance(item.reason, str) and item.reason for item in refusals(items))
    assert 0 <= reader.pending <= len(data)


header_ish = st.sampled_from([b"##", b"#", b"\r\n", b"##0", b"##0101", b"##9999", b"##0005", b"##abcd", b"1C80"])


@FAST
@given(st.lists(st.one_of(st.binary(max_size=30), header_ish,
                          st.sampled_from([EXAMPLE_PACKET, encode_frame(OTHER)])), max_size=12),
       st.lists(st.integers(min_value=0), max_size=20))
def test_header_like_bytes_never_raise_and_frames_are_crc_checked(parts, cuts):
    data = b"".join(parts)
    reader = FrameReader()
    items = feed_all(reader, chunked(data, cuts))
    assert all(isinstance(item, (Frame, Refusal)) for item in items)
    for frame in frames(items):
        assert frame.raw == encode_frame(frame.segment)


@FAST
@given(st.lists(st.binary(max_size=40).filter(lambda b: b"#" not in b), min_size=1, max_size=6),
       st.lists(st.integers(min_value=0), max_size=20))
def test_packets_between_hash_free_garbage_all_come_through(garbage, cuts):
    packets = [EXAMPLE, OTHER]
    data = b"".join(g + encode_frame(packets[i % 2]) for i, g in enumerate(garbage))
    reader = FrameReader()
    items = feed_all(reader, chunked(data, cuts))
    assert [f.segment for f in frames(items)] == [packets[i % 2] for i in range(len(garbage))]
    assert reader.pending == 0


@FAST
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0), max_size=20))
def test_frames_do_not_depend_on_chunking(data, cuts):
    data = data + EXAMPLE_PACKET
    whole = frames(FrameReader().feed(data))
    pieces = frames(feed_all(FrameReader(), chunked(data, cuts)))
    assert whole == pieces



class BufferedOnly(FrameReader):
    """The reader without its way around the buffer: every byte goes through the buffer and `_next`."""

    def _whole_packets(self, data, out):
        return 0


packet_ish = st.one_of(
    st.sampled_from([EXAMPLE_PACKET, encode_frame(OTHER), b"##0101" + EXAMPLE + b"1C81\r\n",
                     b"##0101" + EXAMPLE + b"1c80\r\n", b"##0101" + EXAMPLE + b" 1C8\r\n",
                     b"##0101" + EXAMPLE + b"1C80", b"##0500" + EXAMPLE + b"1C80\r\n",
                     b"##0050" + EXAMPLE + b"1C80\r\n",
                     b"##0000FFFF\r\n", b"##0002\r\nFFFF\r\n", b"##00a1", b"\r\n", b"  ", b"#"]),
    st.binary(max_size=30), header_ish)


@settings(max_examples=500, deadline=None)
@given(st.lists(packet_ish, max_size=12), st.lists(st.integers(min_value=0), max_size=20),
       st.sampled_from([MAX_SEGMENT, 100]))
def test_whole_packets_read_past_the_buffer_as_through_it(parts, cuts, max_segment):
    data = b"".join(parts)
    fast, slow = FrameReader(max_segment), BufferedOnly(max_segment)
    for chunk in chunked(data, cuts):
        assert fast.feed(chunk) == slow.feed(chunk)
        assert fast.pending == slow.pending
    assert fast.take_pending() == slow.take_pending()
