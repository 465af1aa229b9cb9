"""The chaos suite (issue 13): experiments that break a real deployment on purpose (real broker, real workers, real
PostgreSQL, the SMS provider's real client against its local API) and count what was lost and what was doubled.

Each experiment asserts that nothing was lost or doubled and prints its figures in a table at the end of the run
(sent, expected, observed, lost, doubled, recovery seconds). `make test` (and CI) runs the short version of each;
the full lengths are one command:

    ERS_CHAOS=full .venv/bin/python -m pytest tests/chaos      # or: make chaos
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

FULL = os.environ.get("ERS_CHAOS", "short") == "full"
RESULTS_FILE = Path(os.environ.get("ERS_CHAOS_RESULTS", "var/chaos-results.json"))


def scaled(short: float, full: float) -> float:
    """An experiment's size: `short` in the test suite, `full` with ERS_CHAOS=full."""
    return full if FULL else short


@dataclass
class Figures:
    experiment: str
    what: str            # what was counted, e.g. "pages (SMS)"
    sent: int            # inputs the experiment produced
    expected: int        # outputs they should give
    observed: int        # outputs seen
    lost: int
    doubled: int
    recovery_seconds: float | None = None   # from the fault's end to the last expected output
    notes: list[str] = field(default_factory=list)


_RESULTS: list[Figures] = []


@pytest.fixture
def figures() -> Iterator[list[Figures]]:
    """What an experiment measured: appended here, printed at the end of the run and written to RESULTS_FILE."""
    measured: list[Figures] = []
    yield measured
    _RESULTS.extend(measured)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _RESULTS:
        return
    write = terminalreporter.write_line
    terminalreporter.section(f"chaos experiments ({'full' if FULL else 'short'} lengths)")
    head = f"{'experiment':<34} {'counted':<26} {'sent':>6} {'expected':>8} {'observed':>8} {'lost':>5} " \
           f"{'doubled':>7} {'recovery s':>10}"
    write(head)
    write("-" * len(head))
    for f in _RESULTS:
        recovery = "" if f.recovery_seconds is None else f"{f.recovery_seconds:.1f}"
        write(f"{f.experiment:<34} {f.what:<26} {f.sent:>6} {f.expected:>8} {f.observed:>8} {f.lost:>5} "
              f"{f.doubled:>7} {recovery:>10}")
        for note in f.notes:
            write(f"    {note}")
    try:
        RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
        RESULTS_FILE.write_text(json.dumps([asdict(f) for f in _RESULTS], ensure_ascii=False, indent=2) + "\n",
                                encoding="utf-8")
        write(f"(also in {RESULTS_FILE})")
    except OSError as exc:
        write(f"(could not write {RESULTS_FILE}: {exc})")
