"""Faust hands each fetched record to the agents' queues without four tasks per record (issue 14).

`Consumer._drain_messages` delivers every record with `await self.wait_first(callback(message),
self.suspend_flow.wait())`, so that a rebalance can abandon a delivery stuck on a full queue. mode's `wait_first`
wraps the callback, the suspend event, and the service's stopped and crashed events in a task each, waits for the
first, and cancels the rest: about a fifth of the worker's time per reading in a profile (py-spy, bench/
pipeline_throughput.py), although the callback (decode, put on a queue that has room) almost never has to wait.

`install()` makes the consumer's `wait_first` eager, as Python 3.12's eager tasks are: the callback runs at once,
up to its first real wait. Finished then, its result is the winner, as `wait_first` would have returned it after
one turn of the loop. Otherwise the rest of it, waiting on the same future, races the events as before: the same
order of work, the same cancellation by a rebalance, without the tasks in the usual case.
"""
from __future__ import annotations

import types
from collections.abc import Coroutine, Generator
from typing import Any

from faust.transport.consumer import Consumer
from mode import Service
from mode.services import WaitResults

_installed = False


async def _eager_wait_first(self: Consumer, *coros: Any, timeout: Any = None) -> WaitResults:
    first = coros[0] if coros else None
    if isinstance(first, types.CoroutineType) and not (self._stopped.is_set() or self._crashed.is_set()):
        try:
            waiting_on = first.send(None)
        except StopIteration as done:
            _close(coros[1:])
            return WaitResults([first], [done.value], False)
        except BaseException:
            _close(coros[1:])
            raise
        coros = (_Rest(first, waiting_on), *coros[1:])
    return await Service.wait_first(self, *coros, timeout=timeout)


def _close(coros: tuple[Any, ...]) -> None:
    """Close the coroutines that will not run now (never started: Python would warn they were never awaited)."""
    for coro in coros:
        if isinstance(coro, types.CoroutineType):
            coro.close()


class _Rest:
    """The rest of a coroutine that has run up to its first wait, on `waiting_on` (what it yielded): awaited, it
    waits on that first, then drives the coroutine on; what is thrown in (a cancellation) reaches the coroutine."""

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
        self.coro, self.waiting_on = coro, waiting_on

    def __await__(self) -> Generator[Any, Any, Any]:
        return _resume(self.coro, self.waiting_on)


def _resume(coro: Coroutine[Any, Any, Any], waiting_on: Any) -> Generator[Any, Any, Any]:
    while True:
        try:
            yield waiting_on
        except BaseException as exc:  # noqa: BLE001 - handed to the coroutine, which decides
            step, arg = coro.throw, exc
        else:
            step, arg = coro.send, None
        try:
            waiting_on = step(arg)
        except StopIteration as done:
            return done.value


def install() -> None:
    """Make every Faust consumer's wait_first eager (process-wide, once)."""
    global _installed
    if not _installed:
        Consumer.wait_first = _eager_wait_first  # type: ignore[method-assign]
        _installed = True
