"""SMS texts: short, zh-CN by default (English on request), and never more than two segments.

Two concatenated segments hold 134 UCS-2 characters (2 x 67) or 306 GSM-7 characters (2 x 153); any character
outside the GSM-7 alphabet (every Chinese one) makes the whole message UCS-2. A text is built from parts, each
with a rank; parts are dropped lowest rank first (place names are shortened before they go) until it fits.
The prefix 【演练】, the level, the incident code and the reply instruction are never dropped.
"""
from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal


from schemas.incident_states import IncidentFacts as Facts
from schemas.incidents import WarningLevel

MAX_SEGMENTS = 2
DRILL_PREFIX = "【演练】"
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")

Kind = Literal["page", "escalation", "repeat", "raise", "notify", "acked", "resolved"]
PAGE_KINDS: frozenset[str] = frozenset({"page", "escalation", "repeat", "raise"})

# GSM 03.38 basic alphabet (without ESC) and its extension table, whose characters take two septets.
_GSM_BASIC = frozenset("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
                       "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


def is_gsm(text: str) -> bool:
    return all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in text)


def segments(text: str) -> int:
    """SMS segments needed: GSM-7 160 alone / 153 per part, else UCS-2 70 / 67 (characters beyond the BMP take
    two units). An escape pair or a surrogate pair is never split between parts, as phones do. "" is 1."""
    if is_gsm(text):
        units = [2 if ch in _GSM_EXTENDED else 1 for ch in text]
        single, part = 160, 153
    else:
        units = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        single, part = 70, 67
    if sum(units) <= single:
        return 1
    count, used = 1, 0
    for unit in units:
        if used + unit > part:
            count, used = count + 1, 0
        used += unit
    return count


def fits(text: str) -> bool:
    return segments(text) <= MAX_SEGMENTS


@dataclass(frozen=True)
class Part:
    text: str
    rank: int = 0          # 0: never dropped; otherwise lower ranks go first
    shrink: bool = False   # shortened (with an ellipsis) before it is dropped


def fit(parts: Sequence[Part], ellipsis: str = "…") -> str:
    kept = [part for part in parts if part.text]
    while True:
        text = "".join(part.text for part in kept)
        if fits(text):
            return text
        droppable = [i for i, part in enumerate(kept) if part.rank > 0]
        if not droppable:
            return _cut(kept, ellipsis)
        victim = min(droppable, key=lambda i: kept[i].rank)
        if kept[victim].shrink:
            for length in range(len(kept[victim].text) - 1, 1, -1):
                trial = kept[:victim] + [Part(kept[victim].text[:length].rstrip() + ellipsis)] + kept[victim + 1:]
                if fits("".join(part.text for part in trial)):
                    return "".join(part.text for part in trial)
        del kept[victim]


def _cut(parts: list[Part], ellipsis: str) -> str:
    """Last resort when the essential parts alone are too long: keep the last one (the reply instruction)."""
    head, tail = "".join(part.text for part in parts[:-1]), parts[-1].text if parts else ""
    while head and not fits(head + ellipsis + tail):
        head = head[:-1]
    text = head + ellipsis + tail if head else tail
    while not fits(text):
        text = text[:-1]
    return text


# --- words --------------------------------------------------------------------------------------------------

_LEVEL = {"zh-CN": {"blue": "蓝色预警", "yellow": "黄色预警", "orange": "橙色预警", "red": "红色预警"},
          "en": {"blue": "BLUE alert", "yellow": "YELLOW alert", "orange": "ORANGE alert", "red": "RED alert"}}
_LEVEL_SHORT = {"zh-CN": {"blue": "蓝", "yellow": "黄", "orange": "橙", "red": "红"},
                "en": {"blue": "B", "yellow": "Y", "orange": "O", "red": "R"}}
_UNITS_ZH = {"dimensionless": "", "degC": "℃", "ug/m3": "μg/m³", "mg/m3": "mg/m³"}
_UNITS_EN = {"dimensionless": ""}

# The example code ABC can never be a real one (B is not in contingency.ids.CODE_ALPHABET).
_REPLIES = {
    "zh-CN": {
        "ack_done": '已确认{code},停止升级。处置完毕回复"9 {code}"解除',
        "resolve_done": "已解除{code},已告知相关人员",
        "already_acked": "{code}已由{actor}确认,无需重复",
        "not_found": '未找到未解除的预警{code}。回复"状态"查看',
        "closed": "{code}已于{time}由{actor}解除",
        "escalated": "已将{code}转报第{tier}级:{names}",
        "top_tier": "{code}已是最后一级,无法再转报",
        "help": '回复"1 代码"确认,"9 代码"解除,"状态"查看未解除预警。例:1 ABC',
        "no_pending": '您没有待确认的预警。回复"状态"查看未解除预警',
        "unknown_sender": "此号码不在值班表中,无法处置预警",
        "drill_only": "演练号码只能处置演练预警",
        "choose": '{n}起待确认,请回复"1 代码":',
        "need_code": '请回复"9 代码"解除:',
        "status": "{n}起未解除:",
        "status_none": "当前无未解除预警",
        "bundle": "{n}条预警消息:",
        "summary": "近1小时另有{n}条消息(超过每小时{cap}条):",
        "more": "等{n}条",
        "reply_one": '回复"1 {code}"确认,"9 {code}"解除',
        "reply_many": '回复"1 代码"确认,"9 代码"解除',
        "report_due": '{code}初报须于{time}前报送(余{left}分钟),已报回复"5 {code}"',
        "report_overdue": '{code}初报已过{time}时限,请立即报送,已报回复"5 {code}"',
        "report_filed": "已登记{code}初报报送,按时",
        "report_filed_late": "已登记{code}初报报送,超时{late}分钟",
        "report_already": "{code}初报已由{actor}于{time}登记",
        "report_none": "{code}无须报送初报(预案未定)",
        "need_code_report": '请回复"5 代码"登记初报:',
        "need_code_follow_up": '请回复"6 代码"登记续报:',
        "need_code_final": '请回复"7 代码"登记处理结果报告:',
        "report_initial_first": '{code}未登记初报,请先报初报并回复"5 {code}"',
        "report_follow_up_filed": "已登记{code}第{n}次续报",
        "report_final_open": "{code}未解除,解除后再登记处理结果报告",
        "report_final_owed": '{code}已解除,请报送处理结果报告,报后回复"7 {code}"',
        "report_final_overdue": '{code}处理结果报告{time}到期,报后回复"7 {code}"',
        "report_final_filed": "已登记{code}处理结果报告,报告已齐",
        "report_final_filed_late": "已登记{code}处理结果报告,超时{late}小时",
        "report_final_already": "{code}处理结果报告已由{actor}于{time}登记",
    },
    "en": {
        "ack_done": 'Acknowledged {code}; escalation stopped. Reply "9 {code}" when resolved.',
        "resolve_done": "Resolved {code}; everyone notified was told.",
        "already_acked": "{code} was already acknowledged by {actor}.",
        "not_found": 'No open alert {code}. Reply "STATUS" for open alerts.',
        "closed": "{code} was resolved by {actor} at {time}.",
        "escalated": "Escalated {code} to tier {tier}: {names}.",
        "top_tier": "{code} is already at its last tier.",
        "help": 'Reply "1 CODE" to ack, "9 CODE" to resolve, "STATUS" for open alerts. E.g. 1 ABC',
        "no_pending": 'Nothing awaits your acknowledgement. Reply "STATUS" for open alerts.',
        "unknown_sender": "This number is not on the duty roster.",
        "drill_only": "A drill phone can only handle drill alerts.",
        "choose": '{n} alerts await acknowledgement; reply "1 CODE":',
        "need_code": 'Reply "9 CODE" to resolve:',
        "status": "{n} open:",
        "status_none": "No open alerts.",
        "bundle": "{n} alert messages:",
        "summary": "{n} more messages this hour (over {cap}/h):",
        "more": "+{n} more",
        "reply_one": 'Reply "1 {code}" to ack, "9 {code}" to resolve.',
        "reply_many": 'Reply "1 CODE" to ack, "9 CODE" to resolve.',
        "report_due": '{code}: initial report due {time} ({left} min). Filed? Reply "5 {code}"',
        "report_overdue": '{code}: initial report overdue since {time}. Filed? Reply "5 {code}"',
        "report_filed": "{code}: initial report recorded as filed, on time.",
        "report_filed_late": "{code}: initial report recorded as filed, {late} min late.",
        "report_already": "{code}: initial report was recorded by {actor} at {time}.",
        "report_none": "{code} owes no initial report under the plan.",
        "need_code_report": 'Reply "5 CODE" to record a filed report:',
        "need_code_follow_up": 'Reply "6 CODE" to record a follow-up report:',
        "need_code_final": 'Reply "7 CODE" to record a final report:',
        "report_initial_first": '{code}: no initial report recorded. File it, reply "5 {code}"',
        "report_follow_up_filed": "{code}: follow-up report {n} recorded.",
        "report_final_open": "{code} is open: resolve it before its final report.",
        "report_final_owed": '{code} resolved: file the final report, reply "7 {code}"',
        "report_final_overdue": '{code}: final report due {time}. Filed? Reply "7 {code}"',
        "report_final_filed": "{code}: final report recorded; all reports filed.",
        "report_final_filed_late": "{code}: final report recorded, {late} h late.",
        "report_final_already": "{code}: final report was recorded by {actor} at {time}.",
    },
}


def lang(language: str | None) -> str:
    return "en" if language == "en" else "zh-CN"


def reply(key: str, language: str | None = None, *, drill: bool = False, **fields: object) -> str:
    """A one-line answer to the person who sent a reply or command."""
    text = _REPLIES[lang(language)][key].format(**fields)
    return fit([Part(DRILL_PREFIX if drill else ""), Part(text)], _ellipsis(language))


def local_time(at: dt.datetime, tz: dt.tzinfo = SHANGHAI) -> str:
    return at.astimezone(tz).strftime("%m-%d %H:%M")


def _ellipsis(language: str | None) -> str:
    return "..." if lang(language) == "en" else "…"


PLACE_CHARS = 24   # a longer name is cut first: it must not crowd out the measurement
TITLE_CHARS = 40


def _clip(text: str, chars: int, language: str) -> str:
    return text if len(text) <= chars else text[:chars - 1].rstrip() + _ellipsis(language)


def _place(facts: Facts, language: str) -> str:
    return _clip(facts.source_id.replace("_", " ") if language == "en" else facts.place, PLACE_CHARS, language)


def _number(value: float) -> str:
    return f"{value:g}"


def _unit(unit: str, language: str) -> str:
    return (_UNITS_EN if language == "en" else _UNITS_ZH).get(unit, unit)


def _measured(facts: Facts, language: str, short: bool = False) -> str:
    if facts.value is None:
        return "" if short else _clip(facts.title, TITLE_CHARS, language)
    if language == "en":
        name = facts.parameter_id.replace("_", " ") or facts.parameter
        unit = _unit(facts.unit, language)
        return f"{name} {_number(facts.value)}" + ("" if short or not unit else f" {unit}")
    return f"{facts.parameter}{_number(facts.value)}" + ("" if short else _unit(facts.unit, language))


def _limit(facts: Facts, language: str) -> tuple[str, str]:
    """The limit and where it comes from: '<= 1 mg/L (GB 3838-2002 III)' -> ('<= 1 mg/L', '(GB 3838-2002 III)')."""
    bound, _, origin = facts.limit.partition(" (")
    origin = f"({origin}" if origin else ""
    if language == "en":
        return bound, origin
    for unit, shown in _UNITS_ZH.items():
        bound = bound.replace(f" {unit}", shown)
    return bound.replace("<= ", "≤").replace(">= ", "≥").replace("..", "~").replace(" ", ""), origin


# --- incident messages ---------------------------------------------------------------------------------------

def incident_text(kind: Kind, facts: Facts, *, language: str | None = None, tz: dt.tzinfo = SHANGHAI,
                  actor: str = "", waited_minutes: float | None = None, previous_level: WarningLevel | None = None,
                  round_number: int = 1, extra_line: str | None = None) -> str:
    """One SMS about one incident. `extra_line` (e.g. the materials to bring) is kept only while there is room."""
    language = lang(language)
    en = language == "en"
    drill = Part(DRILL_PREFIX if facts.drill_id else "")
    level = _LEVEL[language][facts.level]
    place = Part(" " + _place(facts, language), 8, shrink=True)
    measured = _measured(facts, language)
    value = Part((": " if en else " ") + measured if measured else "", 7 if facts.value is not None else 6,
                 shrink=facts.value is None)
    bound, origin = _limit(facts, language)
    limit = Part(((", limit " if en else ",限值") + bound) if bound and facts.value is not None else "", 5)
    source = Part((" " if en else "") + origin if origin and facts.value is not None else "", 1)
    when = Part((", " if en else " ") + local_time(facts.observed_at, tz), 4)
    extra = Part(("\n" + extra_line.strip() + "\n") if extra_line and extra_line.strip() else "", 3)
    end = Part("." if en else "。")
    code = Part(f" {facts.code}")
    reply_part = Part(" " + _REPLIES[language]["reply_one"].format(code=facts.code) if en
                      else _REPLIES[language]["reply_one"].format(code=facts.code))
    if kind == "acked":
        head = Part(f"{facts.code} acknowledged by {actor}. " if en else f"{facts.code}已由{actor}确认。")
        return fit([drill, head, Part(level), place, value, when, end], _ellipsis(language))
    if kind == "resolved":
        head = Part(f"{facts.code} resolved by {actor}. " if en else f"{facts.code}已解除({actor})。")
        return fit([drill, head, Part(level), place, value, when, end], _ellipsis(language))
    marker = ""
    was = Part("")
    waited = Part("")
    if kind == "raise":
        marker = "RAISED to " if en else "【升级】"
        if previous_level is not None:
            was = Part(f" (was {_LEVEL_SHORT[language][previous_level]})" if en
                       else f"(原{_LEVEL[language][previous_level][:2]})", 2)
    elif kind == "repeat":
        marker = f"Round {round_number}: " if en else f"【第{round_number}轮】"
    if kind in ("escalation", "repeat") and waited_minutes is not None:
        waited = Part(f", no ack for {waited_minutes:g} min" if en else f",已{waited_minutes:g}分钟无人确认", 2)
    if kind == "notify":
        reply_part = Part(" For information." if en else "(通报)")
    return fit([drill, Part(marker + level), code, was, place, value, limit, source, when, waited, end, extra,
                reply_part], _ellipsis(language))


# --- lists: bundles, hourly summaries, status and choices ----------------------------------------------------

@dataclass(frozen=True)
class Item:
    kind: Kind
    facts: Facts
    actor: str = ""


def _item(item: Item, language: str, detail: int, place_chars: int | None) -> str:
    facts, en = item.facts, language == "en"
    text = _LEVEL_SHORT[language][facts.level] + ("-" if en else "") + facts.code
    if item.kind == "raise":
        text += "^" if en else "升级"
    if detail >= 2:
        place = _place(facts, language)
        if place_chars is not None and len(place) > place_chars:
            place = place[:place_chars] + _ellipsis(language)
        text += " " + place
    if item.kind == "acked":
        return text + (f" ack by {item.actor}" if en else f"已由{item.actor}确认")
    if item.kind == "resolved":
        return text + (" resolved" if en else "已解除")
    if detail >= 1:
        measured = _measured(facts, language, short=True)
        text += (" " + measured) if measured else ""
    return text


def list_text(header: str, items: Sequence[Item], *, language: str | None = None, drill: bool = False,
              tail: str = "", more: int = 0) -> str:
    """A header, the items as compactly as needed to fit (fewer details, then fewer items), and a tail. `more`:
    items it stands for beyond `items` (then it always says how many in all)."""
    language = lang(language)
    separator = "; " if language == "en" else ";"
    prefix = DRILL_PREFIX if drill else ""
    tail = (". " + tail if language == "en" else "。" + tail) if tail else ""
    total = len(items) + more
    for detail, place_chars in (((2, None), (2, 8), (2, 4), (1, None), (0, None)) if not more else ()):
        body = separator.join(_item(item, language, detail, place_chars) for item in items)
        text = prefix + header + body + tail
        if fits(text):
            return text
    for shown in range(len(items) if more else len(items) - 1, 0, -1):
        etc = _REPLIES[language]["more"].format(n=total)
        body = separator.join(_item(item, language, 0, None) for item in items[:shown])
        text = prefix + header + body + (" " if language == "en" else "") + etc + tail
        if fits(text):
            return text
    return fit([Part(prefix), Part(header), Part(_REPLIES[language]["more"].format(n=total)), Part(tail)])


def _reply_tail(items: Sequence[Item], language: str) -> str:
    codes = list(dict.fromkeys(item.facts.code for item in items if item.kind in PAGE_KINDS))
    if not codes:
        return ""
    if len(codes) == 1:
        return _REPLIES[language]["reply_one"].format(code=codes[0])
    return _REPLIES[language]["reply_many"]


def bundle_text(items: Sequence[Item], *, language: str | None = None, drill: bool = False) -> str:
    language = lang(language)
    header = _REPLIES[language]["bundle"].format(n=len(items)) + (" " if language == "en" else "")
    return list_text(header, items, language=language, drill=drill, tail=_reply_tail(items, language))


def summary_text(items: Sequence[Item], cap: int, *, language: str | None = None, drill: bool = False,
                 more: int = 0) -> str:
    language = lang(language)
    header = _REPLIES[language]["summary"].format(n=len(items) + more, cap=cap) + (" " if language == "en" else "")
    return list_text(header, items, language=language, drill=drill, tail=_reply_tail(items, language), more=more)


# --- the same messages as template slots (providers that send registered templates: contingency.sms_templates) --

def incident_params(kind: Kind, facts: Facts, *, language: str | None = None, tz: dt.tzinfo = SHANGHAI,
                    actor: str = "", waited_minutes: float | None = None, round_number: int = 1
                    ) -> tuple[str, dict[str, str]]:
    """The template kind and slots of the message `incident_text` writes for the same arguments."""
    language = lang(language)
    en = language == "en"
    common = {"drill": DRILL_PREFIX if facts.drill_id else "", "level": _LEVEL[language][facts.level],
              "code": facts.code, "place": _place(facts, language), "time": local_time(facts.observed_at, tz)}
    if kind in ("acked", "resolved"):
        return kind, {**common, "actor": _clip(actor, 24, language)}
    parameter, value, limit = "", "", ""
    if facts.value is not None:
        unit = _unit(facts.unit, language)
        parameter = _clip(facts.parameter_id.replace("_", " ") if en else facts.parameter, 24, language)
        value = (f" {_number(facts.value)}" + (f" {unit}" if unit else "")) if en else f"{_number(facts.value)}{unit}"
        limit = _clip(_limit(facts, language)[0], 24, language)
    title = _clip(facts.title, 35, language) if facts.value is None else ""
    if kind == "notify":
        return "notify", {**common, "parameter": parameter, "value": value, "limit": limit, "title": title}
    marker = ""
    if kind == "raise":
        marker = "RAISED " if en else "【升级】"
    elif kind == "repeat":
        marker = f"Round {round_number}: " if en else f"【第{round_number}轮】"
    waited = ""
    if kind in ("escalation", "repeat") and waited_minutes is not None:
        waited = f", no ack for {waited_minutes:g} min" if en else f",已{waited_minutes:g}分钟无人确认"
    if facts.value is None:
        return "page_report", {**common, "marker": marker, "title": title, "waited": waited}
    return "page", {**common, "marker": marker, "parameter": parameter, "value": value, "limit": limit,
                    "waited": waited}


def list_params(kind: Literal["bundle", "summary", "status"], items: Sequence[Item], *, language: str | None = None,
                drill: bool = False, cap: int | None = None, more: int = 0) -> tuple[str, dict[str, str]]:
    """A bundle, an hourly summary or a status list as template slots: how many (`more` beyond `items`), and their
    codes (as many as fit)."""
    language = lang(language)
    codes: list[str] = []
    for item in items:
        code = _LEVEL_SHORT[language][item.facts.level] + item.facts.code
        if len(",".join(codes + [code])) > 33:
            codes.append("…")
            break
        codes.append(code)
    if more and codes and codes[-1] != "…":
        codes.append("…")
    params = {"drill": DRILL_PREFIX if drill else "", "n": str(len(items) + more), "codes": ",".join(codes)}
    if cap is not None:
        params["cap"] = str(cap)
    return kind, params


def reply_params(key: str, language: str | None = None, *, drill: bool = False, **fields: object
                 ) -> tuple[str, dict[str, str]]:
    """The template kind and slots of `reply(key, ...)`: its own template for the confirmation and for help, the
    general answer template (the text, at most 35 characters) for the rest."""
    language = lang(language)
    prefix = DRILL_PREFIX if drill else ""
    if key == "ack_done":
        return "ack_confirmation", {"drill": prefix, "code": str(fields["code"])}
    if key == "help":
        return "help", {"drill": prefix}
    return "answer", {"drill": prefix, "text": _clip(_REPLIES[language][key].format(**fields), 35, language)}


# --- voice calls (叫应): what a call reads out, and the same as template slots ------------------------------------

CALL_KEY = "1"  # the key that acknowledges, in every call ERS places


def call_text(facts: Facts, *, language: str | None = None, tz: dt.tzinfo = SHANGHAI) -> str:
    """What a call about one incident says (text-to-speech): level, code, place, what was measured against its
    limit, when, and which key acknowledges. Not bound to SMS segments: it is spoken."""
    language = lang(language)
    p = call_params(facts, language=language, tz=tz)[1]
    if language == "en":
        return (f"{p['drill']}{p['level']} {facts.code}: {p['place']}, {p['parameter']}{p['value']}{p['title']}"
                f"{p['limit']}, at {p['time']}. Press {CALL_KEY} to acknowledge.")
    return (f"{p['drill']}{p['level']},编号{facts.code}。{p['place']},{p['parameter']}{p['value']}{p['title']}"
            f"{p['limit']},时间{p['time']}。确认收到请按{CALL_KEY}。")


def call_params(facts: Facts, *, language: str | None = None, tz: dt.tzinfo = SHANGHAI) -> tuple[str, dict[str, str]]:
    """The voice template kind ("call") and its slots, filled as `call_text` says them; `limit` carries its own
    words (",限值≤0.005mg/L"), so that a call about a report, which has none, does not read out an empty limit."""
    language = lang(language)
    _, params = incident_params("notify", facts, language=language, tz=tz)
    if params["limit"]:
        params["limit"] = _clip((", limit " if language == "en" else ",限值") + params["limit"], 24, language)
    return "call", params
