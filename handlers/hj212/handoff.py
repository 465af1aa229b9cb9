"""Several gateway processes on one port, each MN always served by the same one.

The kernel spreads new connections over the processes (SO_REUSEPORT). The process that reads a connection's first
valid packet and finds that its MN belongs to a sibling passes the socket itself (SCM_RIGHTS over a Unix datagram
socket) together with the bytes it has read but not handled, and forgets the connection; the owner carries on as
if it had accepted it. So everything per MN (its one active connection, the intervals asked of it, the samples it
took) lives in one process, exactly as with a single process, and the station never notices.

Linux only: the sockets live in the abstract namespace, so nothing is left on disk.
"""
from __future__ import annotations

import array
import asyncio
import logging
import socket
import zlib
from collections.abc import Callable

log = logging.getLogger("ers.gateway")

MAX_PREFIX = 128 * 1024  # a station says far less before its first answer; more is refused rather than passed
SEND_SECONDS = 2.0


class HandoffError(OSError):
    pass


def owner_of(mn: str, count: int) -> int:
    """The process (0..count-1) that serves an MN: a stable hash, the same in every process and every run."""
    return zlib.crc32(mn.encode("utf-8")) % count


def address(token: str, index: int) -> str:
    return f"\0ers-hj212-{token}-{index}"


class Handoff:
    """One process's end: receives sockets its siblings pass on, and passes on those that belong to them.

    `token` names the group (the parent chooses it), `index` is this process, `count` how many there are."""

    def __init__(self, token: str, index: int, count: int) -> None:
        if not 0 <= index < count:
            raise ValueError(f"process index {index} is outside 0..{count - 1}")
        self.token, self.index, self.count = token, index, count
        self._sock: socket.socket | None = None

    def owner(self, mn: str) -> int:
        return owner_of(mn, self.count)

    def start(self, on_arrival: Callable[[socket.socket, bytes], None]) -> None:
        """Listen for sockets passed on by siblings; `on_arrival(sock, prefix)` runs in the event loop."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(address(self.token, self.index))
        sock.setblocking(False)
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._receive, on_arrival)

    def close(self) -> None:
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    async def pass_on(self, owner: int, fd: int, prefix: bytes) -> None:
        """Send the connection `fd` and the bytes read from it so far to process `owner`; raises HandoffError."""
        assert self._sock is not None, "start() first"
        if len(prefix) > MAX_PREFIX:
            raise HandoffError(f"{len(prefix)} bytes read before the first answer (more than {MAX_PREFIX})")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SEND_SECONDS
        while True:
            try:
                # Not socket.send_fds: before Python 3.13 it drops its address argument.
                self._sock.sendmsg([prefix], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))], 0,
                                   address(self.token, owner))
                return
            except BlockingIOError:  # the owner's queue is full: it is busy, not gone
                if loop.time() >= deadline:
                    raise HandoffError(f"gateway process {owner} took no connection for {SEND_SECONDS:.0f} s")
                await self._writable(loop)
            except OSError as exc:
                raise HandoffError(f"gateway process {owner} is not listening ({exc.strerror or exc})") from exc

    async def _writable(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._sock is not None
        ready = loop.create_future()
        fd = self._sock.fileno()
        loop.add_writer(fd, lambda: ready.done() or ready.set_result(None))
        try:
            await asyncio.wait_for(ready, 0.05)  # a datagram socket to many peers is "writable" only loosely
        except TimeoutError:
            pass
        finally:
            loop.remove_writer(fd)

    def _receive(self, on_arrival: Callable[[socket.socket, bytes], None]) -> None:
        assert self._sock is not None
        while True:
            try:
                prefix, fds, flags, _ = socket.recv_fds(self._sock, MAX_PREFIX, 4)
            except BlockingIOError:
                return
            except OSError as exc:
                log.error("receiving a connection from a sibling gateway process failed: %s", exc)
                return
            if len(fds) != 1 or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                log.error("a sibling gateway process passed %d socket(s) (flags %#x); dropped", len(fds), flags)
                for fd in fds:
                    socket.close(fd)
                continue
            conn = socket.socket(fileno=fds[0])
            conn.setblocking(False)
            on_arrival(conn, prefix)
