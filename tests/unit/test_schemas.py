import datetime as dt
import json
import uuid

import pytest

from schemas import (
    Command,
    EventDecodeError,
    IncidentOpened,
    InventoryMovement,
    StationReport,
    decode,
    encode,
    incident_event_adapter,
)
from schemas.topics import TopicNames
from schemas.export import all_events, export

UTC = dt.timezone.utc


def reading(**overrides: object) -> dict:
    data = {
        "station_id": "halaha-dashan",
        "observed_at": "2026-07-01T08:00:00+08:00",
        "measurements": [{"parameter": "ammonia_nitrogen", "value": 0.8, "unit": "mg/L"}],
    }
    data.update(overrides)
    return data


def test_station_report_round_trips_through_bytes() -> None:
    report = decode(StationReport, json.dumps(reading()).encode())
    assert report.measurements[0].flag == "N"
    assert report.observed_at.utcoffset() == dt.timedelta(hours=8)
    assert decode(StationReport, encode(report)) == report


@pytest.mark.parametrize(
    "raw, fragment",
    [
        (b"not json at all", "Invalid JSON"),
        (json.dumps(reading(observed_at="2026-07-01T08:00:00")).encode(), "observed_at: Input should have timezone"),
        (json.dumps(reading(measurements=[])).encode(), "measurements: List should have at least 1 item"),
        (b'{"station_id":"s","observed_at":"2026-07-01T00:00:00Z","measurements":[{"parameter":"pH","value":NaN,"unit":"1"}]}',
         "measurements.0.value"),
        (json.dumps(reading(station_id="bad id with spaces")).encode(), "station_id: String should match pattern"),
        (json.dumps(reading(colour="red")).encode(), "colour: Extra inputs are not permitted"),
        (json.dumps(reading(measurements=[{"parameter": "pH", "value": 7, "unit": "1", "flag": "X"}])).encode(),
         "measurements.0.flag"),
        (None, "empty message"),
    ],
)
def test_invalid_readings_are_refused_with_a_reason(raw: bytes | None, fragment: str) -> None:
    with pytest.raises(EventDecodeError) as info:
        decode(StationReport, raw)
    assert fragment in info.value.reason


def test_infinity_is_refused() -> None:
    with pytest.raises(EventDecodeError, match="finite"):
        decode(StationReport, json.dumps(reading(measurements=[{"parameter": "x", "value": 1e400, "unit": "u"}])))


def test_incident_events_decode_by_type() -> None:
    opened = IncidentOpened(
        incident_id=uuid.uuid4(), source_id="halaha", occurred_at=dt.datetime.now(UTC), code="K7Q",
        kind="threshold", rule_id="nh3-iii", level="orange", title="氨氮超标",
    )
    back = incident_event_adapter.validate_json(encode(opened))
    assert isinstance(back, IncidentOpened) and back == opened


def test_command_must_name_an_incident() -> None:
    with pytest.raises(ValueError, match="incident_id or incident_code"):
        Command(action="ack", actor="p1", channel="sms", issued_at=dt.datetime.now(UTC))


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"kind": "dispatch", "quantity": 0}, "must be positive"),
        ({"kind": "adjustment", "quantity": -2}, "needs a reason"),
        ({"kind": "transfer", "quantity": 1}, "to_depot_id is required"),
    ],
)
def test_inventory_movement_rules(fields: dict, message: str) -> None:
    base = {"depot_id": "yirshi", "item_id": "activated_carbon", "unit": "t", "occurred_at": dt.datetime.now(UTC)}
    with pytest.raises(ValueError, match=message):
        InventoryMovement(**base, **fields)


def test_every_event_has_version_id_and_type() -> None:
    for model in all_events():
        fields = model.model_fields
        assert {"schema_version", "event_id", "type"} <= set(fields), model.__name__


def test_export_writes_a_schema_per_event_and_asyncapi(tmp_path) -> None:
    written = export(tmp_path, TopicNames("ers.", 4))
    names = {p.name for p in written}
    assert "StationReport.schema.json" in names and "asyncapi.json" in names
    assert len(names) == len(all_events()) + 1
    doc = json.loads((tmp_path / "asyncapi.json").read_text())
    assert "ers.readings" in doc["channels"] and "ers.dlq" in doc["channels"]
    schema = json.loads((tmp_path / "DeadLetter.schema.json").read_text())
    assert {"source_topic", "partition", "offset", "payload", "error"} <= set(schema["properties"])


def test_numbers_on_the_wire_are_numbers_not_strings_and_finite() -> None:
    import pytest as _pytest

    from schemas import EventDecodeError, InventoryMovement, StationReport, decode

    def report(value: str) -> bytes:
        return ('{"event_id": "6f1e1c2e-1111-4111-8111-111111111111", "station_id": "x", '
                '"observed_at": "2026-12-04T00:00:00Z", "measurements": [{"parameter": "cod", "value": %s, '
                '"unit": "mg/L"}]}' % value).encode()

    assert decode(StationReport, report("7")).measurements[0].value == 7.0
    for bad, reason in (('"1.5"', "not a string ('1.5'"), ("1" + "0" * 400, "finite"), ("NaN", "finite")):
        with _pytest.raises(EventDecodeError) as caught:
            decode(StationReport, report(bad))
        assert reason in caught.value.reason, caught.value.reason
    movement = ('{"event_id": "6f1e1c2e-1111-4111-8111-111111111112", "kind": "receipt", "depot_id": "a", '
                '"item_id": "b", "quantity": "5", "unit": "t", "occurred_at": "2026-12-04T00:00:00Z"}')
    with _pytest.raises(EventDecodeError):
        decode(InventoryMovement, movement)
