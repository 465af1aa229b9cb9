"""`ers gateway` (the HJ 212 gateway) and `ers station simulate` (a station speaking HJ 212 to it)."""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import os
import re
from pathlib import Path

from streams.cli_support import UserError, console, load_plan_or_fail
from streams.config import Settings

KINDS = ("realtime", "minute", "hour", "day")


def add_station_commands(sub: argparse._SubParsersAction) -> None:
    gateway = sub.add_parser("gateway", help="run the HJ 212 gateway for the plan's stations (ERS_HJ212_PORT)")
    gateway.set_defaults(handler=cmd_gateway)

    station = sub.add_parser("station", help="HJ 212 stations")
    actions = station.add_subparsers(title="station commands", metavar="ACTION", required=True)
    simulate = actions.add_parser("simulate", help="be one of the plan's stations: upload over HJ 212, answer "
                                                   "the gateway's commands")
    simulate.add_argument("station", help="the plan's station id (its MN and password variable come from the plan)")
    simulate.add_argument("--gateway", type=host_port, default=None, metavar="HOST:PORT",
                          help="the gateway (default: 127.0.0.1 and ERS_HJ212_PORT)")
    simulate.add_argument("--interval", type=seconds, default=None, metavar="SECONDS",
                          help="seconds between uploads (default: the station's real-time interval, or 30); the "
                               "gateway's 1062 command changes it")
    simulate.add_argument("--count", type=count, default=None, help="uploads to send, then stop (default: run on)")
    simulate.add_argument("--file", type=Path, default=None, help="JSON Lines of values to send, one upload a line")
    simulate.add_argument("--seed", type=int, default=None, help="seed of the random walk (without --file)")
    simulate.add_argument("--set", type=setting, action="append", default=[], metavar="PARAMETER=VALUE",
                          help="hold a parameter at a value, e.g. --set cadmium=0.02 (repeatable)")
    simulate.add_argument("--version", choices=("2017", "2005"), default="2017", help="HJ 212 edition to speak")
    simulate.add_argument("--kind", choices=KINDS, default="realtime",
                          help="upload kind: realtime (2011), minute (2051), hour (2061), day (2031)")
    simulate.set_defaults(handler=cmd_station_simulate)


def host_port(text: str) -> tuple[str, int]:
    match = re.fullmatch(r"(.+):(\d{1,5})", text)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, e.g. 127.0.0.1:6212, got {text!r}")
    return match.group(1), int(match.group(2))


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"expected seconds between 0 and 86400 (e.g. 30 or 0.5), got {text!r}")
    return value


def count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of uploads of at least 1, got {text!r}")
    return int(text)


def setting(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not name.strip() or number != number or number in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected PARAMETER=NUMBER, e.g. cadmium=0.02, got {text!r}")
    return name.strip(), number


def cmd_gateway(args: argparse.Namespace, settings: Settings) -> int:
    from streams.gateway import run_gateway

    if settings.broker is None:
        raise UserError("no broker configured: set ERS_BROKER=host:port (or use `ers up`, which starts the gateway "
                        "too)", exit_code=2)
    run_gateway(settings, load_plan_or_fail(settings.plan))
    return 0


def cmd_station_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from contingency.loader import load_standards
    from handlers.hj212.directory import StationDirectory
    from handlers.hj212.packet import Version
    from handlers.hj212.simulation import RandomWalk, SimulationError, samples_from_file, station_bounds
    from handlers.hj212.uploads import UploadKind

    plan = load_plan_or_fail(settings.plan)
    directory = StationDirectory.from_plan(plan, load_standards().hj212, os.environ)
    link = directory.by_station(args.station)
    if link is None:
        speaking = sorted(link.station_id for link in directory.links.values())
        raise UserError(f"station {args.station!r}: the plan gives no HJ 212 station of that id; expected one of "
                        f"{', '.join(speaking) or '(none: no station has an hj212 block)'}", exit_code=2)
    password = directory.passwords[link.mn]
    if password is None:
        raise UserError(f"station {link.station_id}'s password is read from {link.password_env}, which is unset: "
                        f"set it to the value the gateway has", exit_code=2)
    version = Version.HJ212_2017 if args.version == "2017" else Version.HJ212_2005
    edition_2017 = version is Version.HJ212_2017
    try:
        if args.file is not None:
            samples = samples_from_file(args.file, link, edition_2017)
        else:
            samples = iter(RandomWalk(link, edition_2017, station_bounds(plan, link.station_id), dict(args.set),
                                      args.seed))
        host, port = args.gateway or ("127.0.0.1", settings.hj212_port)
        station = plan.stations[link.station_id]
        interval = args.interval or (station.hj212.rtd_interval_seconds if station.hj212 else None) or 30
        return asyncio.run(_simulate(link, password, version, UploadKind(args.kind), host, port, interval,
                                     samples, args.count))
    except SimulationError as exc:
        raise UserError(str(exc), exit_code=2) from exc


async def _simulate(link, password, version, kind, host: str, port: int, interval: float, samples,
                    limit: int | None) -> int:
    from handlers.hj212.station import StationClient

    client = StationClient(link.mn, password, version=version, rtd_interval=int(interval))
    try:
        await client.connect(host, port)
    except OSError as exc:
        raise UserError(f"cannot reach the HJ 212 gateway at {host}:{port}: {exc.strerror or exc}; is `ers up` or "
                        f"`ers gateway` running?") from exc
    console.print(f"station {link.station_id} (MN {link.mn}, HJ 212-{version.value}) connected to {host}:{port}")
    sent = answered = 0
    try:
        for sample in itertools.islice(samples, limit):
            now = dt.datetime.now(dt.timezone.utc)
            ok = await client.upload(sample.data_time or now, sample.values, kind)
            sent += 1
            answered += ok
            shown = ", ".join(f"{code}={value.value:g}" for code, value in sample.values.items())
            console.print(f"{'answered' if ok else '[yellow]no answer[/]'}: {shown}")
            if limit is None or sent < limit:
                # The gateway may have shortened the interval (1062) while an incident is open.
                await asyncio.sleep(min(interval, client.rtd_interval) if client.rtd_interval else interval)
    except ConnectionError as exc:
        raise UserError(f"the gateway closed the connection: {exc}") from exc
    finally:
        await client.close()
    console.print(f"{sent} uploads, {answered} answered; commands from the gateway: "
                  f"{', '.join(p.cn for p in client.commands) or 'none'}")
    return 0 if answered == sent else 1
