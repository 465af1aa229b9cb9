"""Archived packets (the `hj212-raw` topic, a drill log's hj212-raw lines) read again through the gateway's own
parser: frame and CRC, packet, split parts put back together, upload, reading through the plan's station link.

A drill replays what the gateway accepted, so no password is asked for (the drill machine need not have the
stations' secrets); everything else is checked as on the wire, and what would not parse is an error naming it.
"""
from __future__ import annotations

from collections.abc import Iterable

from contingency.hj212 import FactorTable, StationLink
from contingency.ids import hj212_reading_id
from handlers.hj212.frame import TRAILER, Frame, FrameReader
from handlers.hj212.packet import Packet, PacketError, parse_cp, parse_segment
from handlers.hj212.readings import to_report
from handlers.hj212.uploads import Reassembler, is_upload, read_upload
from schemas import StationPacket, StationReport


def packet_of(archived: StationPacket) -> Packet:
    """The packet inside an archived frame; PacketError if the frame or the packet is not sound."""
    items = FrameReader().feed(archived.packet.encode("ascii", errors="replace") + TRAILER)
    if len(items) != 1 or not isinstance(items[0], Frame):
        reason = items[0].reason if len(items) == 1 else "not one whole frame"
        raise PacketError(f"the archived frame is not sound: {reason}")
    packet = parse_segment(items[0].segment)
    if packet.mn != archived.mn:
        raise PacketError(f"the frame's MN {packet.mn} is not the archive's {archived.mn}")
    return packet


class PacketReplay:
    """Reads archived packets in the order they came, as the gateway did; `read` is called once per packet."""

    def __init__(self, links: dict[str, StationLink], factors: FactorTable) -> None:
        self._links, self._factors = links, factors
        self._parts = Reassembler(timeout_seconds=float("inf"))  # a recording has no wall clock to time out on

    def read(self, archived: StationPacket) -> StationReport | None:
        """The reading the packet makes (None: not an upload, an upload the plan does not read, or a part of a
        split upload whose other parts are still to come). PacketError names what is wrong."""
        link = self._links.get(archived.mn)
        if link is None:
            raise PacketError(f"MN {archived.mn} is not an HJ 212 station of the plan")
        packet = packet_of(archived)
        if not is_upload(packet):
            return None
        whole = self._parts.add(packet, 0.0)
        if whole is None:
            return None
        return to_report(read_upload(whole), link, self._factors).report


def reading_ids(archived: Iterable[StationPacket]) -> set[str]:
    """The event ids of the readings the gateway made of these packets (for a recording that holds both the raw
    packets and the readings: the packets make those readings again). Unreadable packets are skipped."""
    ids: set[str] = set()
    for item in archived:
        try:
            packet = packet_of(item)
            if not is_upload(packet):
                continue
            data_time = next((g["DataTime"] for g in parse_cp(packet.cp) if "DataTime" in g), None)
        except PacketError:
            continue
        if data_time is not None:
            ids.add(str(hj212_reading_id(packet.mn, packet.cn, data_time)))
    return ids
