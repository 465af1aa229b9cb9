"""HJ 212 uploads -> StationReport through the plan (station hlh_dsk_auto of plans/arxan.yaml), split-upload
reassembly, and the station directory (MN / password checks)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from contingency.hj212 import station_links
from contingency.loader import load_plan, load_standards
from handlers.hj212.codes import DATA_FLAGS_2005, DATA_FLAGS_2017
from handlers.hj212.directory import StationDirectory
from handlers.hj212.frame import FrameReader, encode_frame
from handlers.hj212.packet import Packet, PacketError, Version, encode_segment, parse_segment
from handlers.hj212.readings import to_report
from handlers.hj212.uploads import CHINA, Reassembler, UploadKind, parse_data_time, read_upload
from schemas.readings import QualityFlag

PLAN_PATH = Path(__file__).resolve().parents[3] / "plans" / "arxan.yaml"
MN = "150000HLHDSK000000000001"
PW_ENV = "ERS_HJ212_PW_HLH_DSK"
UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def plan():
    return load_plan(PLAN_PATH)


@pytest.fixture(scope="module")
def table():
    return load_standards().hj212


@pytest.fixture(scope="module")
def link(plan, table):
    return station_links(plan, table)[MN]


def wire_packet(cp: str, *, cn="2011", qn="20260501080000123", flag: int | None = 5, mn=MN, pnum=None, pno=None,
                version=Version.HJ212_2017) -> Packet:
    """Encode, frame, read back and parse: the packet as the gateway would get it."""
    packet = Packet("21", cn, "123456", mn, cp, qn=qn, flag=flag, pnum=pnum, pno=pno, version=version)
    [frame] = FrameReader().feed(encode_frame(encode_segment(packet)))
    return parse_segment(frame.segment)


def translate(cp: str, link, table, **kw):
    return to_report(read_upload(wire_packet(cp, **kw)), link, table)


def test_plan_link_for_hlh_dsk_auto(link):
    assert link.station_id == "hlh_dsk_auto"
    assert link.password_env == PW_ENV
    assert link.codes["w20115"] == "cadmium" and link.codes["022"] == "cadmium"
    assert "realtime" in link.readings_from


# --- uploads ---------------------------------------------------------------------------------------------------

def test_data_time_is_china_time():
    when = parse_data_time("20260501080000")
    assert when.utcoffset() == dt.timedelta(hours=8)
    assert when == dt.datetime(2026, 5, 1, 0, 0, tzinfo=UTC)
    for bad in ("2026050108000", "2026050108000x", "20261301080000", "20260230080000"):
        with pytest.raises(PacketError):
            parse_data_time(bad)


def test_read_realtime_upload():
    upload = read_upload(wire_packet("DataTime=20260501080000;w20115-Rtd=0.004,w20115-Flag=N"))
    assert upload.kind is UploadKind.REALTIME
    assert upload.data_time == dt.datetime(2026, 5, 1, 8, 0, tzinfo=CHINA)
    [factor] = upload.factors
    assert (factor.code, factor.values, factor.flag) == ("w20115", {"Rtd": 0.004}, "N")


@pytest.mark.parametrize("cp, reason", [
    ("w20115-Rtd=0.004", "no DataTime"),
    ("DataTime=20260501080000;w20115-Rtd=abc", "not a number"),
    ("DataTime=20260501080000;w20115-Rtd=nan", "finite"),
    ("DataTime=20260501080000;w20115-Rtd=inf", "finite"),
    ("DataTime=20260501080000;w20115-Rtd=1,w20115-Flag=NN", "one-letter"),
    ("DataTime=20260501080000;w20115-Rtd=1;w20115-Rtd=2", "twice"),
])
def test_bad_uploads_refused(cp, reason):
    with pytest.raises(PacketError, match=reason):
        read_upload(wire_packet(cp))


def test_non_upload_command_refused():
    with pytest.raises(PacketError, match="not a data upload"):
        read_upload(wire_packet("RtdInterval=30", cn="1062"))


# --- readings ---------------------------------------------------------------------------------------------------

def test_realtime_upload_becomes_station_report(link, table):
    result = translate("DataTime=20260501080000;w20115-Rtd=0.004,w20115-Flag=N", link, table)
    report = result.report
    assert report is not None
    assert report.station_id == "hlh_dsk_auto"
    [m] = report.measurements
    assert (m.parameter, m.value, m.unit, m.flag) == ("cadmium", 0.004, "mg/L", QualityFlag.NORMAL)
    assert report.observed_at.utcoffset() is not None
    assert report.observed_at == dt.datetime(2026, 5, 1, 0, 0, tzinfo=UTC)  # 08:00 China time
    assert result.unknown_codes == () and result.unplanned_codes == ()


def test_event_id_stable_for_mn_cn_datatime(link, table):
    cp = "DataTime=20260501080000;w20115-Rtd=0.004,w20115-Flag=N"
    first = translate(cp, link, table).report.event_id
    again = translate(cp, link, table).report.event_id
    resent_other_qn = translate(cp, link, table, qn="20260501080500999").report.event_id
    other_value = translate(cp.replace("0.004", "0.005"), link, table).report.event_id
    later = translate(cp.replace("080000", "080100"), link, table).report.event_id
    minute = translate(cp.replace("Rtd", "Avg"), link, table, cn="2051").report.event_id
    assert first == again == resent_other_qn == other_value
    assert later != first
    assert minute != first


@pytest.mark.parametrize("letter, quality", [
    ("N", QualityFlag.NORMAL), ("F", QualityFlag.STOPPED), ("M", QualityFlag.MAINTENANCE),
    ("S", QualityFlag.MANUAL), ("D", QualityFlag.FAULT), ("C", QualityFlag.CALIBRATION),
    ("T", QualityFlag.OVER_RANGE), ("B", QualityFlag.COMMS_FAULT),
])
def test_data_flags_map_to_quality(link, table, letter, quality):
    assert DATA_FLAGS_2017[letter] is quality
    result = translate(f"DataTime=20260501080000;w20115-Rtd=0.004,w20115-Flag={letter}", link, table)
    assert result.report.measurements[0].flag is quality


def test_missing_flag_is_normal_and_unknown_flag_refused(link, table):
    result = translate("DataTime=20260501080000;w20115-Rtd=0.004", link, table)
    assert result.report.measurements[0].flag is QualityFlag.NORMAL
    with pytest.raises(PacketError, match="not a data flag"):
        translate("DataTime=20260501080000;w20115-Rtd=0.004,w20115-Flag=X", link, table)
    with pytest.raises(PacketError, match="not a data flag"):  # P is 2005 only
        translate("DataTime=20260501080000;w20115-Rtd=0.004,w20115-Flag=P", link, table)


def test_unknown_and_unplanned_codes_listed_known_values_kept(link, table):
    result = translate("DataTime=20260501080000;w20115-Rtd=0.004,w20115-Flag=N;w99999-Rtd=1.5,w99999-Flag=N;"
                       "w01018-Rtd=20,w01018-Flag=N;w20123-Rtd=0.05,w20123-Flag=D", link, table)
    assert result.unknown_codes == ("w99999",)
    assert result.unplanned_codes == ("w01018",)  # COD: in the factor table, not watched at this station
    got = {m.parameter: (m.value, m.flag) for m in result.report.measurements}
    assert got == {"cadmium": (0.004, QualityFlag.NORMAL), "zinc": (0.05, QualityFlag.FAULT)}


def test_only_unknown_codes_gives_no_report(link, table):
    result = translate("DataTime=20260501080000;w99999-Rtd=1.5", link, table)
    assert result.report is None and result.unknown_codes == ("w99999",)


def test_interval_upload_uses_avg(link, table):
    result = translate("DataTime=20260501080000;w20115-Avg=0.003,w20115-Min=0.001,w20115-Max=0.006,"
                       "w20115-Flag=N", link, table, cn="2061")
    assert result.report.measurements[0].value == 0.003
    no_avg = translate("DataTime=20260501080000;w20115-Rtd=0.003", link, table, cn="2061")
    assert no_avg.report is None and no_avg.notes


def test_day_upload_is_not_a_reading_at_this_station(link, table):
    assert "day" not in link.readings_from
    result = translate("DataTime=20260501000000;w20115-Avg=0.003", link, table, cn="2031")
    assert result.report is None


def test_2005_edition_code_022_is_cadmium(link, table):
    packet = wire_packet("DataTime=20260501080000;022-Rtd=0.004,022-Flag=N", flag=None, qn=None,
                         version=Version.HJ212_2005)
    assert packet.version is Version.HJ212_2005
    result = to_report(read_upload(packet), link, table)
    [m] = result.report.measurements
    assert (m.parameter, m.value, m.flag) == ("cadmium", 0.004, QualityFlag.NORMAL)
    assert result.unknown_codes == ()


def test_2005_power_failure_flag_is_fault(link, table):
    assert DATA_FLAGS_2005["P"] is QualityFlag.FAULT
    packet = wire_packet("DataTime=20260501080000;022-Rtd=0.004,022-Flag=P", flag=0, version=Version.HJ212_2005)
    result = to_report(read_upload(packet), link, table)
    assert result.report.measurements[0].flag is QualityFlag.FAULT


# --- split uploads ----------------------------------------------------------------------------------------------

PART_1 = "DataTime=20260501080000;w20115-Rtd=0.004,w20115-Flag=N"
PART_2 = "DataTime=20260501080000;w20123-Rtd=0.05,w20123-Flag=N"


def parts(qn="20260501080000123"):
    return (wire_packet(PART_1, flag=7, pnum=2, pno=1, qn=qn), wire_packet(PART_2, flag=7, pnum=2, pno=2, qn=qn))


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_split_upload_reassembled_when_both_parts_arrived(link, table, order):
    first, second = (parts()[i] for i in order)
    assembler = Reassembler()
    assert assembler.add(first, now=0.0) is None
    assert len(assembler) == 1
    whole = assembler.add(second, now=1.0)
    assert whole is not None and len(assembler) == 0
    assert whole.pnum is None and whole.pno is None and not whole.split
    result = to_report(read_upload(whole), link, table)
    assert {m.parameter: m.value for m in result.report.measurements} == {"cadmium": 0.004, "zinc": 0.05}


def test_split_part_resent_does_not_complete_the_set():
    first, second = parts()
    assembler = Reassembler()
    assert assembler.add(first, now=0.0) is None
    assert assembler.add(first, now=1.0) is None
    assert assembler.add(second, now=2.0) is not None


def test_split_parts_of_other_qn_do_not_mix():
    a1, _ = parts("20260501080000123")
    _, b2 = parts("20260501080000999")
    assembler = Reassembler()
    assert assembler.add(a1, now=0.0) is None
    assert assembler.add(b2, now=0.0) is None
    assert len(assembler) == 2


def test_unsplit_packet_passes_through_and_incomplete_set_expires():
    whole = wire_packet(PART_1)
    assembler = Reassembler(timeout_seconds=10)
    assert assembler.add(whole, now=0.0) is whole
    first, _ = parts()
    assembler.add(first, now=0.0)
    assert assembler.expired(now=5.0) == []
    assert assembler.expired(now=11.0) == [[first]]
    assert len(assembler) == 0


# --- directory --------------------------------------------------------------------------------------------------

def test_directory_refusals_name_the_reason(plan, table):
    directory = StationDirectory.from_plan(plan, table, {PW_ENV: "s3cret"})
    link, reason = directory.check("150000NOSUCH000000000001", "s3cret")
    assert link is None and "unknown MN" in reason and "150000NOSUCH000000000001" in reason
    link, reason = directory.check(MN, "wrong")
    assert link is None and "wrong password" in reason and "hlh_dsk_auto" in reason
    link, reason = directory.check(MN, "s3cret")
    assert reason is None and link.station_id == "hlh_dsk_auto"
    assert directory.by_station("hlh_dsk_auto") is link


@pytest.mark.parametrize("environ", [{}, {PW_ENV: ""}])
def test_directory_refuses_station_with_unset_password(plan, table, environ):
    directory = StationDirectory.from_plan(plan, table, environ)
    link, reason = directory.check(MN, "")
    assert link is None
    assert "hlh_dsk_auto" in reason and PW_ENV in reason and "unset" in reason
    assert any(l.station_id == "hlh_dsk_auto" for l in directory.unconfigured())
