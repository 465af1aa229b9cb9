"""The `ers` command line: entrypoints only wire settings, adapters and the app together."""
from __future__ import annotations

import argparse
import datetime as dt
import re
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console

from streams.cli_calls import add_call_commands
from streams.cli_drill import add_drill_commands
from streams.cli_incidents import add_incident_commands
from streams.cli_inventory import add_inventory_commands
from streams.cli_station import add_station_commands
from streams.cli_users import add_user_commands
from streams.cli_web import add_web_commands
from streams.cli_support import (UserError, aware_time, console, load_plan_or_fail,
                                 load_roster_or_fail, report_problems)
from schemas.topics import BY_SUFFIX, TOPICS
from streams.config import ConfigError, Settings, load_settings
from streams.logs import configure_logging

Handler = Callable[[argparse.Namespace, Settings], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        settings = load_settings(config_file=args.config)
    except ConfigError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    configure_logging(settings, console)
    try:
        return args.handler(args, settings)
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    except UserError as exc:
        console.print(f"[red]error:[/] {exc}")
        return exc.exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ers", description="ERS: environmental risk and emergency response")
    parser.add_argument("--config", type=Path, default=None, help="TOML settings file (default: ./ers.toml if present)")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    up = sub.add_parser("up", help="start a local Kafka if no broker is configured, migrate the database, run the "
                                   "worker, the HJ 212 gateway and the duty-room console")
    up.add_argument("--no-console", action="store_true", help="do not start the console (`ers web`)")
    up.set_defaults(handler=cmd_up)

    worker = sub.add_parser("worker", help="run the worker against the configured broker (ERS_BROKER)")
    worker.set_defaults(handler=cmd_worker)

    kafka = sub.add_parser("kafka", help="the local Apache Kafka broker (KRaft, from Maven Central jars)")
    kafka.add_argument("action", choices=["start", "stop", "status"])
    kafka.add_argument("--ephemeral", action="store_true", help="throw-away data in a temp folder, free ports")
    kafka.add_argument("--port", type=_port, default=None, help="broker port (default ERS_KAFKA_PORT or 9092; a free port if ephemeral)")
    kafka.set_defaults(handler=cmd_kafka)

    produce = sub.add_parser("produce", help="send the events of a JSON Lines file with kafka-python")
    produce.add_argument("file", type=_existing_file, help="JSON Lines: one event (or {topic,key,value}) per line")
    produce.add_argument("--topic", default="readings", choices=[t.suffix for t in TOPICS], metavar="SUFFIX",
                         help="topic suffix for bare events (default: readings)")
    produce.set_defaults(handler=cmd_produce)

    schemas = sub.add_parser("schemas", help="event contracts")
    schemas_sub = schemas.add_subparsers(title="schemas commands", metavar="ACTION", required=True)
    export = schemas_sub.add_parser("export", help="write a JSON Schema per event and an AsyncAPI document")
    export.add_argument("directory", type=Path)
    export.set_defaults(handler=cmd_schemas_export)

    plan = sub.add_parser("plan", help="contingency plans")
    plan_sub = plan.add_subparsers(title="plan commands", metavar="ACTION", required=True)
    check = plan_sub.add_parser("check", help="validate a plan file; exit 0 if valid, 1 otherwise")
    check.add_argument("path", type=Path)
    check.set_defaults(handler=cmd_plan_check)
    show = plan_sub.add_parser("show", help="print a readable summary of a plan")
    show.add_argument("path", type=Path, nargs="?", default=None, help="plan file (default: the configured plan)")
    show.set_defaults(handler=cmd_plan_show)

    roster = sub.add_parser("roster", help="the duty roster")
    roster_sub = roster.add_subparsers(title="roster commands", metavar="ACTION", required=True)
    now = roster_sub.add_parser("now", help="who holds each role of the plan now (or --at a time)")
    now.add_argument("--at", type=aware_time, default=None, help="ISO time with offset, e.g. 2026-07-01T09:00+08:00")
    now.set_defaults(handler=cmd_roster_now)
    rcheck = roster_sub.add_parser("check", help="validate the roster against the plan; exit 0 if valid")
    rcheck.add_argument("path", type=Path, nargs="?", default=None, help="roster file (default: the configured one)")
    rcheck.set_defaults(handler=cmd_roster_check)

    sms = sub.add_parser("sms", help="SMS")
    sms_sub = sms.add_subparsers(title="sms commands", metavar="ACTION", required=True)
    reply = sms_sub.add_parser("reply", help="post a correctly signed SMS reply to the worker's webhook (local trials)")
    reply.add_argument("--from", dest="sender", required=True, type=_e164, help="sender, E.164 (+8613800000001)")
    reply.add_argument("text", help='the reply, e.g. "1 K7Q"')
    reply.add_argument("--drill", metavar="ID", default=None,
                       help="answer an SMS of the running drill ID (`ers drill run`) instead of production's")
    reply.add_argument("--answering", metavar="CODE", type=_incident_code, default=None,
                       help="ERS_SMS_PROVIDER=aliyun: the incident code of the SMS being answered (its extension comes "
                            "back with the reply, so a bare \"1\" acknowledges that incident)")
    reply.add_argument("--wait", type=_seconds, default=10.0,
                       help="seconds to wait for the incident to show what the reply did (default 10; 0: do not)")
    reply.set_defaults(handler=cmd_sms_reply)
    queue = sms_sub.add_parser("queue", help="the pages waiting for the SMS provider (an outage, a rate limit): "
                                             "whom, since when, how many tries, why, and the next try")
    queue.set_defaults(handler=cmd_sms_queue)
    add_call_commands(sms_sub, _e164)

    add_incident_commands(sub)
    add_inventory_commands(sub)
    add_drill_commands(sub)
    add_station_commands(sub)
    add_user_commands(sub)
    add_web_commands(sub)

    db = sub.add_parser("db", help="the SQL database")
    db_sub = db.add_subparsers(title="db commands", metavar="ACTION", required=True)
    upgrade = db_sub.add_parser("upgrade", help="create or migrate the database to the newest schema")
    upgrade.set_defaults(handler=cmd_db_upgrade)
    return parser


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number 1-65535, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 1-65535, got {value}")
    return value


def _incident_code(text: str) -> str:
    from contingency.ids import extension_of

    if extension_of(text) is None:
        raise argparse.ArgumentTypeError(f"expected an incident code of three letters or digits as SMS show it "
                                         f"(e.g. K7Q), got {text!r}")
    return text.upper()


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 600:
        raise argparse.ArgumentTypeError(f"expected seconds between 0 and 600, got {text!r}")
    return value


def _e164(text: str) -> str:
    if not re.fullmatch(r"\+[1-9]\d{6,14}", text):
        raise argparse.ArgumentTypeError(f"expected an E.164 phone number like +8613800000001, got {text!r}")
    return text


def _existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"expected an existing file, {text!r} is not one")
    return path


def _sandbox_credentials(settings: Settings) -> tuple[str, str]:
    from deploy.local.twilio_api import sandbox_credentials

    return sandbox_credentials(settings.data_dir / "twilio-sandbox.json")


def _local_kafka(settings: Settings, port: int | None = None, ephemeral: bool = False):
    from deploy.local.kafka import LocalKafka

    if ephemeral:
        return LocalKafka(port=port, ephemeral=True)
    return LocalKafka(settings.data_dir / "kafka", port=port or settings.kafka_port,
                      controller_port=settings.kafka_controller_port)


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.database import migrate
    from deploy.local.twilio_api import SANDBOX_FROM, LocalTwilioApi
    from streams.worker import run_worker

    plan = load_plan_or_fail(settings.plan, settings.data_dir / "cache")
    roster = load_roster_or_fail(settings.roster, plan)
    migrate(settings.database_url)
    kafka = sandbox = gateway = web = None
    try:
        if settings.broker is None:
            from deploy.local.kafka import LocalKafkaError

            kafka = _local_kafka(settings)
            try:
                status = kafka.start()
            except LocalKafkaError as exc:
                raise UserError(str(exc)) from exc
            console.print(f"local Kafka {status.version} ready at {status.bootstrap} (data in {status.data_dir})")
            settings = settings.model_copy(update={"broker": status.bootstrap})
        if settings.sms_provider == "aliyun" and not settings.sms_configured:
            sandbox, settings = _start_aliyun_sandbox(settings)
        elif not settings.sms_configured:
            account_sid, auth_token = _sandbox_credentials(settings)
            sandbox = LocalTwilioApi(auth_token=auth_token, account_sid=account_sid).start()
            settings = settings.model_copy(update={
                "twilio_account_sid": account_sid, "twilio_auth_token": auth_token, "twilio_from": SANDBOX_FROM,
                "twilio_api_base": sandbox.url})
            console.print(f"no Twilio account configured: SMS go to the local Twilio sandbox at {sandbox.url}; "
                          f"answer them with `ers sms reply --from +86... \"1 CODE\"`")
        gateway = _start_gateway(settings)
        console.print(f"HJ 212 gateway on {settings.hj212_host}:{settings.hj212_port} (its own process); try "
                      f"`ers station simulate <station id>`")
        if not args.no_console:
            web = _start_console(settings)
        console.print(f"ERS worker: plan {plan.id} {plan.version}, roster {roster.id}, broker {settings.bootstrap}, "
                      f"topics {settings.topic_prefix}*, database {settings.database_url}, "
                      f"webhooks at {settings.webhook_base}. Ctrl-C stops.")
        run_worker(settings, plan, roster)
    finally:
        if web is not None:
            _stop_child(web)
        if gateway is not None:
            _stop_child(gateway)
        if sandbox is not None:
            sandbox.stop()
        if kafka is not None:
            kafka.stop()
            console.print("local Kafka stopped")
    return 0


def _start_aliyun_sandbox(settings: Settings):  # -> (LocalAliyunSms, Settings)
    from contingency import PlanError
    from contingency.sms_templates import load_templates
    from deploy.local.aliyun_api import LocalAliyunSms, sandbox_keys
    from handlers.aliyun_push import REPORT_PATH, SMS_UP_PATH, VOICE_REPORT_PATH

    try:
        templates = load_templates(settings.templates_path)
    except PlanError as exc:
        raise UserError(str(exc)) from exc
    key, secret, token = sandbox_keys(settings.data_dir / "aliyun-sandbox.json")
    sandbox = LocalAliyunSms(access_key_id=key, access_key_secret=secret, sign_names={templates.sign_name},
                             templates={t.code: t.text for t in templates.templates.values()},
                             report_url=f"{settings.webhook_base}{REPORT_PATH}/{token}",
                             up_url=f"{settings.webhook_base}{SMS_UP_PATH}/{token}",
                             voice_templates={t.code: t.text for t in templates.voice.templates.values()}
                             if templates.voice else None,
                             show_numbers={templates.voice.show_number} if templates.voice else None,
                             voice_url=f"{settings.webhook_base}{VOICE_REPORT_PATH}/{token}").start()
    console.print(f"no Aliyun key configured: SMS go to the local Aliyun sandbox at {sandbox.url} (templates of "
                  f"{settings.templates_path}); answer them with `ers sms reply --from +86... \"1\" --answering CODE`")
    return sandbox, settings.model_copy(update={
        "aliyun_access_key_id": key, "aliyun_access_key_secret": secret, "aliyun_endpoint": sandbox.endpoint,
        "aliyun_push_token": token})


def _start_gateway(settings: Settings) -> "subprocess.Popen[bytes]":
    """The gateway runs in a child process of its own: its event loop holds thousands of station connections and
    must never wait on the worker's."""
    import os
    import subprocess

    env = {**os.environ, "ERS_BROKER": settings.bootstrap, "ERS_PLAN": str(settings.plan),
           "ERS_TOPIC_PREFIX": settings.topic_prefix, "ERS_HJ212_PORT": str(settings.hj212_port),
           "ERS_HJ212_HOST": settings.hj212_host}
    return subprocess.Popen([sys.executable, "-m", "streams.cli", "gateway"], env=env)


def _start_console(settings: Settings) -> "subprocess.Popen[bytes]":
    """`ers web` in a child process of its own, on the same broker, topics, plan and database; it prints its URL."""
    import os
    import subprocess

    from handlers.console_users import list_users
    from handlers.database import make_engine

    engine = make_engine(settings.database_url)
    try:
        if not list_users(engine):
            console.print("the console has no accounts yet: `ers users add <name> --role admin` (and others) to log in")
    finally:
        engine.dispose()
    env = {**os.environ, "ERS_BROKER": settings.bootstrap, "ERS_PLAN": str(settings.plan),
           "ERS_ROSTER": str(settings.roster), "ERS_TOPIC_PREFIX": settings.topic_prefix,
           "ERS_DATABASE_URL": settings.database_url, "ERS_DATA_DIR": str(settings.data_dir),
           "ERS_ROADS": str(settings.roads)}
    return subprocess.Popen([sys.executable, "-m", "streams.cli", "web"], env=env)


def _stop_child(child: "subprocess.Popen[bytes]") -> None:
    import subprocess

    child.terminate()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from streams.worker import run_worker

    if settings.broker is None:
        raise UserError("no broker configured: set ERS_BROKER=host:port (or use `ers up`)", exit_code=2)
    if not settings.sms_configured:
        raise UserError("SMS is not configured: set ERS_TWILIO_ACCOUNT_SID, ERS_TWILIO_AUTH_TOKEN and ERS_TWILIO_FROM "
                        "(ERS_TWILIO_API_BASE for a Twilio-compatible sandbox), or use `ers up`", exit_code=2)
    plan = load_plan_or_fail(settings.plan, settings.data_dir / "cache")
    run_worker(settings, plan, load_roster_or_fail(settings.roster, plan))
    return 0


def cmd_kafka(args: argparse.Namespace, settings: Settings) -> int:
    from deploy.local.kafka import LocalKafkaError

    try:
        return _kafka_action(args, settings)
    except LocalKafkaError as exc:
        raise UserError(str(exc)) from exc


def _kafka_action(args: argparse.Namespace, settings: Settings) -> int:
    if args.ephemeral and args.action != "start":
        raise UserError("--ephemeral only goes with start (an ephemeral broker stops with Ctrl-C)", exit_code=2)
    kafka = _local_kafka(settings, port=args.port, ephemeral=args.ephemeral)
    if args.action == "start" and args.ephemeral:
        status = kafka.start()
        console.print(f"ephemeral Kafka {status.version} at {status.bootstrap} (data {status.data_dir}); Ctrl-C stops "
                      "it and removes its data")
        stop_signals = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        try:
            signal.sigwait(stop_signals)
        finally:
            kafka.stop()
    elif args.action == "start":
        status = kafka.start()
        console.print(f"Kafka {status.version} running at {status.bootstrap} (pid {status.pid}, data {status.data_dir})")
    elif args.action == "stop":
        kafka.stop()
        console.print("Kafka stopped")
    else:
        status = kafka.status()
        state = "running" if status.running else "stopped"
        console.print(f"Kafka {status.version} {state} at {status.bootstrap} (pid {status.pid}, data {status.data_dir})")
        return 0 if status.running else 3
    return 0


def cmd_produce(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.event_files import EventFileError, produce_file

    try:
        count = produce_file(settings.client_bootstrap, args.file, settings.topics.of(BY_SUFFIX[args.topic]))
    except EventFileError as exc:
        raise UserError(str(exc)) from exc
    console.print(f"sent {count} events to {settings.client_bootstrap}")
    return 0


def cmd_schemas_export(args: argparse.Namespace, settings: Settings) -> int:
    from schemas.export import export

    written = export(args.directory, settings.topics)
    console.print(f"wrote {len(written)} files to {args.directory}")
    return 0


def cmd_plan_check(args: argparse.Namespace, settings: Settings) -> int:
    from contingency import check_plan, plan_warnings

    problems = check_plan(args.path)
    if not problems:
        warnings = plan_warnings(args.path)
        for warning in warnings:
            print(f"{warning} (warning)")
        if warnings:
            console.print(f"[yellow]{len(warnings)} warning(s)[/]: the plan is usable; read them before relying on it")
    return report_problems(problems, args.path)


def cmd_plan_show(args: argparse.Namespace, settings: Settings) -> int:
    from streams.views.plan_view import render_plan_summary

    plan = load_plan_or_fail(args.path or settings.plan)
    Console().print(render_plan_summary(plan))
    return 0


def cmd_roster_now(args: argparse.Namespace, settings: Settings) -> int:
    from rich.table import Table

    from contingency.roster import on_duty
    from contingency.phones import mask

    plan = load_plan_or_fail(settings.plan)
    roster = load_roster_or_fail(settings.roster, plan)
    at = args.at or dt.datetime.now(dt.timezone.utc)
    table = Table(title=f"{roster.id}: on duty at {at.isoformat(timespec='minutes')}")
    for column in ("role", "name", "person", "phone"):
        table.add_column(column)
    for role_id, role in plan.roles.items():
        people = on_duty(roster, role_id, at)
        names = [(p.name, p.id, mask(p.phone)) for p in people] or [("[red]nobody[/]", "", "")]
        for name, person_id, phone in names:
            table.add_row(f"{role.name} ({role_id})", name, person_id, phone)
    Console().print(table)
    return 0


def cmd_roster_check(args: argparse.Namespace, settings: Settings) -> int:
    from contingency.roster import check_roster

    path = args.path or settings.roster
    return report_problems(check_roster(path, load_plan_or_fail(settings.plan)), path)


def cmd_sms_queue(args: argparse.Namespace, settings: Settings) -> int:
    from rich.table import Table

    from contingency.phones import mask
    from handlers.database import DatabaseNotReady, open_migrated
    from handlers.sms_outbox import SmsOutbox

    try:
        waiting = SmsOutbox(open_migrated(settings.database_url)).waiting_rows()
    except DatabaseNotReady as exc:
        raise UserError(str(exc)) from exc
    if not waiting:
        console.print("没有等待发送的短信 nothing waits for the SMS provider")
        return 0
    table = Table(title=f"等待发送的短信 SMS waiting for the provider ({len(waiting)})")
    for column in ("notification", "to", "drill", "waiting since", "tries", "next try", "why"):
        table.add_column(column)
    for row in waiting:
        table.add_row(row.notification_id[:8], f"{row.person_id} {mask(row.to_phone)}", row.drill_id or "",
                      row.claimed_at.astimezone().strftime("%m-%d %H:%M:%S"), str(row.attempts),
                      row.retry_at.astimezone().strftime("%H:%M:%S") if row.retry_at else "", row.last_error or "")
    console.print(table)
    return 0


def cmd_sms_reply(args: argparse.Namespace, settings: Settings) -> int:
    from contingency.replies import sms_command_id
    from deploy.local.twilio_api import SANDBOX_FROM, new_message_sid, post_signed_form
    from handlers.twilio_webhook import SMS_PATH
    from schemas.topics import INCIDENT_STATES
    from streams.services.drill_run import drill_topics

    names, bootstrap = settings.topics, settings.client_bootstrap
    if args.drill is None and settings.sms_provider == "aliyun":
        return _aliyun_reply(args, settings)
    if args.drill is not None:
        from handlers.drill_files import read_drill_webhook

        hook = read_drill_webhook(settings.data_dir / "drills" / args.drill)
        if hook is None:
            raise UserError(f"--drill: no drill {args.drill!r} is running here (nothing in "
                            f"{settings.data_dir / 'drills' / args.drill}); expected the id `ers drill run` printed",
                            exit_code=2)
        account_sid, auth_token, to, base = hook.account_sid, hook.auth_token, hook.to, hook.url
        names, bootstrap = drill_topics(args.drill, settings.partitions), hook.bootstrap
    elif settings.sms_configured:
        account_sid, auth_token, to = settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_from
        base = settings.webhook_base
    else:
        account_sid, auth_token = _sandbox_credentials(settings)
        to, base = SANDBOX_FROM, settings.webhook_base
    sid = new_message_sid("SM")
    url = base + SMS_PATH
    params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": account_sid, "From": args.sender, "To": to,
              "Body": args.text, "NumMedia": "0"}
    watch = _state_watch(bootstrap, names.of(INCIDENT_STATES)) if args.wait else None
    try:
        try:
            status, body = post_signed_form(url, params, auth_token)
        except OSError as exc:
            raise UserError(f"cannot reach the worker's webhook at {url}: {exc}") from exc
        print(body)
        if status != 200:
            console.print(f"[red]refused ({status})[/]")
            return 1
        if watch is not None and "<Message>" not in body:  # a command went to the incident desk: show its effect
            command_id = sms_command_id(sid)
            state = watch.find(lambda s: s.cause == command_id, args.wait)
            if state is not None:
                who = state.resolved_by if state.stage == "resolved" else state.acknowledged_by
                console.print(f"{state.code}: {state.stage}" + (f" ({who})" if who else ""))
    finally:
        if watch is not None:
            watch.close()
    return 0


def _aliyun_reply(args: argparse.Namespace, settings: Settings) -> int:
    """Push a reply the way Aliyun pushes SmsUp to the worker (for local trials with the sandbox `ers up` runs)."""
    import secrets

    from contingency.ids import extension_of
    from contingency.replies import sms_command_id
    from deploy.local.aliyun_api import NO_EXTENSION, post_json, sandbox_keys, sms_up_item
    from handlers.aliyun_push import SMS_UP_PATH
    from schemas.topics import INCIDENT_STATES

    token = settings.aliyun_push_token or sandbox_keys(settings.data_dir / "aliyun-sandbox.json")[2]
    sequence = secrets.randbelow(10**12)
    dest = (extension_of(args.answering) if args.answering else None) or NO_EXTENSION
    url = f"{settings.webhook_base}{SMS_UP_PATH}/{token}"
    watch = _state_watch(settings.client_bootstrap, settings.topics.of(INCIDENT_STATES)) if args.wait else None
    try:
        try:
            status, answer = post_json(url, [sms_up_item(args.sender, args.text, dest, sequence)])
        except OSError as exc:
            raise UserError(f"cannot reach the worker's push endpoint at {settings.webhook_base}{SMS_UP_PATH}: "
                            f"{exc}") from exc
        print(answer)
        if status != 200:
            console.print(f"[red]refused ({status})[/]")
            return 1
        if watch is not None:
            state = watch.find(lambda s: s.cause == sms_command_id(f"aliyun:{sequence}"), args.wait)
            if state is not None:
                who = state.resolved_by if state.stage == "resolved" else state.acknowledged_by
                console.print(f"{state.code}: {state.stage}" + (f" ({who})" if who else ""))
            else:
                console.print("no incident changed (an answer, if any, goes back by SMS: see the sandbox or the log)")
    finally:
        if watch is not None:
            watch.close()
    return 0


def _state_watch(bootstrap: str, topic: str):  # -> handlers.incident_states.StateWatch | None
    from kafka.errors import KafkaError

    from handlers.incident_states import StateWatch

    try:
        return StateWatch(bootstrap, topic)
    except KafkaError as exc:
        console.print(f"[yellow]cannot read {topic} at {bootstrap} ({type(exc).__name__}): the reply is posted, "
                      "but what it did is not shown")
        return None


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.database import migrate

    console.print(f"database at revision {migrate(settings.database_url)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
