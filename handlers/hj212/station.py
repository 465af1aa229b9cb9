"""The station side of HJ 212: what a data logger (数采仪) does, for `ers station simulate`, tests and the benchmark.

It uploads values, waits for the data answer (9014) and resends what got none; it answers the platform's
commands as a real station does: a request answer (9011 QnRtn=1), then an execution answer (9012 ExeRtn=1);
1062 changes its real-time interval and 3012 (take a sample now) makes it upload at once.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from handlers.hj212 import codes
from handlers.hj212.frame import Frame, FrameReader, encode_frame
from handlers.hj212.packet import Packet, PacketError, Version, encode_cp, encode_segment, parse_cp, parse_segment
from handlers.hj212.server import new_qn
from handlers.hj212.uploads import UPLOAD_COMMANDS, UploadKind, format_data_time

log = logging.getLogger("ers.station")
_KIND_CN = {kind: cn for cn, kind in UPLOAD_COMMANDS.items()}


@dataclass(frozen=True)
class Value:
    value: float
    flag: str = "N"


def upload_packet(mn: str, password: str, data_time: dt.datetime, values: dict[str, Value], now: dt.datetime,
                  kind: UploadKind = UploadKind.REALTIME, st: str = "21", version: Version = Version.HJ212_2017,
                  wants_answer: bool = True) -> Packet:
    item = "Rtd" if kind is UploadKind.REALTIME else "Avg"
    groups: list[dict[str, str]] = [{"DataTime": format_data_time(data_time)}]
    for code, reading in values.items():
        groups.append({f"{code}-{item}": f"{reading.value:g}", f"{code}-Flag": reading.flag})
    flag = (4 if version is Version.HJ212_2017 else 0) | (1 if wants_answer else 0)
    return Packet(st=st, cn=_KIND_CN[kind], pw=password, mn=mn, cp=encode_cp(groups), qn=new_qn(now), flag=flag,
                  version=version)


@dataclass
class StationClient:
    mn: str
    password: str
    st: str = "21"
    version: Version = Version.HJ212_2017
    answer_seconds: float = 5.0
    resends: int = 3
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)
    on_sample: Callable[[], None] = lambda: None
    rtd_interval: int = 30
    commands: list[Packet] = field(default_factory=list)      # what the platform asked
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None
    _waiting: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    _listen: asyncio.Task | None = None

    async def connect(self, host: str, port: int) -> None:
        self._reader, self._writer = await asyncio.open_connection(host, port)
        self._listen = asyncio.get_running_loop().create_task(self._listen_loop())

    async def close(self) -> None:
        if self._listen is not None:
            self._listen.cancel()
        if self._writer is not None:
            self._writer.close()

    def send_raw(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)

    async def upload(self, data_time: dt.datetime, values: dict[str, Value],
                     kind: UploadKind = UploadKind.REALTIME) -> bool:
        """Send one upload and resend it until answered; True once the platform answered."""
        packet = upload_packet(self.mn, self.password, data_time, values, self.clock(), kind, self.st, self.version)
        return await self.send(packet)

    async def send(self, packet: Packet) -> bool:
        assert self._writer is not None
        frame = encode_frame(encode_segment(packet))
        if not packet.wants_answer:
            self._writer.write(frame)
            await self._writer.drain()
            return True
        for attempt in range(1 + self.resends):
            answered = asyncio.get_running_loop().create_future()
            self._waiting[packet.qn or ""] = answered
            self._writer.write(frame)
            await self._writer.drain()
            try:
                await asyncio.wait_for(answered, self.answer_seconds)
                return True
            except asyncio.TimeoutError:
                log.info("MN %s: no answer to QN %s (attempt %d)", self.mn, packet.qn, attempt + 1)
            finally:
                self._waiting.pop(packet.qn or "", None)
        return False

    async def _listen_loop(self) -> None:
        assert self._reader is not None
        frames = FrameReader()
        while True:
            data = await self._reader.read(65536)
            if not data:
                for waiter in self._waiting.values():
                    if not waiter.done():
                        waiter.set_exception(ConnectionError("the platform closed the connection"))
                return
            for item in frames.feed(data):
                if isinstance(item, Frame):
                    await self._on_packet(item)

    async def _on_packet(self, frame: Frame) -> None:
        try:
            packet = parse_segment(frame.segment)
        except PacketError as exc:
            log.warning("MN %s: unreadable packet from the platform: %s", self.mn, exc)
            return
        if packet.cn == codes.DATA_ANSWER:
            qn = packet.qn or dict(kv for g in parse_cp(packet.cp) for kv in g.items()).get("QN", "")
            waiter = self._waiting.get(qn)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            return
        self.commands.append(packet)
        if packet.cn not in (codes.SET_RTD_INTERVAL, codes.SAMPLE_NOW, codes.GET_RTD_INTERVAL):
            return
        self._answer(packet, codes.REQUEST_ANSWER, "QnRtn=1")
        if packet.cn == codes.SET_RTD_INTERVAL:
            values = dict(kv for g in parse_cp(packet.cp) for kv in g.items())
            self.rtd_interval = int(values.get("RtdInterval", self.rtd_interval))
        elif packet.cn == codes.SAMPLE_NOW:
            self.on_sample()
        self._answer(packet, codes.EXECUTION_ANSWER, "ExeRtn=1")

    def _answer(self, command: Packet, cn: str, cp: str) -> None:
        assert self._writer is not None
        flag = 4 if self.version is Version.HJ212_2017 else 0
        answer = Packet(st=codes.ANSWER_ST, cn=cn, pw=self.password, mn=self.mn, cp=cp, qn=command.qn, flag=flag,
                        version=self.version)
        self._writer.write(encode_frame(encode_segment(answer)))
