"""How many HJ 212 packets a second the gateway puts on Kafka, against a bare asyncio line server in the same run.

One ephemeral broker; the gateway runs in its own process (so its memory is its own) with a directory of N
synthetic stations; N simulated data loggers (`StationClient`, one TCP connection each) run in this process.
Every upload asks for an answer, and a station sends its next packet only once answered (as real loggers do),
so a packet/s figure is answered packets: the gateway answers only after the broker acknowledged (acks=all).

  baseline  a bare asyncio server: `readuntil(CRLF)`, pick out the QN, write the 9014 answer; no parsing, no
            CRC check, no Kafka. The same clients drive it the same way.
  gateway   `ers gateway`'s Gateway and KafkaPacketSink: frame, CRC, parse, identity, reading, acks=all, answer.
  paced     N stations at one packet every N/rate seconds each (about `--rate` packets/s in all): latency from
            the station's send to its answer, and to the reading's append time on the readings topic (created
            with LogAppendTime, so the broker stamps it).
  memory    the gateway process's resident set after connecting N stations, and its peak (VmHWM); with
            --processes above one, the sum over the processes.

`--processes K` runs K gateway processes on one port, as ERS_HJ212_PROCESSES=K does (each MN served by its owner,
handlers/hj212/handoff.py); the baseline stays one process, as the issue defines it.

Every reading is read back from the topic afterwards: the count and distinct event ids show nothing was lost
or doubled. The load generator shares the machine's cores with the broker and the gateway (printed).

    .venv/bin/python bench/hj212_gateway.py [--stations 1000] [--packets 20] [--rate 1000] [--seconds 15]
                                            [--loop uvloop|asyncio] [--processes 1] [--profile gateway.prof]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import multiprocessing as mp
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvloop  # noqa: E402
from aiokafka import AIOKafkaConsumer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from contingency.hj212 import StationLink  # noqa: E402
from contingency.loader import load_standards  # noqa: E402
from deploy.local.kafka import LocalKafka  # noqa: E402
from handlers.hj212.directory import StationDirectory  # noqa: E402
from handlers.hj212.frame import encode_frame  # noqa: E402
from handlers.hj212.handoff import Handoff  # noqa: E402
from handlers.hj212.kafka_sink import KafkaPacketSink  # noqa: E402
from handlers.hj212.server import Gateway, GatewayLimits  # noqa: E402
from handlers.hj212.station import StationClient, Value  # noqa: E402
from handlers.kafka_admin import ensure_topics  # noqa: E402
from schemas import StationReport, decode  # noqa: E402
from schemas.topics import READINGS, TopicNames  # noqa: E402

PARTITIONS = 4
PASSWORD = "bench123"
CODES = {"w21003": "ammonia_nitrogen", "w01018": "cod", "w01001": "pH"}
UNITS = {"ammonia_nitrogen": "mg/L", "cod": "mg/L", "pH": "dimensionless"}
CHINA = dt.timezone(dt.timedelta(hours=8))


def mn_of(i: int) -> str:
    return f"BENCH{i:07d}"


def station_of(i: int) -> str:
    return f"bench_{i:05d}"


def bench_directory(stations: int) -> StationDirectory:
    links = {mn_of(i): StationLink(station_of(i), mn_of(i), "ERS_HJ212_PW_BENCH", frozenset({"realtime"}), CODES,
                                   UNITS, "bench_source") for i in range(stations)}
    return StationDirectory(links, {mn: PASSWORD for mn in links}, load_standards().hj212)


# -- the servers, each in its own process ---------------------------------------------------------------------------
def gateway_process(bootstrap: str, prefix: str, stations: int, loop: str, profile: str | None,
                    siblings: tuple[str, int, int, int] | None, out: mp.Queue, stop: mp.Event) -> None:
    """`siblings`: (token, index, count, port) when this is one of several processes."""
    async def main() -> None:
        sink = KafkaPacketSink(bootstrap, TopicNames(prefix, PARTITIONS))
        await sink.start()
        # Real loggers send a packet every 30 s or more, and the gateway's per-connection limit (20/s) says so;
        # here every connection sends as fast as it is answered, so the limit is lifted.
        limits = GatewayLimits(max_connections=stations + 100, packets_per_second=100_000, burst=100_000)
        handoff = Handoff(*siblings[:3]) if siblings else None
        gateway = Gateway(bench_directory(stations), sink, lambda: dt.datetime.now(dt.timezone.utc), limits,
                          handoff=handoff)
        await gateway.start("127.0.0.1", siblings[3] if siblings else 0)
        out.put(gateway.port)
        while not stop.is_set():
            await asyncio.sleep(0.1)
        out.put(gateway.accepted)
        await gateway.close()
        await sink.stop()

    run = uvloop.run if loop == "uvloop" else asyncio.run  # `ers gateway` runs on uvloop
    if profile is None:
        run(main())
        return
    import cProfile
    cProfile.runctx("run(main())", globals(), {"main": main, "run": run}, profile)


def baseline_process(out: mp.Queue, stop: mp.Event) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readuntil(b"\r\n")
                at = line.find(b"QN=")
                qn = line[at + 3:line.index(b";", at)].decode()
                writer.write(encode_frame(f"QN={qn};ST=91;CN=9014;PW={PASSWORD};MN=BASELINE;Flag=4;CP=&&&&"))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", 0, backlog=4096)
        out.put(server.sockets[0].getsockname()[1])
        while not stop.is_set():
            await asyncio.sleep(0.1)
        server.close()

    asyncio.run(main())


class ServerProcess:
    def __init__(self, target, *args) -> None:
        context = mp.get_context("spawn")
        self.out, self.stop = context.Queue(), context.Event()
        self.process = context.Process(target=target, args=(*args, self.out, self.stop), daemon=True)

    def __enter__(self) -> "ServerProcess":
        self.process.start()
        self.port = self.out.get(timeout=60)
        return self

    def memory_mb(self) -> tuple[float, float]:
        """(resident now, peak resident) of the server process, in MB."""
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines())
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

    def finish(self) -> object:
        self.stop.set()
        result = self.out.get(timeout=60) if self.process.is_alive() else None
        return result

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.process.join(30)
        if self.process.is_alive():
            self.process.kill()


def total_memory(servers: list[ServerProcess]) -> tuple[float, float]:
    memories = [server.memory_mb() for server in servers]
    return sum(m[0] for m in memories), sum(m[1] for m in memories)


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def cpu_seconds(pid: int) -> float:
    return sum(user_system_seconds(pid))


def user_system_seconds(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / os.sysconf("SC_CLK_TCK"), int(fields[12]) / os.sysconf("SC_CLK_TCK")  # utime, stime


# -- the stations ---------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Sent:
    station_id: str
    data_time: dt.datetime
    wall: float           # time.time() at send: compared with the broker's append time
    rtt: float | None     # seconds from send to answer; None if never answered


async def connect(port: int, stations: int) -> list[StationClient]:
    clients = [StationClient(mn_of(i), PASSWORD, answer_seconds=30, resends=0) for i in range(stations)]
    for start in range(0, stations, 200):  # in waves, not to overflow the listen backlog
        await asyncio.gather(*(c.connect("127.0.0.1", port) for c in clients[start:start + 200]))
    return clients


async def one(client: StationClient, index: int, data_time: dt.datetime, rng: random.Random) -> Sent:
    values = {"w21003": Value(round(rng.uniform(0.1, 0.8), 3)), "w01018": Value(round(rng.uniform(10, 40), 1)),
              "w01001": Value(round(rng.uniform(6.8, 8.2), 2))}
    wall, started = time.time(), time.perf_counter()
    answered = await client.upload(data_time, values)
    return Sent(station_of(index), data_time, wall, time.perf_counter() - started if answered else None)


async def flat_out(clients: list[StationClient], packets: int, base: dt.datetime) -> tuple[list[Sent], float]:
    """Every station sends `packets` uploads, each as soon as the previous one was answered."""
    rng = random.Random(1)

    async def station(index: int, client: StationClient) -> list[Sent]:
        return [await one(client, index, base + dt.timedelta(seconds=k), rng) for k in range(packets)]

    started = time.perf_counter()
    per_station = await asyncio.gather(*(station(i, c) for i, c in enumerate(clients)))
    return [sent for sents in per_station for sent in sents], time.perf_counter() - started


async def paced(clients: list[StationClient], rate: float, seconds: float, base: dt.datetime) -> list[Sent]:
    """Each station sends one upload every len(clients)/rate seconds, at a random phase."""
    rng = random.Random(2)
    period = len(clients) / rate
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.5

    async def station(index: int, client: StationClient) -> list[Sent]:
        out, k, phase = [], 0, rng.uniform(0, period)
        while (due := t0 + phase + k * period) < t0 + seconds:
            await asyncio.sleep(max(0.0, due - loop.time()))
            out.append(await one(client, index, base + dt.timedelta(seconds=k), rng))
            k += 1
        return out

    per_station = await asyncio.gather(*(station(i, c) for i, c in enumerate(clients)))
    return [sent for sents in per_station for sent in sents]


async def read_back(bootstrap: str, topic: str,
                    expected: int) -> tuple[int, dict[tuple[str, dt.datetime], tuple[str, int]]]:
    """The number of records on the topic, and (station, observed_at) -> (event id, append time in ms)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"bench-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=5000)
    await consumer.start()
    found: dict[tuple[str, dt.datetime], tuple[str, int]] = {}
    records, quiet_since = 0, time.monotonic()
    try:
        while time.monotonic() - quiet_since < 3 or records < expected and time.monotonic() - quiet_since < 15:
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                for record in batch:
                    report = decode(StationReport, record.value)
                    found[(report.station_id, report.observed_at)] = (report.event_id, record.timestamp)
                    records += 1
                    quiet_since = time.monotonic()
    finally:
        await consumer.stop()
    return records, found


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1] if len(values) > 1 else values[0]


# -- the run --------------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stations", type=int, default=1000, help="connections held at once (default 1000)")
    parser.add_argument("--packets", type=int, default=20, help="uploads per station, flat out (default 20)")
    parser.add_argument("--rate", type=float, default=1000, help="packets/s in all, paced phase (default 1000)")
    parser.add_argument("--seconds", type=float, default=15, help="length of the paced phase (default 15)")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop",
                        help="the gateway's event loop (default uvloop, as `ers gateway` runs)")
    parser.add_argument("--processes", type=positive, default=1,
                        help="gateway processes sharing the port, as ERS_HJ212_PROCESSES (default 1)")
    parser.add_argument("--profile", metavar="FILE",
                        help="write the (first) gateway process's cProfile stats to FILE")
    args = parser.parse_args()
    console = Console()
    n = args.stations
    with LocalKafka(ephemeral=True) as kafka:
        prefix = f"bench{uuid.uuid4().hex[:6]}."
        names = TopicNames(prefix, PARTITIONS)
        specs = [dataclasses.replace(s, config={**s.config, "message.timestamp.type": "LogAppendTime"})
                 if s.name == names.of(READINGS) else s for s in names.specs()]
        ensure_topics(kafka.bootstrap, specs)

        async def against_baseline(port: int) -> tuple[list[Sent], float]:
            clients = await connect(port, n)
            result = await flat_out(clients, args.packets, dt.datetime(2026, 1, 1, tzinfo=CHINA))
            await asyncio.gather(*(c.close() for c in clients))
            return result

        with ServerProcess(baseline_process) as baseline:
            base_sent, base_elapsed = asyncio.run(against_baseline(baseline.port))

        async def against_gateway(servers: list[ServerProcess]) -> tuple[tuple[float, float], list[Sent], float,
                                                                          list[Sent]]:
            clients = await connect(servers[0].port, n)
            await asyncio.sleep(1)
            idle_memory = total_memory(servers)
            gateway_pids = [server.process.pid for server in servers]
            before = [sum(map(cpu_seconds, gateway_pids)), cpu_seconds(broker_pid), cpu_seconds(os.getpid()),
                      sum(user_system_seconds(pid)[1] for pid in gateway_pids)]
            flat, elapsed = await flat_out(clients, args.packets, dt.datetime(2026, 2, 1, tzinfo=CHINA))
            after = [sum(map(cpu_seconds, gateway_pids)), cpu_seconds(broker_pid), cpu_seconds(os.getpid()),
                     sum(user_system_seconds(pid)[1] for pid in gateway_pids)]
            cpu.extend(a - b for a, b in zip(after, before))
            slow = await paced(clients, args.rate, args.seconds, dt.datetime(2026, 3, 1, tzinfo=CHINA))
            await asyncio.gather(*(c.close() for c in clients))
            return idle_memory, flat, elapsed, slow

        broker_pid, cpu = kafka.status().pid, []
        with contextlib.ExitStack() as stack:
            token, servers = uuid.uuid4().hex[:12], []
            for index in range(args.processes):
                siblings = (token, index, args.processes, servers[0].port if servers else 0)
                servers.append(stack.enter_context(ServerProcess(
                    gateway_process, kafka.bootstrap, prefix, n, args.loop, args.profile if index == 0 else None,
                    siblings if args.processes > 1 else None)))
            idle_memory, flat, elapsed, slow = asyncio.run(against_gateway(servers))
            peak_memory = total_memory(servers)
            accepted = sum(server.finish() for server in servers)
        records, on_topic = asyncio.run(read_back(kafka.bootstrap, names.of(READINGS), len(flat) + len(slow)))

    answered = [s for s in flat + slow if s.rtt is not None]
    missing = [s for s in answered if (s.station_id, s.data_time) not in on_topic]
    event_ids = {event_id for event_id, _ in on_topic.values()}
    base_rate = sum(s.rtt is not None for s in base_sent) / base_elapsed
    rate = sum(s.rtt is not None for s in flat) / elapsed

    processes = f"{args.processes} gateway processes" if args.processes > 1 else "one gateway process"
    table = Table(title=f"HJ 212 gateway on {args.loop}, {processes}, {n} stations each on its own connection, "
                        f"{os.cpu_count()} cores shared by broker, gateway and stations")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("vs baseline", justify="right")
    table.add_row("baseline: bare asyncio line server, answered packets/s", f"{base_rate:,.0f}", "1.000")
    table.add_row(f"gateway flat out ({args.packets} per station): answered packets/s", f"{rate:,.0f}",
                  f"{rate / base_rate:.3f}")
    slow_rtts = [s.rtt for s in slow if s.rtt is not None]
    slow_span = max(s.wall for s in slow) - min(s.wall for s in slow) if slow else 1
    table.add_row("paced: offered packets/s", f"{len(slow) / slow_span:,.0f}", "")
    for q in (0.5, 0.99):
        table.add_row(f"paced: send -> answer p{int(q * 100)} (ms)", f"{percentile(slow_rtts, q) * 1000:.1f}", "")
    appended = [on_topic[(s.station_id, s.data_time)][1] / 1000 - s.wall for s in slow
                if (s.station_id, s.data_time) in on_topic]
    for q in (0.5, 0.99):
        table.add_row(f"paced: send -> reading appended p{int(q * 100)} (ms)",
                      f"{percentile(appended, q) * 1000:.1f}", "")
    table.add_row("flat out: CPU seconds of gateway / broker / stations",
                  f"{cpu[0]:.1f} / {cpu[1]:.1f} / {cpu[2]:.1f} in {elapsed:.1f} s", "")
    table.add_row("flat out: gateway CPU per packet (µs)", f"{cpu[0] / len(flat) * 1e6:.0f}", "")
    table.add_row("flat out: of which in the kernel (µs)", f"{cpu[3] / len(flat) * 1e6:.0f}", "")
    table.add_row(f"gateway RSS with {n} connections idle (MB)", f"{idle_memory[0]:.0f}", "")
    table.add_row("gateway peak RSS (MB)", f"{peak_memory[1]:.0f}", "")
    table.add_row("packets sent / answered / accepted by the gateway",
                  f"{len(flat) + len(slow)} / {len(answered)} / {accepted}", "")
    table.add_row("readings on the topic: records / distinct event ids / answered but missing",
                  f"{records} / {len(event_ids)} / {len(missing)}", "")
    console.print(table)


if __name__ == "__main__":
    main()
