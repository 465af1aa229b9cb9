"""A reply that comes before this process's read model holds its incident waits for it (streams/web.py), instead of
being answered "not found"; a code that is nowhere is answered after a short, bounded wait."""
from __future__ import annotations

import asyncio
import time

import streams.web as webhook


class Boards:
    """The read model as the webhook sees it: the incident K7Q arrives on the `arrives_at`-th look."""

    def __init__(self, arrives_at: int) -> None:
        self.looks, self.arrives_at = 0, arrives_at

    def __call__(self) -> "Boards.Board":
        self.looks += 1
        return self.Board(self.looks >= self.arrives_at)

    class Board:
        def __init__(self, holds: bool) -> None:
            self.holds = holds

        def by_code(self, code: str):
            return "K7Q" if self.holds and code.upper() == "K7Q" else None

        def owing_by_code(self, code: str):
            return None


def test_a_reply_waits_for_the_incident_it_names() -> None:
    boards = Boards(arrives_at=4)
    board = asyncio.run(webhook._board_knowing(boards, "k7q"))
    assert board.by_code("K7Q") == "K7Q" and boards.looks == 4


def test_a_code_that_is_nowhere_is_answered_after_a_bounded_wait(monkeypatch) -> None:
    monkeypatch.setattr(webhook, "READ_MODEL_WAIT_SECONDS", 0.3)
    boards = Boards(arrives_at=10_000)
    started = time.monotonic()
    board = asyncio.run(webhook._board_knowing(boards, "ZZZ"))
    assert board.by_code("ZZZ") is None and time.monotonic() - started < 2


def test_a_reply_without_a_code_does_not_wait() -> None:
    boards = Boards(arrives_at=10_000)
    asyncio.run(webhook._board_knowing(boards, None))
    assert boards.looks == 1
