"""Log output for every ERS process: the console (Rich) or JSON lines (`ERS_LOG_FORMAT=json`), phone numbers
masked, a warning or error that repeats said once per interval with a count, and the Kafka clients' retried
errors said at the level they deserve.

Faust's worker is told not to set logging up itself (streams/worker.py), so its lines go the same way."""
from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

from pythonjsonlogger.json import JsonFormatter
from rich.console import Console
from rich.logging import RichHandler

from handlers.phones import MaskPhonesFilter
from streams.config import Settings

_NUMBERS = re.compile(r"\d+")


@dataclass
class _Repeats:
    window_start: float
    suppressed: int = 0
    sample: logging.LogRecord | None = None


class RepeatLimiter(logging.Filter):
    """Lets the first record of a kind through per `interval_seconds` and counts the rest; the next one let
    through says how many were held back, and so does a summary line once a kind has gone quiet (written when
    any later record passes, since a filter has no timer of its own).
    A kind is the logger, the level and the message with its numbers blanked: "Unable connect to node 1 ...
    port 51234" repeats, while three stations each without a password are three warnings.
    Time is the records' own `created`, so tests pass it in."""

    def __init__(self, emit: Callable[[logging.LogRecord], None], interval_seconds: float,
                 level: int = logging.WARNING) -> None:
        super().__init__()
        self._emit = emit
        self._interval = interval_seconds
        self._level = level
        self._kinds: dict[tuple[str, int, str], _Repeats] = {}
        self._lock = threading.Lock()  # aiokafka's consumer logs from Faust's consumer thread

    def filter(self, record: logging.LogRecord) -> bool:
        kind = self._kind(record)
        with self._lock:
            quiet = self._quiet_kinds(record.created, kind)
            passes = kind is None or self._admit(record, kind)
        for summary in quiet:
            self._emit(summary)
        return passes

    def _kind(self, record: logging.LogRecord) -> tuple[str, int, str] | None:
        if record.levelno < self._level and not getattr(record, "ers_rate_limit", False):
            return None
        return record.name, record.levelno, _NUMBERS.sub("#", record.getMessage())

    def _admit(self, record: logging.LogRecord, kind: tuple[str, int, str]) -> bool:
        repeats = self._kinds.get(kind)
        if repeats is None or record.created - repeats.window_start >= self._interval:
            if repeats is not None and repeats.suppressed:
                _append(record, f" (and {repeats.suppressed} more like it in the "
                                f"{record.created - repeats.window_start:.0f} s before)")
            self._kinds[kind] = _Repeats(record.created)
            return True
        repeats.suppressed += 1
        repeats.sample = record
        return False

    def _quiet_kinds(self, now: float, current: tuple[str, int, str] | None) -> list[logging.LogRecord]:
        summaries = []
        for kind, repeats in list(self._kinds.items()):
            if kind == current or now - repeats.window_start < self._interval:
                continue
            if repeats.suppressed and repeats.sample is not None:
                summaries.append(_summary(repeats))
            del self._kinds[kind]
        return summaries


def _append(record: logging.LogRecord, suffix: str) -> None:
    record.msg, record.args = record.getMessage() + suffix, None


def _summary(repeats: _Repeats) -> logging.LogRecord:
    sample = repeats.sample
    assert sample is not None
    summary = logging.makeLogRecord(sample.__dict__)
    summary.exc_info, summary.exc_text = None, None
    _append(summary, f" (repeated {repeats.suppressed} more time(s) after the first within "
                     f"{sample.created - repeats.window_start:.0f} s; the last at this line's time)")
    return summary


# aiokafka logs at ERROR what it retries by itself. A fresh broker has no group coordinator for a few seconds,
# so every first start said "[ERROR] Group Coordinator Request failed", which teaches operators to ignore errors.
_RETRIED_BY_AIOKAFKA = {
    "Group Coordinator Request failed: %s",
    "FindCoordinator Request failed: %s",
    "Heartbeat send request failed: %s. Will retry.",
}
_ROUTINE_IN_AIOKAFKA = {"Marking the coordinator dead (node %s)for group %s."}  # a coordinator moved or is new


class KafkaClientLevels(logging.Filter):
    """Says a Kafka client's self-healing retries at INFO; anything it does not retry keeps its level."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("aiokafka"):
            return True
        if record.msg in _ROUTINE_IN_AIOKAFKA or (record.msg in _RETRIED_BY_AIOKAFKA and _retriable(record)):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.ers_rate_limit = True  # retried every 100 ms while a broker is away: still counted
        return True


def _retriable(record: logging.LogRecord) -> bool:
    args = record.args if isinstance(record.args, tuple) else (record.args,)
    return any(getattr(arg, "retriable", False) for arg in args)


def json_formatter() -> logging.Formatter:
    return JsonFormatter("{levelname}{name}{message}{process}", style="{", timestamp="time",
                         rename_fields={"levelname": "level", "name": "logger"}, json_ensure_ascii=False)


def _log_crash(kind: type[BaseException], exc: BaseException, tb: object) -> None:
    logging.getLogger("ers").critical("stopped by an unexpected error", exc_info=(kind, exc, tb))  # type: ignore[arg-type]


def configure_logging(settings: Settings, console: Console) -> None:
    handler: logging.Handler
    if settings.log_format == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(json_formatter())
        # stderr is then JSON lines only: what ERS tells people (its URLs, hints, tables) goes to stdout, and a
        # crash is a log record too.
        console.file = sys.stdout
        sys.excepthook = _log_crash
    elif console.is_terminal:
        handler = RichHandler(console=console, show_path=False, rich_tracebacks=True)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s", datefmt="[%X]"))
    else:  # a file or a journal: one line a record, never wrapped to a terminal's width
        handler = logging.StreamHandler(console.file)
        handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s %(name)s: %(message)s"))
    # Levels first: a retried error is no error to count.
    handler.addFilter(KafkaClientLevels())
    handler.addFilter(RepeatLimiter(handler.emit, settings.log_repeat_seconds))
    handler.addFilter(MaskPhonesFilter())
    root = logging.getLogger()
    root.handlers.clear()
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # kafka-python logs every refused connection while a broker starts; its failures reach us as
    # exceptions anyway. aiokafka (the worker's client) keeps its warnings.
    if settings.log_level != "debug":
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
