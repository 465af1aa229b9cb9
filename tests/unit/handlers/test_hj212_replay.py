"""Archived packets read again through the gateway's parser (handlers.hj212.replay): what a drill replays."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from contingency.hj212 import station_links
from contingency.ids import hj212_reading_id
from contingency.loader import load_plan, load_standards
from handlers.hj212.frame import encode_frame
from handlers.hj212.packet import Packet, PacketError, encode_segment
from handlers.hj212.replay import PacketReplay, packet_of, reading_ids
from handlers.hj212.station import Value, upload_packet
from handlers.hj212.uploads import CHINA
from schemas import QualityFlag, StationPacket

PLAN = load_plan(Path(__file__).resolve().parents[3] / "plans" / "arxan.yaml")
TABLE = load_standards().hj212
MN = "150000HLHDSK000000000001"
AT = dt.datetime(2026, 7, 22, 8, 40, tzinfo=CHINA)


def archived(packet: Packet, mn: str = MN, frame: bytes | None = None) -> StationPacket:
    raw = (frame or encode_frame(encode_segment(packet))).decode("ascii").rstrip("\r\n")
    return StationPacket(mn=mn, station_id="hlh_dsk_auto", cn=packet.cn, version=packet.version.value, packet=raw,
                         peer="10.0.0.7:40001", received_at=AT + dt.timedelta(seconds=20))


def upload(values: dict[str, Value], at: dt.datetime = AT) -> Packet:
    return upload_packet(MN, "pw123456", at, values, at)


def replay() -> PacketReplay:
    return PacketReplay(station_links(PLAN, TABLE), TABLE)


def test_an_upload_becomes_the_reading_the_gateway_made() -> None:
    packet = upload({"w01001": Value(6.1), "w20115": Value(0.0062), "w21003": Value(0.9, "C")})
    reading = replay().read(archived(packet))
    assert reading is not None and reading.station_id == "hlh_dsk_auto" and reading.observed_at == AT
    assert {(m.parameter, m.value, m.unit, m.flag) for m in reading.measurements} == {
        ("pH", 6.1, "dimensionless", QualityFlag.NORMAL), ("cadmium", 0.0062, "mg/L", QualityFlag.NORMAL),
        ("ammonia_nitrogen", 0.9, "mg/L", QualityFlag.CALIBRATION)}
    assert reading.event_id == hj212_reading_id(MN, "2011", "20260722084000")


def test_a_resent_packet_is_the_same_reading() -> None:
    reader = replay()
    packet = upload({"w01001": Value(6.1)})
    resent = upload_packet(MN, "pw123456", AT, {"w01001": Value(6.1)}, AT + dt.timedelta(seconds=10))
    assert packet.qn != resent.qn
    first, second = reader.read(archived(packet)), reader.read(archived(resent))
    assert first is not None and second is not None and first.event_id == second.event_id


def test_split_parts_are_put_back_together_in_order_of_arrival() -> None:
    whole = upload({"w01001": Value(6.1), "w20115": Value(0.0062)})
    cp_one, cp_two = "DataTime=20260722084000;w01001-Rtd=6.1,w01001-Flag=N", \
        "DataTime=20260722084000;w20115-Rtd=0.0062,w20115-Flag=N"
    first = Packet(st=whole.st, cn=whole.cn, pw=whole.pw, mn=MN, cp=cp_one, qn=whole.qn, flag=whole.flag | 2,
                   pnum=2, pno=1)
    second = Packet(st=whole.st, cn=whole.cn, pw=whole.pw, mn=MN, cp=cp_two, qn=whole.qn, flag=whole.flag | 2,
                    pnum=2, pno=2)
    reader = replay()
    assert reader.read(archived(second)) is None  # the first to come is held
    reading = reader.read(archived(first))
    assert reading is not None and {m.parameter for m in reading.measurements} == {"pH", "cadmium"}


def test_a_packet_that_is_not_an_upload_makes_no_reading() -> None:
    notice = Packet(st="91", cn="9011", pw="pw123456", mn=MN, cp="QnRtn=1", qn="20260722084000123", flag=4)
    assert replay().read(archived(notice)) is None


@pytest.mark.parametrize("change, reason", [
    (lambda a: a.model_copy(update={"mn": "150000NOTINPLAN000000001"}), "not an HJ 212 station of the plan"),
    (lambda a: a.model_copy(update={"packet": a.packet[:-4] + "0000"}), "CRC"),
    (lambda a: a.model_copy(update={"packet": a.packet[:30]}), "frame is not sound: bad length"),
])
def test_an_archived_packet_that_would_not_parse_is_an_error_naming_why(change, reason: str) -> None:
    with pytest.raises(PacketError, match=reason):
        replay().read(change(archived(upload({"w01001": Value(6.1)}))))


def test_the_archive_must_name_the_frames_own_mn() -> None:
    other = "150000ARXSY0000000000001"  # the city source station: in the plan, but not this frame's
    with pytest.raises(PacketError, match="is not the archive's"):
        packet_of(archived(upload({"w01001": Value(6.1)}), mn=other))


def test_reading_ids_are_the_ids_the_packets_make_and_skip_what_is_unreadable() -> None:
    packets = [archived(upload({"w01001": Value(6.1)}, AT + dt.timedelta(minutes=k))) for k in range(3)]
    broken = packets[0].model_copy(update={"packet": "##0005hello0000"})
    made = {str(replay().read(p).event_id) for p in packets}  # type: ignore[union-attr]
    assert reading_ids(packets + [broken]) == made and len(made) == 3
