"""The gateway's records written from templates (handlers/hj212/records.py) are, byte for byte, what the validated
pydantic models give, and the models read them back; whatever the templates do not cover goes through the models
and ends the same way (the same bytes, or the same error)."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from pathlib import Path

import pytest
from hypothesis import example, given, settings, strategies as st
from pydantic_core import to_json

from contingency.hj212 import StationLink, station_links
from contingency.ids import hj212_reading_id
from contingency.loader import load_plan, load_standards
from handlers.hj212.frame import encode_frame
from handlers.hj212.packet import Packet, Version, encode_segment
from handlers.hj212.readings import to_report
from handlers.hj212.records import (NotUsual, StationRecords, china_time_json, json_float, random_event_id,
                                    reading_event_id, utc_time_json)
from handlers.hj212.station import Value, upload_packet
from handlers.hj212.uploads import CHINA, UploadKind, format_data_time, parse_data_time, read_upload
from schemas import Measurement, StationPacket, StationReport, encode

PLAN_PATH = Path(__file__).resolve().parents[3] / "plans" / "arxan.yaml"
TABLE = load_standards().hj212
LINKS = station_links(load_plan(PLAN_PATH), TABLE)
LINK = LINKS["150000HLHDSK000000000001"]
UTC = dt.timezone.utc
FAST = settings(max_examples=300, deadline=None)
MANY = settings(max_examples=1500, deadline=None)


def outcome(call):
    """What a call gives, or the error it raises (type and message): both paths must end the same way."""
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - the error itself is the result compared
        return ("raised", type(exc).__name__, str(exc))


def reference_reading(packet: Packet, link: StationLink, drill_id: str | None = None):
    translation = to_report(read_upload(packet), link, TABLE, drill_id)
    return (None if translation.report is None else encode(translation.report)), translation.unknown_codes


# -- values -------------------------------------------------------------------------------------------------------

@MANY
@given(st.floats(allow_nan=False, allow_infinity=False))
@example(1e-5)
@example(1e-7)
@example(1e16)
@example(1e15)
@example(-0.0)
@example(5e-324)
@example(0.0001)
def test_a_float_is_written_as_pydantic_writes_it(value):
    model = Measurement(parameter="p", value=value, unit="u")
    assert encode(model) == f'{{"parameter":"p","value":{json_float(value)},"unit":"u","flag":"N"}}'.encode()


@FAST
@given(st.datetimes(timezones=st.just(UTC)))
def test_a_utc_time_is_written_as_pydantic_writes_it(when):
    model = StationPacket(mn="M", station_id="s", cn="2011", version="2017", packet="p", peer="", received_at=when)
    assert f'"received_at":{utc_time_json(when)},'.encode() in encode(model)


@pytest.mark.parametrize("when", [dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 1, tzinfo=CHINA),
                                  dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(0), "GMT"))])
def test_other_times_are_left_to_the_model(when):
    assert utc_time_json(when) is None


@FAST
@given(st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59)))
def test_a_data_time_is_written_as_pydantic_writes_it(when):
    text = format_data_time(when.replace(tzinfo=CHINA))
    model = StationReport(station_id="s", observed_at=parse_data_time(text),
                          measurements=[Measurement(parameter="p", value=1.0, unit="u")])
    assert f'"observed_at":{china_time_json(text)},'.encode() in encode(model)


@FAST
@given(st.text(st.characters(blacklist_categories=("Cs",))), st.text(max_size=6), st.text(max_size=20))
def test_reading_event_id_is_the_contingency_id(mn, cn, data_time):
    assert reading_event_id(mn, cn, data_time) == str(hj212_reading_id(mn, cn, data_time))


def test_random_event_ids_are_uuid4_and_distinct():
    ids = [random_event_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_random_event_ids_differ_in_a_forked_child():
    random_event_id()  # the parent has random bytes in hand: the child must not use them too
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        os.write(write_end, random_event_id().encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    assert os.read(read_end, 100).decode() != random_event_id()
    os.close(read_end)


# -- readings -----------------------------------------------------------------------------------------------------

def usual_packet(values: dict[str, Value], kind=UploadKind.REALTIME, version=Version.HJ212_2017,
                 when=dt.datetime(2026, 5, 1, 8, 0, tzinfo=CHINA)) -> Packet:
    return upload_packet(LINK.mn, "123456", when, values, when, kind, version=version)


@pytest.mark.parametrize("kind", list(UploadKind))
@pytest.mark.parametrize("version", list(Version))
def test_usual_uploads_take_the_templates_and_give_the_models_bytes(kind, version):
    codes = ("w20115", "w20123", "w21003") if version is Version.HJ212_2017 else ("022", "030", "060")
    flags = "NF" if version is Version.HJ212_2017 else "NP"
    packet = usual_packet({code: Value(0.001 * (i + 1), flags[i % 2]) for i, code in enumerate(codes)}
                          | {"w99999": Value(1.0)}, kind, version)
    records = StationRecords(LINK, TABLE)
    fast = records.usual_reading(packet)  # no NotUsual: the usual shape
    assert fast == reference_reading(packet, LINK)
    value, unknown = fast
    assert unknown == ("w99999",)
    if kind.value in LINK.readings_from:
        model = StationReport.model_validate_json(value)
        assert encode(model) == value and model.station_id == LINK.station_id and len(model.measurements) == 3
    else:
        assert value is None


CODES = sorted(LINK.codes) + ["w01018", "011", "w99999", "", "W20115", "w20115-x"]  # planned, unplanned, unknown
ITEMS = ["Rtd", "Avg", "Min", "Max", "Cou", "Flag", "SampleTime", "ZsRtd", "EFlag", "rtd", ""]
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
PLAIN_NUMBERS = st.builds(lambda f, places: f"{f:.{places}f}", st.floats(-1e6, 1e6), st.integers(0, 6))  # 12.340
GOOD_NUMBERS = st.one_of(
    FLOATS.map(repr), PLAIN_NUMBERS,
    st.floats(width=32, allow_nan=False, allow_infinity=False).map(lambda f: f"{f:g}"),
    st.sampled_from(["0.004", "1e-7", "1E5", " 1.5", "1_0", "+.5", "-0", "1.0" + "0" * 29]))
ODD_NUMBERS = st.sampled_from(["nan", "inf", "-Infinity", "", "abc", "0x10", "1" * 33])
GOOD_FLAGS = st.sampled_from("NFMSDCTBP")  # P: 2005 only
ODD_FLAGS = st.sampled_from(["X", "n", "", "NN", "1", "é"])
GOOD_DATA_TIMES = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)).map(
    lambda d: format_data_time(d.replace(tzinfo=CHINA)))
ODD_DATA_TIMES = st.sampled_from(["20260230080000", "2026050108000", "20260501080000x", "", "２0260501080000"])
JUNK = st.sampled_from(["Foo=1", "noeq", "=x", "DataTime", "CN=2011", "-Rtd=1", "DataTime=20260501080000"])


@st.composite
def cps(draw):
    """CP texts, most of the usual shape (so that most examples take the templates), some with one or more odd
    things in them (so that the others fall back)."""
    odd = draw(st.integers(0, 3)) == 0  # a quarter of the examples may hold odd things

    def maybe_odd(good, bad):
        return draw(bad) if odd and draw(st.integers(0, 3)) == 0 else draw(good)

    groups = []
    if not (odd and draw(st.booleans()) and draw(st.booleans())):
        groups.append([f"DataTime={maybe_odd(GOOD_DATA_TIMES, ODD_DATA_TIMES)}"])
    for code in draw(st.lists(st.sampled_from(CODES if odd else CODES[:-3]), max_size=6, unique=True)):
        items = draw(st.lists(st.sampled_from(ITEMS if odd else ["Rtd", "Avg", "Min", "Max", "Cou", "Flag",
                                                                  "SampleTime"]), min_size=1, max_size=5,
                              unique=True))
        groups.append([f"{code}-{item}={maybe_odd(GOOD_FLAGS, ODD_FLAGS)}" if item.endswith("Flag")
                       else f"{code}-{item}={maybe_odd(GOOD_NUMBERS, ODD_NUMBERS)}" for item in items])
    if odd:
        for _ in range(draw(st.integers(0, 2))):
            where = draw(st.integers(0, len(groups)))
            groups[where:where] = [[draw(st.one_of(JUNK, st.sampled_from([i for g in groups for i in g] or ["x=1"])))]]
    if groups and draw(st.booleans()):
        groups = draw(st.permutations(groups))
    separators = draw(st.sampled_from([(";", ","), (",", ","), (";;", ",,"), (";", ",;")]))  # ;; ,, empty items
    return separators[0].join(separators[1].join(group) for group in groups)


@MANY
@given(cps(), st.sampled_from(["2011", "2051", "2061", "2031", "1062"]), st.sampled_from(list(Version)),
       st.sampled_from([None, "drill-7", "bad id"]))
def test_any_upload_ends_as_through_the_models(cp, cn, version, drill_id):
    packet = Packet("21", cn, "123456", LINK.mn, cp, qn="20260501080000123", flag=5, version=version)
    records = StationRecords(LINK, TABLE, drill_id)
    expected = outcome(lambda: reference_reading(packet, LINK, drill_id))
    assert outcome(lambda: records.reading(packet)) == expected
    if expected[0] != "raised" and expected[0] is not None:
        report = StationReport.model_validate_json(expected[0])
        assert encode(report) == expected[0]


def other_values(draw, cp: str) -> str:
    """The same CP (names, separators) with other values: what a station sends next; in a quarter of the examples
    some of them odd."""
    odd = draw(st.integers(0, 3)) == 0
    parts = re.split(r"([;,])", cp)
    for index in range(0, len(parts), 2):
        name, eq, _ = parts[index].partition("=")
        if not eq:
            continue
        item = name.partition("-")[2]
        if name == "DataTime":
            value = draw(st.one_of(GOOD_DATA_TIMES, ODD_DATA_TIMES) if odd else GOOD_DATA_TIMES)
        elif item.endswith("Flag"):
            value = draw(st.one_of(GOOD_FLAGS, ODD_FLAGS) if odd else GOOD_FLAGS)
        elif item in ("Rtd", "Avg", "Min", "Max", "Cou"):
            value = draw(st.one_of(PLAIN_NUMBERS, GOOD_NUMBERS, ODD_NUMBERS) if odd else PLAIN_NUMBERS)
        else:
            value = draw(st.text(st.characters(max_codepoint=0x7F, blacklist_characters=";,"), max_size=5))
        parts[index] = f"{name}={value}"
    return "".join(parts)


@MANY
@given(cps(), st.data(), st.sampled_from(["2011", "2051", "2061", "2031"]), st.sampled_from([None, "drill-7"]))
def test_a_cp_read_in_a_learnt_form_ends_as_through_the_models(cp, data, cn, drill_id):
    records = StationRecords(LINK, TABLE, drill_id)
    for _ in range(3):  # the first teaches its form, if usual; the next ones may be read in it
        version = data.draw(st.sampled_from(list(Version)))
        packet = Packet("21", cn, "123456", LINK.mn, cp, qn="20260501080000123", flag=5, version=version)
        assert outcome(lambda: records.reading(packet)) == outcome(lambda: reference_reading(packet, LINK, drill_id))
        cp = other_values(data.draw, cp)


def test_the_next_usual_cp_is_read_in_its_form():
    records = StationRecords(LINK, TABLE)
    first = usual_packet({"w20115": Value(0.004, "N"), "w20123": Value(0.05, "D"), "w99999": Value(1.0)})
    second = usual_packet({"w20115": Value(0.005, "T"), "w20123": Value(0.06), "w99999": Value(2.0)},
                          when=dt.datetime(2026, 5, 1, 8, 1, tzinfo=CHINA))
    assert records.usual_reading(first) == reference_reading(first, LINK)
    [form] = records._forms["2011"]
    assert form.pattern.fullmatch(second.cp) and form.unknown == ("w99999",)
    assert records.usual_reading(second) == reference_reading(second, LINK)
    odd = Packet("21", "2011", "123456", LINK.mn, second.cp.replace("0.005", "5e-3"), qn="1" * 17, flag=5)
    assert not form.pattern.fullmatch(odd.cp)  # the form takes plain decimals only: the rest is read item by item
    assert records.usual_reading(odd) == reference_reading(odd, LINK)
    assert records._forms["2011"] == [form], "the same form is not learnt twice"


@pytest.mark.parametrize("drill_id", [None, "drill-7"])
def test_exponents_and_drills_take_the_templates(drill_id):
    packet = Packet("21", "2011", "123456", LINK.mn, "DataTime=20260501080000;w20115-Rtd=0.004,w20115-Flag=N;"
                    "w20123-Rtd=1e-05;w21003-Rtd=1.5e+300", qn="20260501080000123", flag=5)
    value, _ = StationRecords(LINK, TABLE, drill_id).usual_reading(packet)
    assert value == reference_reading(packet, LINK, drill_id)[0]
    assert b'"value":0.00001,' in value and b'"value":1.5e+300,' in value


@pytest.mark.parametrize("cp", [
    "DataTime=20260501080000;w20115-Rtd=1;w20115-Rtd=2",          # a value twice
    "DataTime=20260501080000;DataTime=20260501080000;w20115-Rtd=1",  # DataTime in two groups, the same: accepted
    "DataTime=20260501080000;w20115-Rtd=1,w20115-Flag=X",         # not a data flag
    "DataTime=20260501080000;w20115-Rtd=nan",
    "DataTime=20260230080000;w20115-Rtd=1",
    "DataTime=20260501080000;Foo=1;w20115-Rtd=1",                 # an item of the upload, not of a factor
    "w20115-Rtd=1",
])
def test_unusual_uploads_go_through_the_models(cp):
    packet = Packet("21", "2011", "123456", LINK.mn, cp, qn="20260501080000123", flag=5)
    records = StationRecords(LINK, TABLE)
    with pytest.raises(NotUsual):
        records.usual_reading(packet)
    assert outcome(lambda: records.reading(packet)) == outcome(lambda: reference_reading(packet, LINK))


@pytest.mark.parametrize("station_id, unit, drill_id", [
    ("00000000-0000-0000-0000-000000000000", "mg/L", None),   # the template's placeholder id, as a station id
    ("s", "mg/L", "2000-01-01T00:00:00Z"),                    # a placeholder time, as a drill id
    ("s", "x" * 33, None),                                    # a unit the model refuses
    ("bad id", "mg/L", None),                                 # a station id the model refuses
    ("s", '"value":0.5 μg/L', None),                          # a unit holding the value's placeholder
])
def test_odd_plan_entries_end_as_through_the_models(station_id, unit, drill_id):
    link = StationLink(station_id, "MN1", "PW_ENV", frozenset({"realtime"}), {"w20115": "cadmium"},
                       {"cadmium": unit}, "src")
    packet = Packet("21", "2011", "123456", "MN1", "DataTime=20260501080000;w20115-Rtd=0.004,w20115-Flag=N",
                    qn="20260501080000123", flag=5)
    records = StationRecords(link, TABLE, drill_id)
    assert outcome(lambda: records.reading(packet)) == outcome(lambda: reference_reading(packet, link, drill_id))


def test_a_planned_code_without_a_unit_fails_as_before():
    link = StationLink("s", "MN1", "PW_ENV", frozenset({"realtime"}), {"w20115": "cadmium"}, {}, "src")
    packet = Packet("21", "2011", "123456", "MN1", "DataTime=20260501080000;w20115-Rtd=0.004", qn="1" * 17, flag=5)
    got = outcome(lambda: StationRecords(link, TABLE).reading(packet))
    assert got == outcome(lambda: reference_reading(packet, link)) and got[1] == "KeyError"


# -- the raw archive ----------------------------------------------------------------------------------------------

def same_raw(records: StationRecords, packet: Packet, frame_raw: bytes, peer: str, when) -> None:
    got = outcome(lambda: records.raw(packet, frame_raw, peer, to_json(peer), when))
    if isinstance(got, tuple):
        assert got == outcome(lambda: records.raw_model(packet, frame_raw, peer, when)), got
        return
    event_id = uuid.UUID(json.loads(got)["event_id"])
    assert event_id.version == 4
    model = records.raw_model(packet, frame_raw, peer, when, event_id)
    assert got == encode(model)
    assert StationPacket.model_validate_json(got) == model


@pytest.mark.parametrize("version", list(Version))
def test_usual_raw_record_is_the_models_bytes(version):
    packet = usual_packet({"w20115": Value(0.004)}, version=version)
    frame = encode_frame(encode_segment(packet))
    records = StationRecords(LINK, TABLE, "drill-1")
    same_raw(records, packet, frame, "127.0.0.1:50000", dt.datetime.now(UTC))
    template = records._raw_templates[(packet.cn, version.value)]
    assert template is not None, "the usual packet takes the template"


@FAST
@given(st.binary(max_size=300), st.text(max_size=30),
       st.one_of(st.datetimes(timezones=st.just(UTC)),
                 st.datetimes(timezones=st.sampled_from([CHINA, dt.timezone(dt.timedelta(hours=-5))])),
                 st.datetimes()),
       st.sampled_from(["2011", "9014", "2051", "20111"]), st.sampled_from(list(Version)),
       st.sampled_from([None, "d-1", "2000-01-01T00:00:00Z"]), st.sampled_from([b"\r\n", b"\r\n", b"\n\r\n", b""]))
@example(b'QN=1;"quoted"\\back', "::1", dt.datetime(2026, 1, 1, tzinfo=UTC), "2011", Version.HJ212_2017, None,
         b"\r\n")
def test_any_raw_record_ends_as_through_the_model(segment, peer, when, cn, version, drill_id, end):
    packet = Packet("21", cn, "123456", LINK.mn, "", qn=None, flag=4, version=version)
    frame = b"##%04d%s1C80%s" % (len(segment), segment, end)  # the reader checked the CRC: not this one's business
    same_raw(StationRecords(LINK, TABLE, drill_id), packet, frame, peer, when)
