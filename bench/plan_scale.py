"""How does ERS cope with a province-sized plan? (issue 14, target 6: worker ready in <= 15 s, RSS <= 300 MB with
a 20,000-station plan.)

The plan is the Arxan plan copied until it has N stations: every source and station again under a numbered id
(with its own HJ 212 MN), downstream links within each copy, and the rules that name Arxan's sources turned into
rules for their source kinds, as a province plan would write them once for all its river sections, drinking-water
sources, outfalls and ponds. Measured in the same run, with the Arxan plan itself as the baseline:
  load     contingency.load_plan in a fresh interpreter (read, check, compile): seconds and peak RSS
  worker   a real `ers worker` on an ephemeral broker, from spawn to its "Ready" line, and its peak RSS then
Usage (repo root): python bench/plan_scale.py [--stations 20000]
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deploy.local.kafka import LocalKafka  # noqa: E402
from deploy.local.twilio_api import LocalTwilioApi, fake_account_sid, fake_auth_token  # noqa: E402
from tests.integration.harness import DEFAULT_PLAN, WorkerProcess  # noqa: E402

# Peak RSS from /proc (VmHWM): getrusage's ru_maxrss carries the parent's peak across fork and exec on Linux.
LOAD = """
import sys, time
started = time.perf_counter()
from contingency import load_plan
plan = load_plan(sys.argv[1])
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(time.perf_counter() - started, int(hwm.split()[1]) / 1024, len(plan.stations))
"""


def province_plan(stations: int) -> dict:
    """The Arxan plan copied until it has at least `stations` stations."""
    arxan = yaml.safe_load(DEFAULT_PLAN.read_text(encoding="utf-8"))
    copies = -(-stations // len(arxan["stations"]))
    plan = copy.deepcopy(arxan)
    # Copy 0 keeps Arxan's ids (and the plan its id), so the Arxan roster, whose maintenance names stations, fits.
    plan["sources"], plan["stations"] = {}, {}
    for n in range(copies):
        suffix = f"_{n}" if n else ""
        for source_id, source in arxan["sources"].items():
            source = copy.deepcopy(source)
            source["name"] = f"{source['name']} {n}" if n else source["name"]
            for link in source.get("downstream", []):
                link["source"] = f"{link['source']}{suffix}"
            plan["sources"][f"{source_id}{suffix}"] = source
        for station_id, station in arxan["stations"].items():
            station = copy.deepcopy(station)
            station["source"] = f"{station['source']}{suffix}"
            if n:
                station["name"] = f"{station['name']} {n}"
                if "hj212" in station:
                    station["hj212"]["mn"] = f"{station['hj212']['mn'][:14]}{n:06d}{len(plan['stations']) % 10000:04d}"
            plan["stations"][f"{station_id}{suffix}"] = station
    kinds = {source_id: source["kind"] for source_id, source in arxan["sources"].items()}
    for rule in plan["rules"].values():
        if rule.get("sources"):
            rule["source_kinds"] = sorted({*rule.get("source_kinds", []), *(kinds[s] for s in rule.pop("sources"))})
        rule.pop("stations", None)
    return plan


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@contextlib.contextmanager
def province_site(plan: dict, prefix: str) -> Iterator[tuple[Path, Path, LocalTwilioApi, LocalKafka]]:
    """What a bench's workers run on: a scratch directory holding `plan` as plan.yaml, the local Twilio API and an
    ephemeral broker (work directory, plan path, Twilio, Kafka)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        plan_path = write_yaml(work / "plan.yaml", plan)
        twilio = LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid()).start()
        try:
            with LocalKafka(ephemeral=True) as kafka:
                yield work, plan_path, twilio, kafka
        finally:
            twilio.stop()


def load_in_fresh_process(path: Path) -> tuple[float, float, int]:
    out = subprocess.run([sys.executable, "-c", LOAD, str(path)], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    seconds, rss, count = out.stdout.split()
    return float(seconds), float(rss), int(count)


def rss_mb(pid: int) -> tuple[float, float]:
    """(peak, current) resident memory of a process."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


def worker_ready(broker: str, twilio: LocalTwilioApi, workdir: Path, plan: Path) -> list[tuple[float, float, float]]:
    """(seconds to Ready, peak RSS MB, RSS MB at Ready) of a first start (the plan read from its YAML) and of a
    restart (the plan from the worker's cache)."""
    worker = WorkerProcess(broker, workdir, twilio, plan=plan)
    starts = []
    for _ in range(2):
        started = time.perf_counter()
        worker.start(timeout=600)
        ready = time.perf_counter() - started
        assert worker.process is not None
        starts.append((ready, *rss_mb(worker.process.pid)))
        worker.stop()
    return starts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=20_000, help="stations of the big plan (default 20,000)")
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="ers-plan-scale-") as tmp:
        work = Path(tmp)
        big = work / "province.yaml"
        started = time.perf_counter()
        write_yaml(big, province_plan(args.stations))
        console.print(f"plan of {args.stations:,} stations written in {time.perf_counter() - started:.1f} s "
                      f"({big.stat().st_size / 1e6:.1f} MB)")
        results = {}
        for name, path in (("Arxan plan (baseline)", DEFAULT_PLAN), (f"{args.stations:,}-station plan", big)):
            seconds, rss, count = load_in_fresh_process(path)
            results[name] = {"load": (seconds, rss, count)}
        twilio = LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid()).start()
        try:
            with LocalKafka(ephemeral=True) as kafka:
                for i, (name, path) in enumerate((("Arxan plan (baseline)", DEFAULT_PLAN),
                                                  (f"{args.stations:,}-station plan", big))):
                    results[name]["worker"] = worker_ready(kafka.bootstrap, twilio, work / f"w{i}", path)
        finally:
            twilio.stop()
    table = Table(title="plan scale (issue 14, target 6: ready <= 15 s, RSS <= 300 MB at 20,000 stations)")
    for column in ("plan", "stations", "load_plan s", "load_plan peak RSS MB", "worker", "ready s", "peak RSS MB",
                   "RSS at ready MB", "ready vs baseline"):
        table.add_column(column, justify="right" if column not in ("plan", "worker") else "left")
    base = results["Arxan plan (baseline)"]["worker"]
    for name, result in results.items():
        seconds, rss, count = result["load"]
        for n, (start, (ready, peak, now)) in enumerate(zip(("first start", "restart (cached plan)"),
                                                            result["worker"])):
            table.add_row(name if n == 0 else "", f"{count:,}" if n == 0 else "", f"{seconds:.2f}" if n == 0 else "",
                          f"{rss:.0f}" if n == 0 else "", start, f"{ready:.2f}", f"{peak:.0f}", f"{now:.0f}",
                          f"{ready / base[n][0]:.2f}x")
    console.print(table)


if __name__ == "__main__":
    main()
