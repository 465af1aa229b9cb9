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
            self.twilio.fail_next(10**7, status=503)

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
    with LocalKafka(ephemeral=True) as kafka:
        worker = WorkerProcess(kafka.bootstrap, work / "worker", provider.twilio, plan=fast, roster=roster,
                               env=provider.env).start()
        outbox = SmsOutbox(open_migrated(worker.env["ERS_DATABASE_URL"]))
        notifications = TopicReader(kafka.bootstrap, worker.topic("notifications"))
        delivery = TopicReader(kafka.bootstrap, worker.topic("delivery"))
        incidents = TopicReader(kafka.bootstrap, worker.topic("incidents"))
        try:
            # baseline: one incident with the provider up
            send(kafka.bootstrap, worker.topic("readings"), reading(*TRIGGERS[0]), key=TRIGGERS[0][0])
            time.sleep(15)
            baseline_notes = notifications.poll()
            sends = dict(provider.sends())
            latencies = [sends[provider.key_of(n)] - dt.datetime.fromisoformat(n["created_at"]).timestamp()
                         for n in baseline_notes if provider.key_of(n) in sends]
            before = {n["notification_id"] for n in baseline_notes}
            sent_before = len(provider.sends())

            seconds = args.minutes * 60
            provider.down(seconds)
            began = time.monotonic()
            samples: list[tuple[float, int]] = []
            triggers = TRIGGERS[1:args.incidents + 1] if args.incidents < len(TRIGGERS) else TRIGGERS
            spacing = seconds / 2 / len(triggers)
            next_trigger, index, next_sample = 0.0, 0, 0.0
            while (elapsed := time.monotonic() - began) < seconds:
                if index < len(triggers) and elapsed >= next_trigger:
                    station, *rest = triggers[index]
                    send(kafka.bootstrap, worker.topic("readings"), reading(station, *rest), key=station)
                    index, next_trigger = index + 1, next_trigger + spacing
                if elapsed >= next_sample:
                    samples.append((elapsed, len(outbox.waiting_rows())))
                    console.print(f"[{elapsed:5.0f} s] waiting for the provider: {samples[-1][1]}")
                    next_sample += 30
                worker.check_alive()
                time.sleep(0.5)
            sent_during = len(provider.sends()) - sent_before
            provider.up()
            back = time.time()
            drained_at = None
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                if not outbox.waiting_rows():
                    drained_at = time.time()
                    break
                time.sleep(0.5)
            time.sleep(10)  # two more rounds of the retry loop: nothing may go twice
            notes = [n for n in notifications.poll() if n["notification_id"] not in before]
            statuses = delivery.poll()
            superseded = {s["notification_id"] for s in statuses if s["status"] == "superseded"}
            deferred = [s for s in statuses if s["status"] == "deferred"]
            per_key = collections.Counter(key for key, _ in provider.sends())
            wanted = [n for n in notes if n["notification_id"] not in superseded]
            missing = [n for n in wanted if per_key[provider.key_of(n)] == 0]
            doubled = [n for n in notes if per_key[provider.key_of(n)] > 1]
            late = [t - back for key, t in provider.sends() if t >= back]
            escalations = [r for r in incidents.poll() if r["type"] == "incident.escalated"]
        finally:
            for reader in (notifications, delivery, incidents):
                reader.close()
            worker.stop()
            provider.stop()

    table = Table(title=f"{args.provider}: provider refusing every page for {args.minutes:g} min, "
                        f"{len(triggers)} incidents opened meanwhile (plan waits 1 min)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("baseline: notification -> at the provider p50 / max (s)",
                  f"{statistics.median(latencies):.2f} / {max(latencies):.2f}" if latencies else "none sent")
    table.add_row("notifications made during and after the outage", str(len(notes)))
    table.add_row("pages at the provider during the outage", str(sent_during))
    table.add_row("escalations during the outage (the plan's timer, no page delivered)", str(len(escalations)))
    table.add_row("deferred events (with reason) / distinct pages deferred",
                  f"{len(deferred)} / {len({d['notification_id'] for d in deferred})}")
    table.add_row("most waiting at once (sampled every 30 s)", str(max((n for _, n in samples), default=0)))
    table.add_row("superseded (incident resolved) / sent after / missing / sent twice",
                  f"{len(superseded)} / {len(wanted) - len(missing)} / {len(missing)} / {len(doubled)}")
    table.add_row("provider back -> queue empty (s)", f"{drained_at - back:.1f}" if drained_at else "not in 300 s")
    table.add_row("provider back -> last page sent (s)", f"{max(late):.1f}" if late else "-")
    table.add_row("retry cap (RetryPolicy.max_delay; Aliyun flow control waits 60 s)", "60")
    console.print(table)


if __name__ == "__main__":
    main()
