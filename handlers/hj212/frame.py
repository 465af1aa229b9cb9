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


def crc16_bytewise(data: bytes) -> int:
    """The CRC one byte at a time (the table form of appendix A's loop): the reference `crc16` is tested against."""
    crc = 0xFFFF
    for byte in data:
        crc = _TABLE[(crc >> 8) ^ byte]
    return crc


# No loop over the bytes at all. The register's high byte is all the next step keeps, so the state is one byte h,
# and a byte b moves it to H[h ^ b] with H[x] = _TABLE[x] >> 8. H is linear over GF(2) (shifts and XORs; H[0] = 0)
# and H^8 is the identity (checked below), so after n bytes h = XOR of H^((n-1-i) mod 8)[b_i] over the bytes, with
# the register's initial 0xFF XORed into the first byte, and the CRC is _TABLE[h], also linear. Bytes eight apart
# meet the same power of H, so XOR-folding the data as 64-bit words (in C, on one integer) leaves eight bytes F_r,
# and the CRC is the XOR of _FOLD[r][F_r] with _FOLD[r] = _TABLE . H^r.
def _fold_tables() -> tuple[tuple[int, ...], ...]:
    high = [entry >> 8 for entry in _TABLE]
    tables, power = [], list(range(256))  # power: H^r as a table
    for _ in range(8):
        tables.append(tuple(_TABLE[x] for x in power))
        power = [high[x] for x in power]
    if power != list(range(256)):
        raise AssertionError("H^8 is not the identity: the folded CRC would be wrong")
    return tuple(tables)


_FOLD = _fold_tables()
_F0, _F1, _F2, _F3, _F4, _F5, _F6, _F7 = _FOLD
# The initial 0xFF sits on the first byte, whose power of H depends on the length: its share of the CRC by n mod 8.
_START = tuple(_FOLD[(n - 1) % 8][0xFF] for n in range(8))


def _fold_plan(length: int) -> tuple[tuple[int, int], ...]:
    """(shift, mask) of each fold of `length` bytes down to one 64-bit word: the upper half onto the lower."""
    steps, words = [], (length + 7) // 8
    while words > 1:
        half = (words + 1) // 2
        steps.append(_STEPS[half] if half < len(_STEPS) else (half * 64, (1 << (half * 64)) - 1))
        words = half
    return tuple(steps)


_STEPS = tuple((k * 64, (1 << (k * 64)) - 1) for k in range((MAX_SEGMENT + 15) // 16 + 1))  # shared by the plans
_FOLDS = tuple(_fold_plan(length) for length in range(MAX_SEGMENT + 1))  # no arithmetic on the length per call


def crc16(data: bytes) -> int:
    """The CRC of HJ 212-2017 appendix A: over the data segment, reflected polynomial 0xA001, where each byte is
    XORed into the register after shifting its high byte down (unlike CRC-16/MODBUS)."""
    n = len(data)
    if not n:
        return 0xFFFF
    x = int.from_bytes(data, "big")  # the last byte lowest: byte i lands on residue (n-1-i) mod 8
    for shift, mask in _FOLDS[n] if n < len(_FOLDS) else _fold_plan(n):
        x = (x >> shift) ^ (x & mask)
    f = x.to_bytes(8, "little")
    return (_START[n & 7] ^ _F0[f[0]] ^ _F1[f[1]] ^ _F2[f[2]] ^ _F3[f[3]] ^ _F4[f[4]] ^ _F5[f[5]] ^ _F6[f[6]]
            ^ _F7[f[7]])


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
        out: list[Frame | Refusal] = []
        if not self._buffer:
            # The usual read: whole packets and nothing held. Take the sound ones straight from `data`, without
            # copying it into the buffer; the first thing that is not one (a partial or broken packet, bytes between
            # packets) goes to the buffer and the general path below, which would have done the same with the
            # packets taken here.
            taken = self._whole_packets(data, out)
            if taken == len(data):
                return out
            data = data[taken:] if taken else data
        self._buffer += data
        while self._buffer:
            item = self._next()
            if item is None:
                break
            out.append(item)
        return out

    def _whole_packets(self, data: bytes, out: list[Frame | Refusal]) -> int:
        """Appends the sound packets at the start of `data` to `out`; how many bytes they took. Each check is
        `_next`'s, in its order; anything else stops here for `_next` to judge."""
        at, end = 0, len(data)
        while at < end:
            if data[at:at + 2] != HEADER:
                break
            length_field = data[at + 2:at + 6]
            if len(length_field) < 4 or not length_field.isdigit():
                break
            length = int(length_field)
            total = length + _OVERHEAD
            if length > self._max or end - at < total:
                break
            crc_at = at + 6 + length
            if data.find(TRAILER, at + 6, crc_at + 5) >= 0 or data[crc_at + 4:crc_at + 6] != TRAILER:
                break
            try:
                received = int(data[crc_at:crc_at + 4], 16)
            except ValueError:
                break
            segment = data[at + 6:crc_at]
            if crc16(segment) != received:
                break
            out.append(Frame(segment, data if total == end else data[at:at + total]))
            at += total
        return at

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
