"""`ers sms call-answer`: play the person answering a call (叫应) that ERS placed, for local trials with the
sandboxes `ers up` runs: the key they press (or a call nobody answers) reaches the worker exactly as the provider
would send it (Twilio: a signed <Gather> action or call status callback; Aliyun: a VoiceReport push)."""
from __future__ import annotations

import argparse

from contingency.phones import mask
from streams.cli_support import UserError, console
from streams.config import Settings


def add_call_commands(sms_sub: argparse._SubParsersAction, e164) -> None:
    answer = sms_sub.add_parser("call-answer", help="answer the newest call ERS placed to a number: press a key, "
                                                    "or let it ring out (local trials)")
    answer.add_argument("--to", required=True, type=e164, help="the number called, E.164 (+8613800000001)")
    answer.add_argument("--key", default="1", help='the key pressed (default 1: acknowledge; "" for none)')
    answer.add_argument("--missed", action="store_true", help="nobody answers (no key at all)")
    answer.set_defaults(handler=cmd_sms_call_answer)


def cmd_sms_call_answer(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.database import DatabaseNotReady, open_migrated
    from handlers.sms_outbox import SmsOutbox
    from schemas import Notification

    if args.key and not (len(args.key) == 1 and args.key in "0123456789*#"):
        raise UserError(f"--key: expected one phone key (0-9, * or #), got {args.key!r}", exit_code=2)
    try:
        record = SmsOutbox(open_migrated(settings.database_url)).newest_call_to(args.to)
    except DatabaseNotReady as exc:
        raise UserError(str(exc)) from exc
    if record is None or record.provider_sid is None or record.payload is None:
        raise UserError(f"no call of ERS to {mask(args.to)} in {settings.database_url}", exit_code=1)
    call = Notification.model_validate_json(record.payload)
    if call.template is not None:
        status, answer = _aliyun(settings, record.provider_sid, args.to, args.key, args.missed)
    else:
        status, answer = _twilio(settings, record.provider_sid, args.to, args.key, args.missed)
    print(answer)
    if status != 200:
        console.print(f"[red]refused ({status})[/]")
        return 1
    console.print(f"call {record.provider_sid} to {mask(args.to)}: " +
                  ("not answered" if args.missed else f"key {args.key or '(none)'} pressed"))
    return 0


def _twilio(settings: Settings, call_sid: str, to: str, key: str, missed: bool) -> tuple[int, str]:
    from deploy.local.twilio_api import SANDBOX_FROM, call_webhook_params, post_signed_form, sandbox_credentials
    from handlers.twilio_webhook import VOICE_GATHER_PATH, VOICE_STATUS_PATH

    if settings.sms_configured:
        account_sid, auth_token = settings.twilio_account_sid or "", settings.twilio_auth_token or ""
        caller = settings.twilio_voice_from or settings.twilio_from or ""
    else:
        account_sid, auth_token = sandbox_credentials(settings.data_dir / "twilio-sandbox.json")
        caller = SANDBOX_FROM
    if missed:
        params = {**call_webhook_params(account_sid, call_sid, caller, to, "no-answer"), "CallDuration": "0"}
        url = settings.webhook_base + VOICE_STATUS_PATH
    else:
        params = {**call_webhook_params(account_sid, call_sid, caller, to, "in-progress"), "Digits": key}
        url = settings.webhook_base + VOICE_GATHER_PATH
    try:
        return post_signed_form(url, params, auth_token)
    except OSError as exc:
        raise UserError(f"cannot reach the worker's webhook at {url}: {exc}") from exc


def _aliyun(settings: Settings, call_id: str, to: str, key: str, missed: bool) -> tuple[int, str]:
    from deploy.local.aliyun_api import post_json, sandbox_keys, voice_report_item
    from handlers.aliyun_push import VOICE_REPORT_PATH

    token = settings.aliyun_push_token or sandbox_keys(settings.data_dir / "aliyun-sandbox.json")[2]
    item = voice_report_item(call_id, "", to, None, "200003" if missed else "200000", "" if missed else key)
    url = f"{settings.webhook_base}{VOICE_REPORT_PATH}/{token}"
    try:
        return post_json(url, [item])
    except OSError as exc:
        raise UserError(f"cannot reach the worker's push endpoint at {url}: {exc}") from exc
