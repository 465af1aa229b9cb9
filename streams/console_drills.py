"""The console's drills page (issue 16, item 6): the shipped scenarios, the past drill runs with their reports, and a
button for a section chief to replay a scenario at a chosen speed and watch it on a drill board marked 演练.

Where a console-started drill shows: on a drill board of its own (`/drills/runs/<run>`), which follows that run's
incident-states topic (`drill.<run>.incident-states`), never on the live board and never through the live topics.
The replay is `ers drill run` in a child process, exactly as from a terminal: its own worker, topic prefix, consumer
group, database (the ledger a copy of production's, only read) and local SMS sandbox, so drill SMS go to the
roster's drill phones with 【演练】 and nothing of the drill reaches the live incident desk, its timers, its ledger or
the people on duty ("drills replay recorded event logs on a virtual clock, never paging real people"). Replaying into
the live topics with drill ids would run the drill through the production worker: its escalation timers, its
bundling and hourly caps, its ledger and its SMS provider would all see the drill, and one missing drill id would
page a real person. The console never passes `--live-roster`.

The console tracks the run it started (one at a time per console process): running, finished or failed with its
exit code and the tail of its output. Runs are listed from the drill output directory (`<data_dir>/drills/<run>/`,
where `ers drill run` writes report.json and report.html); reports are served only from there, by run id.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from contingency.access import allowed
from contingency.phones import mask
from handlers.console_users import audit
from handlers.incident_states import IncidentStateView
from streams.console_http import (SESSION_COOKIE, check_csrf, csrf_token, event_stream, html_response,
                                  language_of, source_of)
from streams.views import console_drill_pages as drill_pages
from streams.views import console_pages as pages

log = logging.getLogger("ers.console.drills")
REPO = Path(__file__).resolve().parents[1]
SPEEDS: tuple[str, ...] = ("1", "10", "60", "600", "max")  # the choices offered; `max`: as fast as the pipeline goes
RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,60}")  # `ers drill run --drill-id`'s own rule
SCENARIO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,80}\.jsonl")
REPORT_FILES: Mapping[str, str] = {"report.html": "text/html", "report.json": "application/json"}
# The report page is the self-contained file `ers drill run` writes (inline <style>, no script): served with a
# policy of its own that allows its styles and nothing else, sandboxed.
REPORT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; sandbox"
TAIL_LINES = 30
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
PHONE_LIKE = re.compile(r"(?<![\w*-])(?:\+\d{7,15}|1[3-9]\d{9})(?!\d)")  # E.164, or a mainland mobile
VIEWS_KEPT = 4  # drill boards followed at once (each a Kafka consumer); the oldest is stopped
STOP_SECONDS = 30
TOPIC_CHECK_SECONDS = 1.0


# --- pure: choices, names, paths -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    name: str                 # file name in drills/, e.g. "diesel-tanker.jsonl"
    title: str
    description: str
    events: int
    start: dt.datetime | None  # the log's time axis
    end: dt.datetime | None

    @property
    def span(self) -> dt.timedelta | None:
        return self.end - self.start if self.start and self.end else None


def parse_speed(text: object) -> str | None:
    """The speed as `ers drill run --speed` takes it, if it is one of the choices offered; else None."""
    value = str(text or "").strip().lower()
    return value if value in SPEEDS else None


def choose_scenario(name: object, scenarios: Iterable[Scenario]) -> Scenario | None:
    """The shipped scenario of that exact file name; None for anything else (a path, another file)."""
    wanted = str(name or "")
    return next((s for s in scenarios if s.name == wanted), None)


def valid_run_id(text: str) -> bool:
    return RUN_ID.fullmatch(text) is not None


def new_run_id(scenario: str, now: dt.datetime, suffix: str) -> str:
    """`<log stem>-<time>-<suffix>`: unique on the broker (a drill id names topics), valid for `--drill-id`."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(scenario).stem).strip("-")[:30] or "drill"
    return f"{stem}-{now:%Y%m%d-%H%M%S}-{suffix}"[:60]


def report_file(output_dir: Path, path: str) -> Path | None:
    """The report file a `/drills/report/<path>` asks for, inside `output_dir` only: `<run>` (its HTML report),
    `<run>/report.html` or `<run>/report.json`. None for anything else: other names, `..`, absolute paths, links
    out of the directory, files that are not there."""
    parts = path.split("/")
    if len(parts) == 1:
        parts.append("report.html")
    if len(parts) != 2 or not valid_run_id(parts[0]) or parts[1] not in REPORT_FILES:
        return None
    root = output_dir.resolve()
    candidate = (root / parts[0] / parts[1]).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def scenario_texts(readme: str) -> dict[str, tuple[str, str]]:
    """Title and first paragraph of each scenario of drills/README.md (its `### \\`name.jsonl\\` — title` headings);
    a drill log has no title of its own."""
    found: dict[str, tuple[str, str]] = {}
    blocks = re.split(r"^### ", readme, flags=re.MULTILINE)[1:]
    for block in blocks:
        heading, _, rest = block.partition("\n")
        named = re.match(r"`([^`]+\.jsonl)`\s*(?:[—–-]+\s*)?(.*)", heading.strip())
        if not named:
            continue
        paragraph = rest.strip().split("\n\n", 1)[0] if rest.strip() else ""
        found[named.group(1)] = (named.group(2).strip(), " ".join(paragraph.split()))
    return found


def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last lines of a drill's output, without the progress bar's carriage-return redraws or terminal codes, and
    with phone numbers masked (the output shows the drill phone to answer from; no console page shows a number)."""
    text = PHONE_LIKE.sub(lambda m: mask(m.group(0)), ANSI.sub("", text))
    kept = [line.rsplit("\r", 1)[-1].rstrip() for line in text.split("\n")]
    kept = [line for line in kept if line.strip()]
    return "\n".join(kept[-lines:]) if lines > 0 else ""


# --- I/O: files --------------------------------------------------------------------------------------------------

def list_scenarios(drills_dir: Path) -> list[Scenario]:
    """The shipped drill logs (drills/*.jsonl), with a title from drills/README.md and the log's time span."""
    readme = drills_dir / "README.md"
    texts = scenario_texts(readme.read_text(encoding="utf-8")) if readme.is_file() else {}
    scenarios = []
    for path in sorted(drills_dir.glob("*.jsonl")):
        if not SCENARIO_NAME.fullmatch(path.name):
            continue
        times: list[dt.datetime] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                times.append(dt.datetime.fromisoformat(json.loads(line)["at"]))
            except (ValueError, KeyError, TypeError):
                continue  # `ers drill run` reports it; the list only counts
        title, description = texts.get(path.name, (path.stem, ""))
        scenarios.append(Scenario(path.name, title, description, len(times), min(times, default=None),
                                  max(times, default=None)))
    return scenarios


@dataclass(frozen=True)
class PastRun:
    run_id: str
    has_html: bool
    has_json: bool
    speed: str = ""
    started: str = ""
    incidents: int | None = None
    notifications: int | None = None
    partial: bool = False


def list_runs(output_dir: Path) -> list[PastRun]:
    """The drill runs with a report in the output directory, newest first."""
    runs = []
    if not output_dir.is_dir():
        return runs
    for folder in output_dir.iterdir():
        if not folder.is_dir() or not valid_run_id(folder.name):
            continue
        html_report, json_report = folder / "report.html", folder / "report.json"
        if not html_report.is_file() and not json_report.is_file():
            continue
        run = PastRun(folder.name, html_report.is_file(), json_report.is_file())
        try:
            data = json.loads(json_report.read_text(encoding="utf-8")) if run.has_json else {}
            run = PastRun(folder.name, run.has_html, run.has_json, str(data.get("speed", "")),
                          str(data.get("started_wall", "")), data.get("summary", {}).get("incidents"),
                          data.get("summary", {}).get("notifications_sent"), bool(data.get("partial")))
        except (OSError, ValueError, AttributeError):
            pass
        runs.append((run.started or dt.datetime.fromtimestamp(folder.stat().st_mtime, dt.timezone.utc).isoformat(),
                     run))
    return [run for _, run in sorted(runs, key=lambda pair: pair[0], reverse=True)]


# --- the drill the console started ---------------------------------------------------------------------------

@dataclass
class DrillProcess:
    run_id: str
    scenario: str
    speed: str
    started_by: str
    started_at: dt.datetime
    log_path: Path
    process: subprocess.Popen

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    @property
    def status(self) -> str:
        code = self.returncode
        return "running" if code is None else "finished" if code == 0 else "failed"

    def output_tail(self) -> str:
        try:
            return tail(self.log_path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return ""


@dataclass
class DrillDesk:
    """What the console needs to list and start drills: where the logs and reports are, the broker, and the one run
    this console started last."""

    drills_dir: Path
    output_dir: Path   # `ers drill run` writes <output_dir>/<run>/report.{json,html}: settings.data_dir / "drills"
    log_dir: Path      # the output of the runs this console started
    bootstrap: str
    partitions: int
    env: Mapping[str, str] | None = None  # the child's environment; None: this process's
    current: DrillProcess | None = None
    _views: dict[str, IncidentStateView] = field(default_factory=dict)
    _asked: dict[str, float] = field(default_factory=dict)  # run id -> when the broker was last asked for its topic
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, settings) -> "DrillDesk":  # a streams.config.Settings
        data = settings.data_dir.resolve()
        return cls(REPO / "drills", data / "drills", data / "drill-console", settings.client_bootstrap,
                   settings.partitions)

    def scenarios(self) -> list[Scenario]:
        return list_scenarios(self.drills_dir)

    def running(self) -> DrillProcess | None:
        return self.current if self.current is not None and self.current.status == "running" else None

    def start(self, scenario: Scenario, speed: str, user: str, now: dt.datetime) -> DrillProcess:
        run_id = new_run_id(scenario.name, now, secrets.token_hex(2))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{run_id}.log"
        command = [sys.executable, "-m", "streams.cli", "drill", "run", str(self.drills_dir / scenario.name),
                   "--speed", speed, "--drill-id", run_id]
        with log_path.open("wb") as out:
            # the console's own environment and working directory: the same broker, plan, roster, data dir and
            # production database (whose ledger the drill copies); same process group, so a Ctrl-C reaches it too
            process = subprocess.Popen(command, env=dict(self.env if self.env is not None else os.environ),
                                       stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        self.current = DrillProcess(run_id, scenario.name, speed, user, now, log_path, process)
        log.info("drill %s started by %s: %s at speed %s (pid %d)", run_id, user, scenario.name, speed, process.pid)
        return self.current

    def process_of(self, run_id: str) -> DrillProcess | None:
        return self.current if self.current is not None and self.current.run_id == run_id else None

    def known(self, run_id: str) -> bool:
        return valid_run_id(run_id) and (self.process_of(run_id) is not None or (self.output_dir / run_id).is_dir())

    def states_topic(self, run_id: str) -> str:
        from schemas.topics import INCIDENT_STATES
        from streams.services.drill_run import drill_topics

        return drill_topics(run_id, self.partitions).of(INCIDENT_STATES)

    def view(self, run_id: str) -> IncidentStateView | None:
        """The drill's incident read model, followed once its worker has made the topic (before that, asking the
        broker about it must not create it: the run would then find its id used)."""
        from handlers.kafka_admin import topics_with_prefix

        with self._lock:  # several pages (threads) may ask at once: one view per run
            if run_id in self._views:
                return self._views[run_id]
            now = time.monotonic()
            if now - self._asked.get(run_id, -TOPIC_CHECK_SECONDS) < TOPIC_CHECK_SECONDS:
                return None  # asked the broker a moment ago (every board's event stream asks 4 times a second)
            self._asked[run_id] = now
            topic = self.states_topic(run_id)
            if topic not in topics_with_prefix(self.bootstrap, topic):
                return None
            while len(self._views) >= VIEWS_KEPT:
                self._views.pop(next(iter(self._views))).stop()
            self._views[run_id] = IncidentStateView(self.bootstrap, topic).start()
            return self._views[run_id]

    def close(self) -> None:
        """Stop following drill boards; a drill still running is interrupted (SIGINT: it writes a partial report)."""
        with self._lock:
            for view in self._views.values():
                view.stop()
            self._views.clear()
        running = self.running()
        if running is None:
            return
        running.process.send_signal(signal.SIGINT)
        try:
            running.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            running.process.kill()


# --- routes --------------------------------------------------------------------------------------------------

def add_routes(app: web.Application) -> None:
    app.router.add_get("/drills", _drills)
    app.router.add_post("/drills/start", _start)
    app.router.add_get("/drills/runs/{run}", _run_page)
    app.router.add_get("/drills/runs/{run}/events", _run_events)
    app.router.add_get("/drills/report/{path:.*}", _report)

    async def close(app: web.Application) -> None:
        desk = app["console"].drills
        if desk is not None:
            await asyncio.to_thread(desk.close)

    app.on_cleanup.append(close)


def _desk(request: web.Request) -> DrillDesk:
    desk = request.app["console"].drills
    if desk is None:
        raise web.HTTPNotFound(text="drills are not configured in this console")
    return desk


async def _drills(request: web.Request, message: str = "", status: int = 200) -> web.Response:
    console, user, desk = request.app["console"], request["user"], _desk(request)
    scenarios = await asyncio.to_thread(desk.scenarios)
    runs = await asyncio.to_thread(list_runs, desk.output_dir)
    page = drill_pages.drills_page(scenarios, runs, desk.current, SPEEDS, language_of(request),
                                   allowed(user.role, "start_drill"), user.display_name, user.role,
                                   csrf_token(console, request), message, console.roster.tz)
    return html_response(page, status)


async def _start(request: web.Request) -> web.Response:
    console, user, desk = request.app["console"], request["user"], _desk(request)
    form = dict(await request.post())
    await check_csrf(console, request, form, request.cookies.get(SESSION_COOKIE, ""), "drill.start")
    now, source = console.now(), source_of(request)
    w = pages.words(language_of(request))
    wanted = f"{str(form.get('scenario', ''))[:100]} speed {str(form.get('speed', ''))[:20]}"

    async def refuse(reason: str, status: int, text: str) -> web.Response:
        await asyncio.to_thread(audit, console.engine, now, user.username, "drill.start", wanted, reason, source,
                                "refused")
        log.warning("refused drill start by %s from %s: %s", user.username, source, reason)
        if status == 403:
            raise web.HTTPForbidden(text=text)
        return await _drills(request, text, status)

    if not allowed(user.role, "start_drill"):
        return await refuse(f"role {user.role}", 403, w["forbidden"])
    scenario = choose_scenario(form.get("scenario"), await asyncio.to_thread(desk.scenarios))
    speed = parse_speed(form.get("speed"))
    if scenario is None or speed is None:
        return await refuse("not a shipped scenario or speed", 400, w["drills_invalid"])
    running = desk.running()
    if running is not None:
        return await refuse(f"drill {running.run_id} is running", 409, w["drills_busy"].format(run=running.run_id))
    started = await asyncio.to_thread(desk.start, scenario, speed, user.username, now)
    await asyncio.to_thread(audit, console.engine, now, user.username, "drill.start", started.run_id,
                            f"{scenario.name} speed {speed}", source)
    raise web.HTTPSeeOther(f"/drills/runs/{started.run_id}")


def _status(desk: DrillDesk, run_id: str) -> dict:
    """A run's status for its page and its events: running, finished or failed (with the exit code and the tail of
    its output) for the run this console started; for others, whether a report is there."""
    report = report_file(desk.output_dir, f"{run_id}/report.html")
    process = desk.process_of(run_id)
    data: dict = {"run": run_id, "report_url": f"/drills/report/{run_id}" if report else None}
    if process is not None:
        data.update(status=process.status, exit_code=process.returncode, tail=process.output_tail(),
                    scenario=process.scenario, speed=process.speed, started_by=process.started_by)
    else:
        data.update(status="finished" if report else "unknown", exit_code=None, tail="", scenario="", speed="",
                    started_by="")
    return data


def _rows(request: web.Request, desk: DrillDesk, run_id: str) -> list[dict]:
    console = request.app["console"]
    view = desk.view(run_id)
    if view is None:
        return []
    # the whole drill, resolved incidents too: it is watched to see what happened
    return pages.board_rows(console.plan, view.states(), console.name, console.roster.tz, language_of(request),
                            console.now())


def _run_id(request: web.Request, desk: DrillDesk) -> str:
    run_id = request.match_info["run"]
    if not desk.known(run_id):
        raise web.HTTPNotFound(text=f"no drill run {run_id}")
    return run_id


async def _run_page(request: web.Request) -> web.Response:
    console, user, desk = request.app["console"], request["user"], _desk(request)
    run_id = _run_id(request, desk)
    rows = await asyncio.to_thread(_rows, request, desk, run_id)
    status = await asyncio.to_thread(_status, desk, run_id)
    return html_response(drill_pages.run_page(run_id, rows, status, language_of(request), user.display_name,
                                              user.role, csrf_token(console, request)))


async def _run_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events, as the board's /events: the drill board's rows (`board`) and the run's status (`status`)
    whenever they change, and a comment every 15 s so proxies keep the connection."""
    desk = _desk(request)
    run_id = _run_id(request, desk)

    async def look() -> dict[str, object]:
        return {"board": await asyncio.to_thread(_rows, request, desk, run_id),
                "status": await asyncio.to_thread(_status, desk, run_id)}

    return await event_stream(request, look)


async def _report(request: web.Request) -> web.StreamResponse:
    """A run's report, only from the drill output directory (see report_file)."""
    desk = _desk(request)
    path = report_file(desk.output_dir, request.match_info["path"])
    if path is None:
        raise web.HTTPNotFound(text="no such drill report")
    body = await asyncio.to_thread(path.read_bytes)
    response = web.Response(body=body, content_type=REPORT_FILES[path.name], charset="utf-8")
    if path.suffix == ".html":
        response.headers["Content-Security-Policy"] = REPORT_POLICY
    return response
