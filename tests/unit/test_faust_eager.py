"""streams/faust_eager.py: the consumer's wait_first runs its first coroutine eagerly, with wait_first's outcomes."""
from __future__ import annotations

import asyncio

import pytest
from mode.utils.locks import Event

from streams import faust_eager


class _Service:
    """What the eager wait_first reads of a Faust consumer (a mode Service)."""

    def __init__(self) -> None:
        self._stopped, self._crashed = asyncio.Event(), asyncio.Event()
        self.loop = asyncio.get_running_loop()


def _wait_first(service: _Service, *coros: object):  # type: ignore[no-untyped-def]
    return faust_eager._eager_wait_first(service, *coros)  # type: ignore[arg-type]


def test_a_callback_that_never_waits_finishes_inside_the_call_and_wins() -> None:
    async def scenario() -> None:
        ran: list[str] = []

        async def callback() -> str:
            ran.append("callback")
            return "delivered"

        suspend = Event()
        result = await _wait_first(_Service(), callback(), suspend.wait())
        assert ran == ["callback"]
        assert result.results == ["delivered"] and not result.stopped

    asyncio.run(scenario())


def test_a_callback_that_waits_is_resumed_when_what_it_waits_for_is_done() -> None:
    async def scenario() -> None:
        gate = asyncio.get_running_loop().create_future()

        async def callback() -> str:
            value = await gate  # a full queue, say
            await asyncio.sleep(0)
            return f"delivered after {value}"

        suspend = Event()
        asyncio.get_running_loop().call_later(0.01, gate.set_result, "room")
        result = await _wait_first(_Service(), callback(), suspend.wait())
        assert result.results == ["delivered after room"]

    asyncio.run(scenario())


def test_a_suspended_flow_abandons_a_waiting_callback_which_sees_the_cancellation() -> None:
    async def scenario() -> None:
        gate = asyncio.get_running_loop().create_future()
        seen: list[str] = []

        async def callback() -> None:
            try:
                await gate
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise

        suspend = Event()
        asyncio.get_running_loop().call_later(0.01, suspend.set)
        result = await _wait_first(_Service(), callback(), suspend.wait())
        await asyncio.sleep(0.01)
        assert len(result.done) == 1
        assert result.results == [True]  # the suspend event's wait won (Event.wait returns True)
        assert seen == ["cancelled"]

    asyncio.run(scenario())


def test_an_error_in_the_callback_propagates() -> None:
    async def scenario() -> None:
        async def callback() -> None:
            raise ValueError("bad record")

        with pytest.raises(ValueError, match="bad record"):
            await _wait_first(_Service(), callback(), Event().wait())

    asyncio.run(scenario())
