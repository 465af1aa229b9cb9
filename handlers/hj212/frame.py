"""Framing: `##` + 4-digit data length + data segment + 4-hex CRC16 + CRLF.

`FrameReader` is fed whatever TCP delivers (several packets in one read, one packet over several reads,
garbage between them) and hands back whole data segments or refusals, never raising on any input.
"""
from __future__ import annotations

from dataclasses import dataclass

HEADER = b"##"
TRAILER = b"\r\n"
MAX_SEGMENT = 1024  # HJ 212-2017 6.3.1: the data segment is 0-1024 bytes
_OVERHEAD = len(HEADER) + 4 + 4 + len(TRAILER)


def _register_after(value: int) -> int:
    for _ in range(8):
        value = (value >> 1) ^ 0xA001 if value & 1 else value >> 1
    return value


# After `(crc >> 8) ^ byte` the register holds 8 bits, so its eight shifts depend on them alone: one lookup a byte.
_TABLE = tuple(_register_after(value) for value in range(256))


def crc16(data: bytes) -> int:
    """The CRC of HJ 212-2017 appendix A: over the data segment, reflected polynomial 0xA001, where each byte is
    XORed into the register after shifting its high byte down (unlike CRC-16/MODBUS)."""
    crc = 0xFFFF
    for byte in data:
        crc = _TABLE[(crc >> 8) ^ byte]
    return crc


def encode_frame(segment: str | bytes) -> bytes:
    data = segment.encode("ascii") if isinstance(segment, str) else segment
    if len(data) > MAX_SEGMENT:
        raise ValueError(f"data segment of {len(data)} bytes exceeds {MAX_SEGMENT}")
    return b"%s%04d%s%04X%s" % (HEADER, len(data), data, crc16(data), TRAILER)


@dataclass(frozen=True)
class Frame:
    segment: bytes  # the data segment, CRC checked
    raw: bytes      # the whole packet as received


@dataclass(frozen=True)
class Refusal:
    reason: str
    raw: bytes      # what was discarded


class FrameReader:
    def __init__(self, max_segment: int = MAX_SEGMENT) -> None:
        self._buffer = bytearray()
        self._max = max_segment

    @property
    def pending(self) -> int:
        """Bytes held of a packet not yet complete (the partial-packet timeout watches this)."""
        return len(self._buffer)

    def take_pending(self) -> bytes:
        """What is held of a packet not yet complete, handed over and forgotten."""
        held = bytes(self._buffer)
        self._buffer.clear()
        return held

    def feed(self, data: bytes) -> list[Frame | Refusal]:
        self._buffer += data
        out: list[Frame | Refusal] = []
        while self._buffer:
            item = self._next()
            if item is None:
                break
            out.append(item)
        return out

    def _next(self) -> Frame | Refusal | None:
        buf = self._buffer
        start = buf.find(HEADER)
        if start != 0:
            return self._skip_garbage(start)
        if len(buf) < 6:
            return None
        length_field = bytes(buf[2:6])
        if not length_field.isdigit():
            return self._drop(2, f"bad length field {length_field!r} (expected 4 decimal digits)")
        length = int(length_field)
        if length > self._max:
            return self._drop(2, f"oversize packet: data length {length} exceeds {self._max}")
        total = length + _OVERHEAD
        if buf.find(TRAILER, 6, min(len(buf), 11 + length)) >= 0:
            # A segment never holds CRLF: the length field lies, and waiting for its bytes would stall the packets
            # already behind it.
            return self._drop(2, f"bad length: data length {length} runs past the packet's CRLF")
        if len(buf) < total:
            return None
        raw = bytes(buf[:total])
        segment, crc_field, trailer = raw[6:6 + length], raw[6 + length:10 + length], raw[10 + length:]
        if trailer != TRAILER:
            return self._drop(2, "bad length: no CRLF where the data length says the packet ends")
        try:
            received = int(crc_field, 16)
        except ValueError:
            return self._drop(2, f"bad CRC field {crc_field!r} (expected 4 hex digits)")
        expected = crc16(segment)
        if received != expected:
            return self._drop(total, f"bad CRC: packet says {crc_field.decode('ascii')}, data gives {expected:04X}")
        del buf[:total]
        return Frame(segment, raw)

    def _skip_garbage(self, start: int) -> Refusal | None:
        buf = self._buffer
        if start < 0:
            # Keep a trailing "#": it may be the first half of the next header.
            start = len(buf) - 1 if buf.endswith(b"#") else len(buf)
            if start == 0:
                return None
        junk = bytes(buf[:start])
        del buf[:start]
        if not junk.strip():
            return self._next() if buf else None  # stray line ends or spaces between packets: not worth a refusal
        return Refusal(f"{len(junk)} bytes outside any packet (resynchronised on ##)", junk)

    def _drop(self, count: int, reason: str) -> Refusal:
        # After a bad header only the "##" is dropped: the next header may lie inside what looked like this packet.
        end = self._buffer.find(HEADER, 1) if count == 2 else count
        end = len(self._buffer) if end < 0 else end
        raw = bytes(self._buffer[:end])
        del self._buffer[:end]
        return Refusal(reason, raw)
