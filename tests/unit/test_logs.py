"""Log output: repeats counted, the Kafka client's retried errors at INFO, JSON lines."""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from aiokafka.errors import GroupAuthorizationFailedError, GroupCoordinatorNotAvailableError
from rich.console import Console

from streams.config import Settings
from streams.logs import KafkaClientLevels, RepeatLimiter, configure_logging, json_formatter


def record(message: str, *args: object, at: float, level: int = logging.ERROR, name: str = "aiokafka") -> logging.LogRecord:
    r = logging.LogRecord(name, level, __file__, 1, message, args, None)
    r.created = at
    return r


class Limiter:
    def __init__(self, interval: float = 60.0) -> None:
        self.summaries: list[logging.LogRecord] = []
        self.filter = RepeatLimiter(self.summaries.append, interval)

    def passed(self, *records: logging.LogRecord) -> list[str]:
        return [r.getMessage() for r in records if self.filter.filter(r)]


def test_a_repeating_error_is_written_once_per_interval_with_the_count_held_back() -> None:
    limiter = Limiter(60)
    flood = [record("Unable connect to node with id %s: port %s", 1, 40000 + i, at=1000 + i * 0.1) for i in range(300)]
    assert limiter.passed(*flood) == ["Unable connect to node with id 1: port 40000"]
    later = limiter.passed(record("Unable connect to node with id %s: port %s", 1, 1, at=1061))
    assert len(later) == 1 and "(and 299 more like it in the 61 s before)" in later[0]


def test_different_messages_of_one_template_are_each_written() -> None:
    limiter = Limiter()
    stations = [record("station %s has no password", name, at=5, level=logging.WARNING)
                for name in ("hlh_dsk_auto", "city_source_auto", "yirshi_wwtp_online")]
    assert len(limiter.passed(*stations)) == 3


def test_info_lines_are_never_held_back() -> None:
    limiter = Limiter()
    lines = [record("station %s connected", "s1", at=5 + i, level=logging.INFO) for i in range(10)]
    assert len(limiter.passed(*lines)) == 10


def test_a_kind_that_went_quiet_is_summed_up_when_the_next_line_is_written() -> None:
    limiter = Limiter(30)
    limiter.passed(*(record("Failed fetch messages from 1: NodeNotReadyError", at=100 + i) for i in range(20)))
    assert limiter.summaries == []
    assert limiter.passed(record("worker resumed", at=200, level=logging.INFO, name="ers")) == ["worker resumed"]
    [summary] = limiter.summaries
    assert summary.levelno == logging.ERROR
    assert "repeated 19 more time(s) after the first within 19 s" in summary.getMessage()
    limiter.passed(record("worker resumed", at=300, level=logging.INFO, name="ers"))
    assert len(limiter.summaries) == 1  # said once


def test_the_client_retrying_a_missing_coordinator_is_info_and_a_refusal_stays_an_error() -> None:
    levels = KafkaClientLevels()
    retried = record("Group Coordinator Request failed: %s", GroupCoordinatorNotAvailableError(), at=1)
    refused = record("Group Coordinator Request failed: %s", GroupAuthorizationFailedError(), at=1)
    moved = record("Marking the coordinator dead (node %s)for group %s.", 1, "ers", at=1, level=logging.WARNING)
    ours = record("Group Coordinator Request failed: %s", GroupCoordinatorNotAvailableError(), at=1, name="ers")
    for r in (retried, refused, moved, ours):
        assert levels.filter(r)
    assert [r.levelname for r in (retried, refused, moved, ours)] == ["INFO", "ERROR", "INFO", "ERROR"]


def test_a_retried_client_error_is_still_counted_when_it_repeats() -> None:
    levels, limiter = KafkaClientLevels(), Limiter()
    flood = [record("Group Coordinator Request failed: %s", GroupCoordinatorNotAvailableError(), at=i * 0.1)
             for i in range(100)]
    assert len(limiter.passed(*(r for r in flood if levels.filter(r)))) == 1


def test_a_json_line_carries_time_level_logger_message_and_process() -> None:
    line = json_formatter().format(record("阿尔山市 %s 超标", "化学需氧量", at=1_764_806_400.25, level=logging.WARNING,
                                          name="ers.rules"))
    parsed = json.loads(line)
    assert parsed["level"] == "WARNING" and parsed["logger"] == "ers.rules"
    assert parsed["message"] == "阿尔山市 化学需氧量 超标" and "\\u" not in line
    assert parsed["time"].startswith("2025-12-04T00:00:00.25") and parsed["time"].endswith("+00:00")
    assert isinstance(parsed["process"], int)


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_configured_json_logging_masks_phones_and_puts_people_text_on_stdout(
        restored_logging: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    console = Console(file=io.StringIO())
    configure_logging(Settings(log_format="json"), console)
    logging.getLogger("ers.sms").warning("SMS to %s failed", "+8613912345678")
    console.print("webhooks at http://127.0.0.1:6066")
    out, err = capsys.readouterr()
    [line] = [json.loads(text) for text in err.splitlines()]
    assert "13912345678" not in line["message"] and line["message"].startswith("SMS to +86139")
    assert "webhooks at" in out
