import base64
import datetime as dt
from pathlib import Path

import pytest

from handlers.event_files import read_events
from streams.config import ConfigError, load_settings
from streams.dead_letters import dead_letter_for
from schemas.topics import TopicNames as Topics

NOW = dt.datetime(2026, 7, 1, tzinfo=dt.timezone.utc)


def test_dead_letter_keeps_text_payloads_and_encodes_binary_ones() -> None:
    text = dead_letter_for(topic="ers.readings", partition=2, offset=41, key=b"s1", value=b"garbage",
                           error="Invalid JSON", agent="rules", failed_at=NOW, max_bytes=1_000_000)
    assert (text.payload, text.payload_encoding, text.key, text.offset) == ("garbage", "utf-8", "s1", 41)
    binary = dead_letter_for(topic="t", partition=0, offset=0, key=None, value=b"\xff\x00", error="e",
                             agent="rules", failed_at=NOW, max_bytes=1_000_000)
    assert binary.payload_encoding == "base64" and base64.b64decode(binary.payload) == b"\xff\x00"


def test_settings_precedence_and_errors(tmp_path) -> None:
    toml = tmp_path / "ers.toml"
    toml.write_text('[ers]\nbroker = "10.0.0.1:9092"\npartitions = 2\n')
    settings = load_settings(env={"ERS_PARTITIONS": "8"}, config_file=toml)
    assert settings.bootstrap == "10.0.0.1:9092" and settings.partitions == 8
    with pytest.raises(ConfigError, match="ERS_PARTITIONS"):
        load_settings(env={"ERS_PARTITIONS": "many"})
    toml.write_text('[ers]\nbrokr = "x"\n')
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(env={}, config_file=toml)


def test_topics_share_the_prefix_and_keep_co_partitioning() -> None:
    topics = Topics(prefix="drill7.", partitions=4)
    specs = {s.name: s.partitions for s in topics.specs()}
    assert specs["drill7.readings"] == specs["drill7.ticks"] == 4
    assert specs["drill7.detections"] == 1
    assert all(name.startswith("drill7.") for name in specs)


def test_event_file_keys_bare_events_and_passes_garbage_through(tmp_path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('# comment\n{"station_id": "s1", "x": 1}\nnot json\n'
                    '{"topic": "ers.reports", "key": "k", "value": {"a": 1}}\n\n')
    events = list(read_events(path, "ers.readings"))
    assert [(e.line, e.topic, e.key) for e in events] == [
        (2, "ers.readings", b"s1"), (3, "ers.readings", None), (4, "ers.reports", b"k")]
    assert events[1].value == b"not json"


def test_secrets_are_refused_in_a_config_file(tmp_path) -> None:
    toml = tmp_path / "ers.toml"
    toml.write_text('[ers]\ntwilio_auth_token = "abc"\n')
    with pytest.raises(ConfigError, match="ERS_TWILIO_AUTH_TOKEN"):
        load_settings(env={}, config_file=toml)
    settings = load_settings(env={"ERS_TWILIO_AUTH_TOKEN": "abc", "ERS_TWILIO_ACCOUNT_SID": "AC1",
                                  "ERS_TWILIO_FROM": "+15005550006", "ERS_WEB_PORT": "7001"})
    assert settings.sms_configured and settings.webhook_base == "http://127.0.0.1:7001"


@pytest.mark.parametrize("argv, expected", [
    (["kafka", "start", "--port", "99999"], "expected a port number 1-65535"),
    (["sms", "reply", "--from", "13800000001", "1"], "expected an E.164 phone number"),
    (["roster", "now", "--at", "2026-07-01T09:00"], "expected a time with its offset"),
    (["produce", "/no/such/file.jsonl"], "expected an existing file"),
])
def test_bad_cli_arguments_say_what_was_expected(argv: list[str], expected: str, capsys) -> None:
    from streams.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert expected in capsys.readouterr().err


def test_drill_validate_accepts_the_shipped_scenarios_and_names_lines(tmp_path, capsys) -> None:
    from pathlib import Path

    from streams.cli import main

    for scenario in sorted(Path("drills").glob("*.jsonl")):
        assert main(["drill", "validate", str(scenario)]) == 0, capsys.readouterr()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"topic": "readings", "key": "x", "at": "2026-07-22T06:00:00+08:00", "payload": {}}\n')
    assert main(["drill", "validate", str(bad)]) == 1
    assert f"{bad}:1: payload.station_id: Field required" in capsys.readouterr().out


def test_record_clock_reads_the_records_time_and_remembers_the_latest() -> None:
    from types import SimpleNamespace

    from streams.clocks import RecordClock, WallClock, clock_for

    def record(seconds: float) -> SimpleNamespace:
        return SimpleNamespace(message=SimpleNamespace(timestamp=seconds))

    clock = clock_for("record")
    assert isinstance(clock, RecordClock) and isinstance(clock_for("wall"), WallClock)
    july = dt.datetime(2026, 7, 22, 6, 45, 20, tzinfo=dt.timezone.utc).timestamp()
    assert clock.now(record(july)) == dt.datetime(2026, 7, 22, 6, 45, 20, tzinfo=dt.timezone.utc)
    assert clock.stamp(record(july - 60)) == july - 60
    assert clock.now() == dt.datetime.fromtimestamp(july, dt.timezone.utc), "outside a record: the latest time seen"
    assert WallClock().stamp(record(july)) is None, "production lets the producer stamp its records"


def test_drill_topics_keep_records_of_any_time() -> None:
    production = {spec.name: spec.config for spec in Topics("ers.", 4).specs()}
    assert production.pop("ers.incident-states") == {"cleanup.policy": "compact"}, "the read model keeps the latest"
    assert all(config == {} for config in production.values())
    drill = Topics("drill.d1.", 4, any_time=True).specs()
    assert all(spec.config["retention.ms"] == "-1" and int(spec.config["message.timestamp.after.max.ms"]) > 10**18
               for spec in drill)
    assert set(Topics("ers.", 4).consumed()) < {spec.name for spec in Topics("ers.", 4).specs()}


def test_an_input_waits_out_broker_and_database_outages_and_other_errors_are_dead_letters() -> None:
    import asyncio
    from types import SimpleNamespace

    from aiokafka.errors import KafkaTimeoutError
    from sqlalchemy.exc import OperationalError

    from streams.agents.common import Troubles, process_each

    events = [SimpleNamespace(message=SimpleNamespace(topic="ers.readings", partition=0, offset=n, key=b"s",
                                                      value=b"{}")) for n in range(3)]

    class Stream:
        async def _events(self):
            for event in events:
                yield event

        def events(self):
            return self._events()

    class Dlq:
        max_bytes = 1_000_000

        def __init__(self) -> None:
            self.letters: list[bytes] = []
            self.topic = self

        async def send(self, key, value) -> None:
            self.letters.append(value)

    calls: list[int] = []
    troubles = Troubles()
    seen_waiting: list[str] = []

    async def handle(event) -> None:
        calls.append(event.message.offset)
        if event.message.offset == 0 and calls.count(0) < 3:
            raise KafkaTimeoutError()  # a broker hiccup: retried
        if event.message.offset == 1 and calls.count(1) < 20:  # a long database outage: never given up
            seen_waiting.extend(w.kind for w in troubles.now().values())
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
        if event.message.offset == 2:
            raise ValueError("a bug")  # not transient: a dead letter at once

    dlq = Dlq()
    asyncio.run(process_each(Stream(), handle, dlq, "test", retry_seconds=(0.0, 0.0), troubles=troubles))
    assert calls == [0, 0, 0] + [1] * 20 + [2], "offset 0 on its third try, offset 1 on its 20th, offset 2 once"
    assert len(dlq.letters) == 1 and b"ValueError: a bug" in dlq.letters[0], "only the bug is a dead letter"
    assert set(seen_waiting[1:]) == {"database unreachable"}, "the outage is reported while it lasts"
    assert troubles.now() == {}, "and forgotten once it is over"


def test_a_worker_is_stalled_only_when_records_wait_and_nothing_moves() -> None:
    from streams.health import verdict

    assert verdict(0, 3600.0) == ("ok", 200), "an idle county is not a stalled worker"
    assert verdict(None, 3600.0) == ("ok", 200), "the group's offsets unknown yet (just started)"
    assert verdict(12, 5.0) == ("ok", 200), "behind but working through it"
    assert verdict(12, 61.0) == ("stalled", 503)


def test_the_worker_refuses_a_template_file_that_would_fail(tmp_path) -> None:
    import yaml

    from contingency import load_plan, load_roster
    from streams.config import ConfigError, load_settings
    from streams.worker import sms_templates

    repo = Path(__file__).resolve().parents[2]
    roster = load_roster(repo / "plans" / "arxan-roster.yaml", load_plan(repo / "plans" / "arxan.yaml"))
    data = yaml.safe_load((repo / "plans" / "arxan-sms-templates.yaml").read_text(encoding="utf-8"))
    data["templates"]["page"]["text"] = "${drill}${level}${code} ${place} ${time}。回复\"1 ${code}\"确认"
    bad = tmp_path / "bad-sms-templates.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    twilio = load_settings(env={})
    assert sms_templates(twilio, roster) is None, "a Twilio deployment needs no templates"
    aliyun = load_settings(env={"ERS_SMS_PROVIDER": "aliyun", "ERS_SMS_TEMPLATES": str(bad)})
    with pytest.raises(ConfigError) as caught:
        sms_templates(aliyun, roster)
    assert str(bad) in str(caught.value) and "templates.page.text: ${parameter} is missing" in str(caught.value)
    default = load_settings(env={"ERS_SMS_PROVIDER": "aliyun", "ERS_ROSTER": str(repo / "plans" / "arxan-roster.yaml")})
    assert default.templates_path == repo / "plans" / "arxan-sms-templates.yaml"
    assert sms_templates(default, roster) is not None
    # a plan whose tier calls (叫应) needs the voice section
    plan = load_plan(repo / "plans" / "arxan.yaml")
    red = plan.escalation["red"]
    calling = plan.model_copy(update={"escalation": {**plan.escalation, "red": red.model_copy(update={
        "tiers": [red.tiers[0].model_copy(update={"call": True})]})}})
    del data["voice"]
    data["templates"]["page"]["text"] = yaml.safe_load(
        (repo / "plans" / "arxan-sms-templates.yaml").read_text(encoding="utf-8"))["templates"]["page"]["text"]
    silent = tmp_path / "no-voice.yaml"
    silent.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    no_voice = load_settings(env={"ERS_SMS_PROVIDER": "aliyun", "ERS_SMS_TEMPLATES": str(silent)})
    assert sms_templates(no_voice, roster, plan) is not None
    with pytest.raises(ConfigError) as caught:
        sms_templates(no_voice, roster, calling)
    assert "tiers red tier 1 say call (叫应), and the file has no voice: section" in str(caught.value)


def test_a_webhook_that_cannot_reach_the_database_or_broker_answers_503_and_other_errors_still_raise() -> None:
    import asyncio

    import pytest
    from aiokafka.errors import KafkaConnectionError
    from sqlalchemy.exc import OperationalError

    from streams.web import Answer, outage_safe

    async def failing(exc: BaseException) -> Answer:
        raise exc

    async def fine() -> Answer:
        return Answer(200, "ok")

    down = asyncio.run(outage_safe(failing(OperationalError("SELECT", {}, ConnectionRefusedError()))))
    assert (down.status, down.body) == (503, "database unreachable: try again later")
    broker = asyncio.run(outage_safe(failing(KafkaConnectionError())))
    assert (broker.status, broker.body) == (503, "broker unreachable: try again later")
    assert asyncio.run(outage_safe(fine())).status == 200
    with pytest.raises(ValueError):
        asyncio.run(outage_safe(failing(ValueError("a bug"))))


def test_a_batch_waits_out_an_outage_whole_and_a_bug_in_it_is_handled_event_by_event() -> None:
    import asyncio
    from types import SimpleNamespace

    from aiokafka.errors import KafkaTimeoutError

    from streams.agents.common import Troubles, process_batches

    def event(n: int) -> SimpleNamespace:
        return SimpleNamespace(message=SimpleNamespace(topic="ers.readings", partition=0, offset=n, key=b"s",
                                                       value=b"{}"))

    async def batches():
        yield [event(0), event(1)]
        yield [event(2), event(3), event(4)]

    class Dlq:
        max_bytes = 1_000_000

        def __init__(self) -> None:
            self.letters: list[bytes] = []
            self.topic = self

        async def send(self, key, value) -> None:
            self.letters.append(value)

    tried: list[list[int]] = []
    one_by_one: list[int] = []

    async def handle_batch(events) -> None:
        offsets = [e.message.offset for e in events]
        tried.append(offsets)
        if offsets == [0, 1] and len(tried) < 3:
            raise KafkaTimeoutError()  # the broker away: the whole batch again
        if 3 in offsets:
            raise ValueError("a bug")  # then one by one: only offset 3 is a dead letter

    async def handle(e) -> None:
        one_by_one.append(e.message.offset)
        if e.message.offset == 3:
            raise ValueError("a bug")

    dlq = Dlq()
    asyncio.run(process_batches(batches(), handle_batch, handle, dlq, "test", retry_seconds=(0.0,),
                                troubles=Troubles()))
    assert tried == [[0, 1], [0, 1], [0, 1], [2, 3, 4]]
    assert one_by_one == [2, 3, 4]
    assert len(dlq.letters) == 1 and b'"offset":3' in dlq.letters[0].replace(b" ", b"")
