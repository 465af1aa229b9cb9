"""SMS replies from people on the roster: what they mean, what to answer, and which command to publish.

Understood (case-insensitive; full-width characters, missing spaces and extra punctuation are fine):
    1 K7Q / 确认 K7Q / 收到 K7Q / ACK K7Q      acknowledge K7Q
    9 K7Q / 解除 K7Q / RESOLVE K7Q             resolve K7Q
    1 / 确认 / 收到                             acknowledge the one incident this person was paged for
    5 K7Q / 已报 K7Q / 初报 K7Q / REPORT K7Q    record K7Q's initial report (初报) as filed
    6 K7Q / 续报 K7Q / FOLLOWUP K7Q             record a follow-up report (续报) of K7Q
    7 K7Q / 终报 K7Q / 结果报告 K7Q / FINAL K7Q  record K7Q's final report (处理结果报告): once it is resolved
    状态 / STATUS                               list the open incidents
anything else gets the help text. Words after the code are kept as the command's note.
"""
from __future__ import annotations

import datetime as dt
import re
import uuid
import unicodedata
from dataclasses import dataclass
from typing import Literal

from schemas.commands import Command
from schemas.incident_states import IncidentState
from schemas.incidents import ReportKind

from contingency.ids import CODE_LENGTH, derive
from contingency.incident_states import Board
from contingency.plan import Plan
from contingency.roster import Person, Roster, is_drill_phone, language_of, person_by_id, templates_for
from contingency.sms_templates import Message, compose, slot_language
from contingency.sms_text import Item, lang, list_params, list_text, local_time, reply, reply_params

Action = Literal["ack", "resolve", "report", "status", "help"]

_REPORT_WORDS: dict[str, ReportKind] = {"5": "initial", "REPORT": "initial", "已报": "initial", "初报": "initial",
                                        "6": "follow_up", "FOLLOWUP": "follow_up", "续报": "follow_up",
                                        "7": "final", "FINAL": "final", "终报": "final", "结果报告": "final"}
_WORDS: dict[str, Action] = {"1": "ack", "ACK": "ack", "确认": "ack", "收到": "ack",
                             "9": "resolve", "RESOLVE": "resolve", "解除": "resolve",
                             **{word: "report" for word in _REPORT_WORDS},
                             "状态": "status", "STATUS": "status"}
_NEED_CODE: dict[ReportKind, str] = {"initial": "need_code_report", "follow_up": "need_code_follow_up",
                                     "final": "need_code_final"}
_CJK_WORDS = sorted((w for w in _WORDS if not w.isascii()), key=len, reverse=True)
_TOKEN = re.compile(r"[A-Za-z0-9]+|[\u3400-\u9fff]+")
_CODE = re.compile(r"^[A-Z0-9]{2,8}$")


@dataclass(frozen=True)
class Reply:
    action: Action
    code: str | None = None
    note: str = ""
    report: ReportKind = "initial"  # for "report": which one


def parse_reply(text: str) -> Reply:
    tokens = _tokens(unicodedata.normalize("NFKC", text or ""))
    if not tokens:
        return Reply("help")
    action = _WORDS.get(tokens[0].upper())
    if action is None and len(tokens) > 1 and _is_code(tokens[0]):  # "K7Q 1", "K7Q确认"
        action = _WORDS.get(tokens[1].upper())
        if action is not None:
            tokens = [tokens[1], tokens[0]] + tokens[2:]
    if action is None:
        return Reply("help")
    code = tokens[1].upper() if len(tokens) > 1 and _is_code(tokens[1]) else None
    rest = tokens[2:] if code else tokens[1:]
    return Reply(action, code, " ".join(rest)[:500], _REPORT_WORDS.get(tokens[0].upper(), "initial"))


def _tokens(text: str) -> list[str]:
    """Words and numbers; a leading 1, 5, 6, 7 or 9 glued to a code ("1K7Q") and a Chinese keyword glued to more words
    ("收到谢谢") are split."""
    tokens: list[str] = []
    for token in _TOKEN.findall(text):
        if not tokens and token[0] in "15679" and len(token) == 1 + CODE_LENGTH and _is_code(token[1:]):
            tokens += [token[0], token[1:]]
            continue
        if not token.isascii():
            word = next((w for w in _CJK_WORDS if token.startswith(w)), None)
            if word is not None and token != word:
                tokens += [word, token[len(word):]]
                continue
        tokens.append(token)
    return tokens


def _is_code(token: str) -> bool:
    return token.isascii() and bool(_CODE.match(token.upper()))


def answer_reply(plan: Plan, roster: Roster, board: Board, person: Person | None, reply_: Reply, now: dt.datetime,
                 language: str | None = None, message_id: str = "", context_code: str | None = None
                 ) -> tuple[Message | None, Command | None]:
    """The answer to send back (None: none) and the command to publish, if any, from the incident read model.

    When a command is returned there is no answer: the incident desk confirms (or says who was first) once it
    has applied the command in order, so a person never gets two answers that disagree. `message_id` (Twilio's
    MessageSid, Aliyun's sequence id) makes the command id stable across webhook retries; without it the id
    derives from sender, time and reply. `context_code`: the incident the replied-to message was about (Aliyun
    ties a reply to its message by extension code), so a bare "1" acknowledges that one even when several wait.
    """
    language = lang(language or language_of(roster, person))

    def say(key: str, drill: bool = False, **fields: object) -> Message:
        return _say(roster, person, key, language, drill, **fields)

    if person is None:
        return say("unknown_sender"), None
    drill_phone = is_drill_phone(roster, person.id)
    visible = [s for s in board.open.values() if (s.drill_id is not None) == drill_phone]
    if reply_.action == "help":
        return say("help", drill_phone), None
    if reply_.action == "status":
        return _status(roster, person, visible, language, drill_phone), None
    code = reply_.code or context_code
    if code is None:
        if reply_.action == "resolve":
            return _listing(roster, person, visible, "need_code", language, drill_phone), None
        if reply_.action == "report":
            listed = visible if reply_.report != "final" else [
                s for s in board.owing.values() if (s.drill_id is not None) == drill_phone]
            return _listing(roster, person, listed, _NEED_CODE[reply_.report], language, drill_phone), None
        visible_ids = {s.incident_id for s in visible}
        pending = [s for s in board.pending_for(person.id) if s.incident_id in visible_ids]
        if not pending:
            return say("no_pending", drill_phone), None
        if len(pending) > 1:
            return _listing(roster, person, pending, "choose", language, drill_phone), None
        code = pending[0].code
    incident = board.by_code(code)
    if incident is None and reply_.action == "report":  # resolved, its reports still owed (the final one)
        incident = board.owing_by_code(code)
    if incident is None or (incident.drill_id is not None) != drill_phone:
        if incident is not None and drill_phone:
            return say("drill_only", True), None
        closed = next((c for c in reversed(board.closed) if c.code == code and (c.drill_id is not None) == drill_phone),
                      None)
        if closed is not None:
            actor = person_by_id(roster, closed.actor)
            return say("closed", drill_phone, code=code, actor=actor.name if actor else closed.actor,
                       time=local_time(closed.closed_at, roster.tz)), None
        return say("not_found", drill_phone, code=code), None
    what = reply_.action if reply_.report == "initial" else f"{reply_.action}:{reply_.report}"
    command = Command(event_id=sms_command_id(message_id or f"{person.id}|{now.isoformat()}|{what}|{code}"),
                      action=reply_.action, incident_id=incident.incident_id,
                      incident_code=incident.code, source_id=incident.source_id, actor=person.id, channel="sms",
                      issued_at=now, note=reply_.note, drill_id=incident.drill_id, report=reply_.report)
    return None, command


def sms_command_id(message_id: str) -> uuid.UUID:
    """The id of the command an SMS reply gives: the same for a webhook Twilio retries, so it is applied once."""
    return derive("command.sms", message_id)


def _say(roster: Roster, person: Person | None, key: str, language: str, drill: bool, **fields: object) -> Message:
    templates = templates_for(roster, person)
    kind, params = reply_params(key, slot_language(templates, language), drill=drill, **fields)
    return compose(templates, kind, params, reply(key, language, drill=drill, **fields))


def _status(roster: Roster, person: Person, visible: list[IncidentState], language: str, drill: bool) -> Message:
    if not visible:
        return _say(roster, person, "status_none", language, drill)
    items = []
    for state in _ordered(visible):
        if state.acknowledged_by is not None:
            actor = person_by_id(roster, state.acknowledged_by)
            items.append(Item("acked", state.facts, actor.name if actor else state.acknowledged_by))
        else:
            items.append(Item("page", state.facts))
    header = reply("status", language, n=len(items))
    text = list_text(header + (" " if language == "en" else ""), items, language=language, drill=drill,
                     tail=reply("reply_many", language))
    templates = templates_for(roster, person)
    return compose(templates, *list_params("status", items, language=slot_language(templates, language), drill=drill),
                   text)


def _listing(roster: Roster, person: Person, states: list[IncidentState], key: str, language: str,
             drill: bool) -> Message:
    if not states:
        return _say(roster, person, "status_none", language, drill)
    items = [Item("page", s.facts) for s in _ordered(states)]
    header = reply(key, language, n=len(items))
    text = list_text(header + (" " if language == "en" else ""), items, language=language, drill=drill)
    templates = templates_for(roster, person)
    return compose(templates, *list_params("status", items, language=slot_language(templates, language), drill=drill),
                   text)


def _ordered(states: list[IncidentState]) -> list[IncidentState]:
    return sorted(states, key=lambda s: (-s.level.rank, s.opened_at, s.code))
