"""The HJ 212 gateway: an asyncio TCP server for thousands of long-lived station connections.

Per packet: frame (length, CRC) -> fields -> station and password -> upload -> StationReport; the packet goes to
the raw archive and the reading to the readings topic, and only once the broker has acknowledged both does the
station get its data answer (9014). No answer means the station resends, and a resent packet is the same reading.
Anything refused is logged with the peer and dead-lettered with the reason and the raw bytes; the connection lives
on, and other stations never notice.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pydantic_core import to_json

from contingency.hj212 import StationLink, StationOrders
from handlers.hj212 import codes
from handlers.hj212.directory import StationDirectory
from handlers.hj212.frame import MAX_SEGMENT, Frame, FrameReader, Refusal, encode_frame
from handlers.hj212.handoff import Handoff, HandoffError
from handlers.hj212.packet import Packet, PacketError, Version, encode_segment, parse_cp, parse_segment
from handlers.hj212.records import Record, StationRecords
from handlers.hj212.uploads import CHINA, UPLOAD_COMMANDS, Reassembler
from schemas import DeadLetter, StationExchange

log = logging.getLogger("ers.gateway")
AGENT = "hj212-gateway"


class PacketSink(Protocol):
    """Where accepted packets, readings, refusals and exchanges go (Kafka in production)."""

    async def accept_records(self, raw: Record, reading: Record | None) -> None:
        """Takes the (key, value) of the raw packet (StationPacket) and of its reading (StationReport, if any);
        returns once the broker has acknowledged both (acks=all); raises otherwise."""

    async def refuse(self, letter: DeadLetter) -> None: ...

    async def record(self, exchange: StationExchange) -> None: ...


@dataclass(frozen=True)
class GatewayLimits:
    max_connections: int = 5000
    idle_seconds: float = 3600.0          # a station quiet for longer is disconnected (it reconnects to send)
    partial_seconds: float = 10.0         # a packet begun must be complete within this (slowloris)
    packets_per_second: float = 20.0      # per connection, sustained
    burst: int = 200                      # per connection, at once
    refusals_per_minute: int = 30         # more and the connection is closed
    answer_seconds: float = 10.0          # wait for a station's request answer (9011)
    execution_seconds: float = 60.0       # wait for its execution answer (9012)
    command_retry_seconds: float = 60.0   # after an unanswered or failed command
    split_timeout_seconds: float = 60.0   # parts of a split upload must all come within this


class _Bucket:
    def __init__(self, rate: float, burst: int, now: float) -> None:
        self._rate, self._burst, self._tokens, self._at = rate, float(burst), float(burst), now

    def take(self, now: float) -> bool:
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


@dataclass(eq=False)  # identity: connections live in sets
class _Connection:
    peer: str
    writer: asyncio.StreamWriter
    bucket: _Bucket
    frames: FrameReader = field(default_factory=lambda: FrameReader(MAX_SEGMENT))
    link: StationLink | None = None
    records: StationRecords | None = None   # the link's record templates, from the first valid packet on
    peer_json: bytes = b'""'                # the peer as JSON, for the raw archive
    st: str = "21"
    version: Version = Version.HJ212_2017
    password: str = ""
    refusals: list[float] = field(default_factory=list)
    answers: dict[tuple[str, str], asyncio.Future[str]] = field(default_factory=dict)  # (QN, CN) -> return code
    closing: bool = False
    read_at: float = 0.0                 # loop time of the last read
    partial_since: float | None = None   # loop time since when a packet has been left incomplete

    def write(self, segment: str) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode_frame(segment))


class Gateway:
    def __init__(self, directory: StationDirectory, sink: PacketSink, clock: Callable[[], dt.datetime],
                 limits: GatewayLimits = GatewayLimits(), drill_id: str | None = None,
                 handoff: Handoff | None = None) -> None:
        self._directory, self._sink, self._clock, self._limits = directory, sink, clock, limits
        self._drill_id = drill_id
        self._handoff = handoff  # None: this process serves every MN
        self._connections: set[_Connection] = set()
        self._by_mn: dict[str, _Connection] = {}
        self._records: dict[str, StationRecords] = {}   # MN -> its record templates, made on its first packet
        self._reassembler = Reassembler(limits.split_timeout_seconds)
        self._server: asyncio.Server | None = None
        self._applied: dict[str, int] = {}                  # MN -> real-time interval the station confirmed
        self._qns = QnSequence()
        self._changed: set[str] = set()                     # MNs this gateway has asked to shorten their interval
        self._tried: dict[tuple[str, str], float] = {}      # (MN, what) -> when last tried
        self._sampled: set[tuple[str, str]] = set()         # (MN, incident id)
        self._tasks: set[asyncio.Task] = set()
        self._broker_complaint_at = 0.0
        self.accepted = 0  # packets acknowledged by the broker (the benchmark reads it)

    # -- serving ---------------------------------------------------------------------------------------------------
    async def start(self, host: str, port: int) -> asyncio.Server:
        if self._handoff is None or self._handoff.index == 0:
            for link in self._directory.unconfigured():
                log.warning("station %s (MN %s) has no password: %s is unset, so its packets are refused",
                            link.station_id, link.mn, link.password_env)
        if self._handoff is not None:
            self._handoff.start(self._adopt)
        # With siblings, each process listens on the same port and the kernel spreads connections over them.
        self._server = await asyncio.start_server(self._serve, host, port, limit=2 * MAX_SEGMENT, backlog=4096,
                                                  reuse_port=self._handoff is not None)
        self._spawn(self._watch_timeouts())
        return self._server

    async def _watch_timeouts(self) -> None:
        """Close connections idle or left mid-packet for too long. One sweep for all of them, rather than a timer
        per read: at thousands of packets a second the timers cost as much as reading."""
        limits = self._limits
        every = min(1.0, limits.partial_seconds / 4, limits.idle_seconds / 4)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(every)
            now = loop.time()
            for conn in list(self._connections):
                if conn.closing:
                    continue
                if conn.partial_since is not None and now - conn.partial_since >= limits.partial_seconds:
                    what, seconds = "a packet left incomplete", limits.partial_seconds
                elif now - conn.read_at >= limits.idle_seconds:
                    what, seconds = "idle", limits.idle_seconds
                else:
                    continue
                log.info("closing %s%s: %s for %.0f s", conn.peer, _who(conn), what, seconds)
                conn.closing = True
                conn.writer.close()  # the pending read returns: the connection's task ends

    def _adopt(self, sock, prefix: bytes) -> None:
        """A sibling process passed on a connection whose MN this process serves, with what it had read."""
        self._spawn(self._adopt_connection(sock, prefix))

    async def _adopt_connection(self, sock, prefix: bytes) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=2 * MAX_SEGMENT)
        protocol = asyncio.StreamReaderProtocol(reader, lambda r, w: self._serve(r, w, prefix))
        try:
            await loop.connect_accepted_socket(lambda: protocol, sock)
        except OSError as exc:
            log.info("a connection passed on by a sibling gateway process was gone already: %s", exc)
            sock.close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    @property
    def connected(self) -> dict[str, str]:
        """MN -> peer of every station that has spoken with a valid password."""
        return {mn: conn.peer for mn, conn in self._by_mn.items()}

    @property
    def confirmed_intervals(self) -> dict[str, int]:
        """MN -> the real-time interval a station has confirmed executing on this gateway's request."""
        return dict(self._applied)

    @property
    def sampled(self) -> frozenset[tuple[str, str]]:
        """(MN, incident id) of every sample a station has confirmed taking."""
        return frozenset(self._sampled)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._handoff is not None:
            self._handoff.close()
        for conn in list(self._connections):
            conn.writer.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, prefix: bytes = b"") -> None:
        peer = _peer(writer)
        loop = asyncio.get_running_loop()
        if len(self._connections) >= self._limits.max_connections:
            log.warning("refused connection from %s: %d connections already (the cap)", peer, len(self._connections))
            writer.close()
            return
        conn = _Connection(peer, writer, _Bucket(self._limits.packets_per_second, self._limits.burst, loop.time()),
                           read_at=loop.time(), peer_json=to_json(peer))
        self._connections.add(conn)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        data = prefix  # what a sibling process read before passing the connection on
        try:
            while not conn.closing:
                if not data:
                    data = await reader.read(65536)  # _watch_timeouts closes it when idle or stalled mid-packet
                    if not data or conn.closing:
                        break
                    conn.read_at = loop.time()
                items, data = conn.frames.feed(data), b""
                if not conn.frames.pending:
                    conn.partial_since = None
                elif conn.partial_since is None:
                    conn.partial_since = conn.read_at
                for at, item in enumerate(items):
                    if isinstance(item, Refusal):
                        await self._refuse(conn, item.reason, item.raw, None)
                    elif conn.bucket.take(loop.time()):
                        owner = self._sibling_owner(conn, item)
                        if owner is not None:
                            await self._hand_off(conn, reader, writer, owner, items[at:])
                            return
                        await self._on_frame(conn, item)
                    else:
                        await self._refuse(conn, "over the connection's packet rate", item.raw, None,
                                           dead_letter=False)
        except (ConnectionError, OSError) as exc:
            log.info("connection from %s%s ended: %s", peer, _who(conn), exc)
        except Exception:  # a defect here must cost one connection, never the gateway
            log.exception("connection from %s%s failed", peer, _who(conn))
        except asyncio.CancelledError:
            pass  # the gateway is closing
        finally:
            self._connections.discard(conn)
            if task is not None:
                self._tasks.discard(task)
            if conn.link is not None and self._by_mn.get(conn.link.mn) is conn:
                del self._by_mn[conn.link.mn]
            for future in conn.answers.values():
                future.cancel()
            writer.close()

    def _sibling_owner(self, conn: _Connection, frame: Frame) -> int | None:
        """The sibling process that serves this connection's station, judged on its first valid packet; None when
        this process does (or the packet is refused: that happens here, as without siblings)."""
        if self._handoff is None or conn.link is not None:
            return None
        try:
            packet = parse_segment(frame.segment)
        except PacketError:
            return None
        if self._directory.check(packet.mn, packet.pw)[0] is None:
            return None
        owner = self._handoff.owner(packet.mn)
        return None if owner == self._handoff.index else owner

    async def _hand_off(self, conn: _Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        owner: int, unhandled: list[Frame | Refusal]) -> None:
        assert self._handoff is not None
        conn.closing = True
        # Stop reading, then take what the stream holds already: the owner must see every byte, in order.
        writer.transport.pause_reading()
        reader.feed_eof()
        prefix = b"".join(item.raw for item in unhandled) + conn.frames.take_pending() + await reader.read()
        try:
            await self._handoff.pass_on(owner, writer.get_extra_info("socket").fileno(), prefix)
        except HandoffError as exc:
            log.error("could not pass the connection from %s to gateway process %d: %s; closing it (the station "
                      "reconnects)", conn.peer, owner, exc)
        # Closing this process's descriptor leaves the connection open: the owner holds its own.

    # -- one packet ------------------------------------------------------------------------------------------------
    async def _on_frame(self, conn: _Connection, frame: Frame) -> None:
        try:
            packet = parse_segment(frame.segment)
        except PacketError as exc:
            await self._refuse(conn, str(exc), frame.raw, None)
            return
        link, reason = self._directory.check(packet.mn, packet.pw)
        if link is None:
            await self._refuse(conn, reason or "refused", frame.raw, packet.mn)
            return
        if not self._bind(conn, link, packet):
            await self._refuse(conn, f"this connection already speaks for MN {conn.link.mn}"  # type: ignore[union-attr]
                               , frame.raw, packet.mn)
            return
        if packet.cn in (codes.REQUEST_ANSWER, codes.EXECUTION_ANSWER):
            self._on_answer(conn, packet)
            return
        try:
            await self._on_packet(conn, link, packet, frame)
        except PacketError as exc:
            await self._refuse(conn, str(exc), frame.raw, packet.mn)

    def _bind(self, conn: _Connection, link: StationLink, packet: Packet) -> bool:
        if conn.link is not None:
            return conn.link.mn == link.mn
        previous = self._by_mn.get(link.mn)
        if previous is not None and previous is not conn:
            # A station that lost its link reconnects while the old socket still looks open: the newest wins.
            log.warning("station %s (MN %s) connected again from %s; closing its older connection from %s",
                        link.station_id, link.mn, conn.peer, previous.peer)
            previous.closing = True
            previous.writer.close()
        conn.link, conn.st, conn.version, conn.password = link, packet.st, packet.version, packet.pw
        records = self._records.get(link.mn)
        if records is None or records.link is not link:
            records = self._records[link.mn] = StationRecords(link, self._directory.factors, self._drill_id)
        conn.records = records
        self._by_mn[link.mn] = conn
        log.info("station %s (MN %s, HJ 212-%s) connected from %s", link.station_id, link.mn, packet.version,
                 conn.peer)
        return True

    async def _on_packet(self, conn: _Connection, link: StationLink, packet: Packet, frame: Frame) -> None:
        records = conn.records
        assert records is not None  # bound
        raw = (records.raw_key, records.raw(packet, frame.raw, conn.peer, conn.peer_json, self._clock()))
        reading = None
        upload = packet.cn in UPLOAD_COMMANDS
        if upload:
            whole = self._reassembler.add(packet, time.monotonic()) if packet.split else packet
            for parts in self._reassembler.expired(time.monotonic()) if len(self._reassembler) else ():
                log.warning("split upload QN %s from MN %s never completed (%d parts came)", parts[0].qn,
                            parts[0].mn, len(parts))
            if whole is not None:
                value, unknown_codes = records.reading(whole)
                if unknown_codes:
                    await self._refuse(conn, f"unknown factor code(s) {', '.join(unknown_codes)} "
                                             f"(neither the plan nor the HJ 212 table knows them); the packet's "
                                             f"other values are accepted", frame.raw, link.mn)
                if value is not None:
                    reading = (records.reading_key, value)
        try:
            await self._sink.accept_records(raw, reading)
        except Exception as exc:  # the broker did not acknowledge: no answer, so the station sends it again
            self._complain_about_broker(exc)
            return
        self.accepted += 1
        if packet.wants_answer:
            conn.write(answer_segment(packet, codes.DATA_ANSWER if upload else codes.NOTICE_ANSWER))

    def _complain_about_broker(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._broker_complaint_at >= 30:
            log.error("the broker did not acknowledge a packet (%s: %s): no answer sent, stations will resend; "
                      "said once per 30 s", type(exc).__name__, exc)
            self._broker_complaint_at = now

    async def _refuse(self, conn: _Connection, reason: str, raw: bytes, mn: str | None,
                      dead_letter: bool = True) -> None:
        now = time.monotonic()
        conn.refusals = [t for t in conn.refusals if now - t < 60] + [now]
        log.warning("refused from %s%s: %s", conn.peer, f" (MN {mn})" if mn else _who(conn), reason)
        if dead_letter:
            payload, encoding = _text(raw)
            letter = DeadLetter(source_topic="hj212", partition=-1, offset=-1, key=mn, payload=payload,
                                payload_encoding=encoding, error=reason, agent=AGENT, failed_at=self._clock(),
                                peer=conn.peer)
            try:
                await self._sink.refuse(letter)
            except Exception as exc:
                self._complain_about_broker(exc)
        if len(conn.refusals) > self._limits.refusals_per_minute:
            log.warning("closing %s%s: %d refusals within a minute", conn.peer, _who(conn), len(conn.refusals))
            conn.closing = True

    # -- talking back ----------------------------------------------------------------------------------------------
    def _on_answer(self, conn: _Connection, packet: Packet) -> None:
        groups = parse_cp(packet.cp)
        values = {k: v for group in groups for k, v in group.items()}
        key = "QnRtn" if packet.cn == codes.REQUEST_ANSWER else "ExeRtn"
        future = conn.answers.get((packet.qn or "", packet.cn))
        if future is None or future.done():
            log.info("answer %s %s=%s from MN %s to no command waiting (QN %s)", packet.cn, key, values.get(key),
                     packet.mn, packet.qn)
            return
        future.set_result(values.get(key, ""))

    def apply(self, orders: dict[str, StationOrders]) -> None:
        """Ask connected stations for what the open incidents need (called whenever the incidents change, and
        periodically, so a station that connects later is asked too)."""
        now = time.monotonic()
        for order in orders.values():
            link = self._directory.by_station(order.station_id)
            conn = self._by_mn.get(link.mn) if link else None
            if link is None or conn is None or conn.closing:
                continue
            interval = order.rtd_interval_seconds
            # Restore only what this gateway changed: a station never shortened by it keeps its own setting.
            # An incident resolved while its 1062 is still unanswered must still be restored, hence `_changed`.
            wants_interval = interval is not None and self._applied.get(link.mn) != interval and (
                order.because_of is not None or link.mn in self._changed)
            if wants_interval and self._may_try(link.mn, f"1062:{interval}", now):
                if order.because_of is not None:
                    self._changed.add(link.mn)
                self._spawn(self._command(conn, link, codes.SET_RTD_INTERVAL, f"RtdInterval={interval}",
                                          order.because_of, on_done=lambda mn=link.mn, i=interval: self._set(mn, i)))
            for sample in order.samples:
                key = (link.mn, sample.incident_id)
                if key in self._sampled or not self._may_try(link.mn, f"{codes.SAMPLE_NOW}:{sample.incident_id}", now):
                    continue
                pol_id = link.code_for(sample.parameter_id, conn.version is Version.HJ212_2017)
                self._spawn(self._command(conn, link, codes.SAMPLE_NOW, f"PolId={pol_id}" if pol_id else "",
                                          sample.incident_id, on_done=lambda k=key: self._sampled.add(k)))

    def _set(self, mn: str, interval: int) -> None:
        self._applied[mn] = interval

    def _may_try(self, mn: str, what: str, now: float) -> bool:
        last = self._tried.get((mn, what))
        if last is not None and now - last < self._limits.command_retry_seconds:
            return False
        self._tried[(mn, what)] = now
        return True

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _command(self, conn: _Connection, link: StationLink, cn: str, cp: str, incident_id: str | None,
                       on_done: Callable[[], None]) -> None:
        qn = self._qns.next(self._clock())
        flag = 5 if conn.version is Version.HJ212_2017 else 1
        packet = Packet(st=conn.st, cn=cn, pw=conn.password, mn=link.mn, cp=cp, qn=qn, flag=flag,
                        version=conn.version)
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[str] = loop.create_future()
        done: asyncio.Future[str] = loop.create_future()
        conn.answers[(qn, codes.REQUEST_ANSWER)] = answer
        conn.answers[(qn, codes.EXECUTION_ANSWER)] = done

        async def note(step: str, detail: str = "", result: str | None = None) -> None:
            exchange = StationExchange(incident_id=uuid.UUID(incident_id) if incident_id else None,
                                       source_id=link.source_id, station_id=link.station_id, mn=link.mn, qn=qn,
                                       cn=cn, step=step, detail=detail, result=result, at=self._clock())
            try:
                await self._sink.record(exchange)
            except Exception as exc:
                self._complain_about_broker(exc)

        try:
            conn.write(encode_segment(packet))
            log.info("asked station %s (MN %s): CN %s %s (QN %s)", link.station_id, link.mn, cn, cp, qn)
            await note("sent", cp)
            try:
                code = await asyncio.wait_for(answer, self._limits.answer_seconds)
            except asyncio.TimeoutError:
                await note("no_answer", f"no request answer within {self._limits.answer_seconds:.0f} s")
                return
            await note("request_answer", codes.QN_RETURN.get(code, "未知应答"), code)
            if code != "1":
                return
            try:
                result = await asyncio.wait_for(done, self._limits.execution_seconds)
            except asyncio.TimeoutError:
                await note("no_answer", f"no execution answer within {self._limits.execution_seconds:.0f} s")
                return
            await note("execution_answer", codes.EXE_RETURN.get(result, "未知结果"), result)
            if result == "1":
                on_done()
        finally:
            conn.answers.pop((qn, codes.REQUEST_ANSWER), None)
            conn.answers.pop((qn, codes.EXECUTION_ANSWER), None)


def answer_segment(packet: Packet, cn: str) -> str:
    """The data or notice answer (9014/9013) to a packet, in its edition."""
    if packet.version is Version.HJ212_2017:  # encode_segment's order, written out: it is every packet's answer
        qn = "" if packet.qn is None else f"QN={packet.qn};"
        return f"{qn}ST={codes.ANSWER_ST};CN={cn};PW={packet.pw};MN={packet.mn};Flag=4;CP=&&&&"
    # HJ/T 212-2005 names the answered request inside CP.
    cp = ";".join(part for part in (f"QN={packet.qn}" if packet.qn else "", f"CN={packet.cn}") if part)
    return encode_segment(Packet(st=codes.ANSWER_ST, cn=cn, pw=packet.pw, mn=packet.mn, cp=cp, flag=0,
                                 version=Version.HJ212_2005))


class QnSequence:
    """Request numbers that never repeat. QN is the only key that pairs a station's answers with the request, so
    two commands in the same millisecond (1062 and 3012 for one incident) must still differ: a repeat moves one
    millisecond on."""

    def __init__(self) -> None:
        self._last: dt.datetime | None = None

    def next(self, now: dt.datetime) -> str:
        at = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if self._last is not None and at <= self._last:
            at = self._last + dt.timedelta(milliseconds=1)
        self._last = at
        return new_qn(at)


def new_qn(now: dt.datetime) -> str:
    china = now.astimezone(CHINA)
    return china.strftime("%Y%m%d%H%M%S") + f"{china.microsecond // 1000:03d}"


def _peer(writer: asyncio.StreamWriter) -> str:
    info = writer.get_extra_info("peername")
    return f"{info[0]}:{info[1]}" if isinstance(info, tuple) else str(info)


def _who(conn: _Connection) -> str:
    return f" (station {conn.link.station_id})" if conn.link else ""


def _text(raw: bytes) -> tuple[str, str]:
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"
