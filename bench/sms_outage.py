"""An experiment: the SMS provider refuses every page for `--minutes` while incidents open and escalate; then it
takes them again. Does every page go out afterwards (or get superseded, with a reason), none twice, and how
long after the end of the outage is the queue empty?

  baseline  the same kind of incidents with the provider up: seconds from a notification on the topic to its
            send (the sandbox's record of it), p50 / max.
  outage    Twilio: every message creation answers 503; Aliyun: flow control (isv.BUSINESS_LIMIT_CONTROL) for
            every roster number. `--incidents` incidents open during the first half of the outage; with the plan's
            waits shortened to 1 minute they escalate meanwhile. The waiting queue (`ers sms queue`'s rows) is
            sampled every 30 s.
  after     seconds from the provider's return to the last page sent; pages per notification at the provider.

Real broker (ephemeral), real worker, the official SDK against the local sandbox.

    .venv/bin/python bench/sms_outage.py [--provider twilio|aliyun] [--minutes 10] [--incidents 6]
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import re
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from contingency import load_plan  # noqa: E402
from contingency.roster import load_roster  # noqa: E402
from contingency.sms_templates import load_templates  # noqa: E402
from deploy.local.aliyun_api import LocalAliyunSms, fake_access_key  # noqa: E402
from deploy.local.kafka import LocalKafka  # noqa: E402
from deploy.local.twilio_api import LocalTwilioApi, fake_account_sid, fake_auth_token  # noqa: E402
from handlers.database import open_migrated  # noqa: E402
from handlers.sms_outbox import SmsOutbox  # noqa: E402
from tests.integration.harness import DEFAULT_PLAN, DEFAULT_ROSTER, REPO, TopicReader, WorkerProcess, send  # noqa: E402

# Sources whose readings open an incident, one reading each (station, parameter, value, unit).
TRIGGERS = [("yirshi_wwtp_online", "cod", 80.0, "mg/L"), ("city_air_auto", "no2", 1500.0, "ug/m3"),
            ("city_source_auto", "ammonia_nitrogen", 1.4, "mg/L"),
            ("tailings_example_online", "seepage_flow", 6.5, "L/s"), ("hlh_dsk_auto", "cadmium", 0.02, "mg/L"),
            ("yirshi_wwtp_online", "ammonia_nitrogen", 30.0, "mg/L")]
console = Console()


def reading(station: str, parameter: str, value: float, unit: str) -> dict:
    return {"event_id": str(uuid.uuid4()), "station_id": station,
            "observed_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "measurements": [{"parameter": parameter, "value": value, "unit": unit}]}


class Provider:
    """The sandbox of one provider, as the experiment needs it: take it down, bring it back, count its sends."""

    def __init__(self, kind: str, phones: list[str]) -> None:
        self.kind, self.phones = kind, phones
        self.twilio = LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid()).start()
        self.aliyun: LocalAliyunSms | None = None
        self.env: dict[str, str] = {}
        if kind == "aliyun":
            templates = load_templates(REPO / "plans" / "arxan-sms-templates.yaml")
            key, secret = fake_access_key()
            self.aliyun = LocalAliyunSms(access_key_id=key, access_key_secret=secret,
                                         sign_names={templates.sign_name},
                                         templates={t.code: t.text for t in templates.templates.values()}).start()
            self.env = {"ERS_SMS_PROVIDER": "aliyun", "ERS_ALIYUN_ACCESS_KEY_ID": key,
                        "ERS_ALIYUN_ACCESS_KEY_SECRET": secret, "ERS_ALIYUN_ENDPOINT": self.aliyun.endpoint,
                        "ERS_ALIYUN_PUSH_TOKEN": secrets.token_urlsafe(24),
                        "ERS_SMS_TEMPLATES": str(REPO / "plans" / "arxan-sms-templates.yaml")}

    def down(self, seconds: float) -> None:
        if self.aliyun is not None:
            for phone in self.phones:
                self.aliyun.throttle(phone, seconds)
        else:
            self.twilio.fail_next(100_000, status=503)  # more than any outage here tries; 10**7 took 10 s and 1 GB

    def up(self) -> None:
        if self.aliyun is not None:
            for phone in self.phones:
                self.aliyun.throttle(phone, 0)
        else:
            self.twilio.recover()

    def sends(self) -> list[tuple[str, float]]:
        """(notification key, wall time) of every message the provider took."""
        if self.aliyun is not None:
            return [(m.out_id or "", m.sent_at.timestamp()) for m in self.aliyun.messages]
        return [(f"{m.to}|{m.body}", m.date_created.timestamp()) for m in self.twilio.messages
                if m.direction == "outbound-api"]

    def key_of(self, notification: dict) -> str:
        return uuid.UUID(notification["notification_id"]).hex if self.aliyun is not None else \
            f"{notification['to']}|{notification['body']}"

    def stop(self) -> None:
        if self.aliyun is not None:
            self.aliyun.stop()
        self.twilio.stop()


@dataclass
class OutageRun:
    """What one outage did: the topics read after the queue emptied, the provider's sends, the queue's samples."""

    triggers: list[tuple[str, str, float, str]]
    latencies: list[float]      # baseline: notification -> at the provider (s)
    notes: list[dict]           # notifications made during and after the outage
    statuses: list[dict]        # the delivery topic, all of it
    escalations: list[dict]     # incident.escalated events
    sends: list[tuple[str, float]]
    sent_during: int            # pages the provider took while it was down (should be none)
    samples: list[tuple[float, int]]  # (seconds into the outage, pages waiting)
    back: float                 # wall time the provider came back
    drained_at: float | None    # wall time the queue was empty again
    provider: "Provider"

    @property
    def superseded(self) -> set[str]:
        return {s["notification_id"] for s in self.statuses if s["status"] == "superseded"}

    @property
    def deferred(self) -> list[dict]:
        return [s for s in self.statuses if s["status"] == "deferred"]

    @property
    def wanted(self) -> list[dict]:
        return [n for n in self.notes if n["notification_id"] not in self.superseded]

    @property
    def missing(self) -> list[dict]:
        per_key = collections.Counter(key for key, _ in self.sends)
        return [n for n in self.wanted if per_key[self.provider.key_of(n)] == 0]

    @property
    def doubled(self) -> list[dict]:
        per_key = collections.Counter(key for key, _ in self.sends)
        return [n for n in self.notes if per_key[self.provider.key_of(n)] > 1]

    @property
    def late(self) -> list[float]:
        return [t - self.back for _, t in self.sends if t >= self.back]


def run_outage(bootstrap: str, worker: WorkerProcess, provider: Provider, seconds: float,
               triggers: list[tuple[str, str, float, str]], baseline: tuple[str, str, float, str] | None = TRIGGERS[0],
               baseline_seconds: float = 15.0, sample_seconds: float = 30.0, settle_seconds: float = 10.0,
               drain_timeout: float = 300.0, while_down: Callable[[float], None] | None = None,
               say: Callable[[str], None] = console.print) -> OutageRun:
    """The experiment on a running `worker`: a baseline incident with the provider up (unless `baseline` is None),
    then the provider down for `seconds` while `triggers` open incidents during its first half (`while_down` is
    called with the seconds elapsed every half second meanwhile), then up again until the queue is empty, then
    `settle_seconds` more (nothing may go twice)."""
    outbox = SmsOutbox(open_migrated(worker.env["ERS_DATABASE_URL"]))
    notifications = TopicReader(bootstrap, worker.topic("notifications"))
    delivery = TopicReader(bootstrap, worker.topic("delivery"))
    incidents = TopicReader(bootstrap, worker.topic("incidents"))
    try:
        latencies: list[float] = []
        before: set[str] = set()
        if baseline is not None:  # one incident with the provider up
            send(bootstrap, worker.topic("readings"), reading(*baseline), key=baseline[0])
            time.sleep(baseline_seconds)
            baseline_notes = notifications.poll()
            sends = dict(provider.sends())
            latencies = [sends[provider.key_of(n)] - dt.datetime.fromisoformat(n["created_at"]).timestamp()
                         for n in baseline_notes if provider.key_of(n) in sends]
            before = {n["notification_id"] for n in baseline_notes}
        sent_before = len(provider.sends())

        provider.down(seconds)
        began = time.monotonic()
        samples: list[tuple[float, int]] = []
        spacing = seconds / 2 / len(triggers)
        next_trigger, index, next_sample = 0.0, 0, 0.0
        while (elapsed := time.monotonic() - began) < seconds:
            if index < len(triggers) and elapsed >= next_trigger:
                station, *rest = triggers[index]
                send(bootstrap, worker.topic("readings"), reading(station, *rest), key=station)
                index, next_trigger = index + 1, next_trigger + spacing
            if elapsed >= next_sample:
                samples.append((elapsed, len(outbox.waiting_rows())))
                say(f"[{elapsed:5.0f} s] waiting for the provider: {samples[-1][1]}")
                next_sample += sample_seconds
            if while_down is not None:
                while_down(elapsed)
            worker.check_alive()
            time.sleep(0.5)
        sent_during = len(provider.sends()) - sent_before
        provider.up()
        back = time.time()
        drained_at = None
        deadline = time.monotonic() + drain_timeout
        while time.monotonic() < deadline:
            if not outbox.waiting_rows():
                drained_at = time.time()
                break
            time.sleep(0.5)
        time.sleep(settle_seconds)  # more rounds of the retry loop: nothing may go twice
        notes = [n for n in notifications.poll() if n["notification_id"] not in before]
        statuses = list(delivery.poll())
        escalations = [r for r in incidents.poll() if r["type"] == "incident.escalated"]
    finally:
        for reader in (notifications, delivery, incidents):
            reader.close()
    return OutageRun(list(triggers), latencies, notes, statuses, escalations, provider.sends(), sent_during,
                     samples, back, drained_at, provider)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--provider", choices=("twilio", "aliyun"), default="aliyun")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the outage (default 10)")
    parser.add_argument("--incidents", type=int, default=6, choices=range(1, len(TRIGGERS) + 1), metavar="N",
                        help=f"incidents opened during the outage (1-{len(TRIGGERS)}, default 6)")
    args = parser.parse_args()
    plan = load_plan(DEFAULT_PLAN)
    phones = sorted({p.phone for p in load_roster(DEFAULT_ROSTER, plan).people.values()})
    work = Path(tempfile.mkdtemp(prefix="ers-outage-"))
    fast = work / "plan.yaml"
    fast.write_text(re.sub(r"wait_minutes: \d+(\.\d+)?", "wait_minutes: 1", DEFAULT_PLAN.read_text()))
    roster = work / "roster.yaml"
    roster.write_text(re.sub(r"bundle_seconds: \d+", "bundle_seconds: 0", DEFAULT_ROSTER.read_text()))
    provider = Provider(args.provider, phones)
    triggers = TRIGGERS[1:args.incidents + 1] if args.incidents < len(TRIGGERS) else TRIGGERS
    with LocalKafka(ephemeral=True) as kafka:
        worker = WorkerProcess(kafka.bootstrap, work / "worker", provider.twilio, plan=fast, roster=roster,
                               env=provider.env).start()
        try:
            run = run_outage(kafka.bootstrap, worker, provider, args.minutes * 60, triggers)
        finally:
            worker.stop()
            provider.stop()

    table = Table(title=f"{args.provider}: provider refusing every page for {args.minutes:g} min, "
                        f"{len(triggers)} incidents opened meanwhile (plan waits 1 min)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    latencies, deferred, missing = run.latencies, run.deferred, run.missing
    table.add_row("baseline: notification -> at the provider p50 / max (s)",
                  f"{statistics.median(latencies):.2f} / {max(latencies):.2f}" if latencies else "none sent")
    table.add_row("notifications made during and after the outage", str(len(run.notes)))
    table.add_row("pages at the provider during the outage", str(run.sent_during))
    table.add_row("escalations during the outage (the plan's timer, no page delivered)", str(len(run.escalations)))
    table.add_row("deferred events (with reason) / distinct pages deferred",
                  f"{len(deferred)} / {len({d['notification_id'] for d in deferred})}")
    table.add_row("most waiting at once (sampled every 30 s)", str(max((n for _, n in run.samples), default=0)))
    table.add_row("superseded (incident resolved) / sent after / missing / sent twice",
                  f"{len(run.superseded)} / {len(run.wanted) - len(missing)} / {len(missing)} / {len(run.doubled)}")
    table.add_row("provider back -> queue empty (s)",
                  f"{run.drained_at - run.back:.1f}" if run.drained_at else "not in 300 s")
    table.add_row("provider back -> last page sent (s)", f"{max(run.late):.1f}" if run.late else "-")
    table.add_row("retry cap (RetryPolicy.max_delay; Aliyun flow control waits 60 s)", "60")
    console.print(table)


if __name__ == "__main__":
    main()
