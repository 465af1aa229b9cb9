"""SMS templates as data: for providers that send only registered templates (Aliyun, and every mainland-China
provider), each message kind has the provider's template code and its text with `${param}` slots.

The file sits next to the roster (`plans/arxan-sms-templates.yaml`). What it must satisfy, checked at start so
ERS refuses to run with a template that would fail at 3 a.m.:
- every kind ERS sends has a template; no unknown kinds; codes unique;
- a template uses only the slots its kind fills, and all the slots its kind requires;
- every template starts with `${drill}`, which is 【演练】 in a drill and empty otherwise (drill messages must say so);
- what a slot can hold fits the provider's limit for a variable (35 characters), and the longest rendering fits
  its limit for a template (500);
- a page, rendered with example facts, still says level, code, place, parameter, value, limit, time and how to
  reply (the word 回复 or "reply", and the digit 1);
- voice templates (optional, `voice:`; required when a plan's tier says `call`): a call template per voice kind,
  held to the same slot rules; the call still says level, code, place, value, limit and time, and which key
  acknowledges (按1).

Pure: parsing, checking, rendering.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from contingency.loader import _from_pydantic, _line_of, yaml_with_lines  # the plan loader's line tracking
from contingency.problems import PlanError, Problem
from contingency.sms_text import CALL_KEY

PARAM_CHARS = 35      # Aliyun: a variable of a notification template
TEMPLATE_CHARS = 500  # Aliyun: a template's content
SLOT = re.compile(r"\$\{([A-Za-z0-9_]+)\}")

# kind -> (slots it may use, slots it must use); "drill" is required everywhere.
KINDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "page": (frozenset({"drill", "marker", "level", "code", "place", "parameter", "value", "limit", "time",
                        "waited"}),
             frozenset({"drill", "level", "code", "place", "parameter", "value", "limit", "time"})),
    "page_report": (frozenset({"drill", "marker", "level", "code", "place", "title", "time", "waited"}),
                    frozenset({"drill", "level", "code", "place", "title", "time"})),
    "notify": (frozenset({"drill", "level", "code", "place", "parameter", "value", "limit", "title", "time"}),
               frozenset({"drill", "level", "code", "place", "time"})),
    "acked": (frozenset({"drill", "code", "actor", "level", "place", "time"}), frozenset({"drill", "code", "actor"})),
    "resolved": (frozenset({"drill", "code", "actor", "level", "place", "time"}),
                 frozenset({"drill", "code", "actor"})),
    "ack_confirmation": (frozenset({"drill", "code"}), frozenset({"drill", "code"})),
    "bundle": (frozenset({"drill", "n", "codes"}), frozenset({"drill", "n", "codes"})),
    "summary": (frozenset({"drill", "n", "cap", "codes"}), frozenset({"drill", "n", "codes"})),
    "status": (frozenset({"drill", "n", "codes"}), frozenset({"drill", "n"})),
    "help": (frozenset({"drill"}), frozenset({"drill"})),
    "answer": (frozenset({"drill", "text"}), frozenset({"drill", "text"})),
    "materials": (frozenset({"drill", "text"}), frozenset({"drill", "text"})),
}
ASKS_FOR_REPLY = frozenset({"page", "page_report", "bundle"})

# Voice templates (叫应): what a call reads out, and what it says once the key was pressed.
VOICE_KINDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "call": (frozenset({"drill", "level", "code", "place", "parameter", "value", "limit", "title", "time"}),
             frozenset({"drill", "level", "code", "place", "time"})),
    "call_acked": (frozenset({"code"}), frozenset()),
}

# The most a slot holds, by how ERS fills it (contingency.sms_text clips to these); checked against PARAM_CHARS.
SLOT_CHARS: dict[str, int] = {
    "drill": 4, "marker": 8, "level": 12, "code": 8, "place": 24, "parameter": 24, "value": 24, "limit": 24,
    "time": 11, "waited": 16, "title": 35, "actor": 24, "n": 4, "cap": 4, "codes": 35, "text": 35,
}

# Example facts a page must still show once rendered (what a duty officer needs to act on it).
EXAMPLE_PAGE = {"drill": "", "marker": "", "level": "黄色预警", "code": "K7Q", "place": "哈拉哈河大山矿断面",
                "parameter": "镉", "value": "0.0062mg/L", "limit": "≤0.005mg/L", "time": "07-22 08:40",
                "waited": ""}
EXAMPLE_CALL = {**{key: EXAMPLE_PAGE[key] for key in ("drill", "level", "code", "place", "parameter", "value", "time")},
                "limit": ",限值≤0.005mg/L"}

TemplateCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,64}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Template(_Model):
    code: TemplateCode = Field(description="the provider's template code, e.g. SMS_480001")
    text: Annotated[str, StringConstraints(min_length=1, max_length=TEMPLATE_CHARS)] = Field(
        description="the registered text, with ${param} slots")

    @property
    def slots(self) -> list[str]:
        return SLOT.findall(self.text)


class VoiceTemplates(_Model):
    show_number: Annotated[str, StringConstraints(pattern=r"^\d{7,12}$")] = Field(
        description="the number calls come from (CalledShowNumber): one bought in the Aliyun voice console")
    templates: dict[str, Template] = Field(description="text-to-speech templates (TTS_...), one per voice kind")


class TemplateSet(_Model):
    provider: str = Field("aliyun", pattern=r"^aliyun$", description="the provider the codes are registered with")
    sign_name: Annotated[str, StringConstraints(min_length=2, max_length=12)] = Field(
        description="the registered sign (签名), shown as 【sign】 before every message")
    language: Literal["zh-CN", "en"] = Field("zh-CN", description="the language the templates are registered "
                                                                  "in: their slots are filled in it too")
    templates: dict[str, Template]
    voice: VoiceTemplates | None = Field(None, description="voice templates, for plans whose tiers say call")

    def render(self, kind: str, params: Mapping[str, str]) -> str:
        """What the phone shows: 【sign】 and the template with its slots filled."""
        return f"【{self.sign_name}】" + render(self.templates[kind].text, params)


def render(text: str, params: Mapping[str, str]) -> str:
    return SLOT.sub(lambda m: params.get(m.group(1), ""), text)


def clip(value: str, chars: int = PARAM_CHARS) -> str:
    return value if len(value) <= chars else value[:chars - 1] + "…"


def template_problems(templates: TemplateSet) -> list[Problem]:
    problems = _set_problems(("templates",), templates.templates, KINDS, sign_chars=len(templates.sign_name) + 2)
    for kind in sorted(ASKS_FOR_REPLY & templates.templates.keys()):
        if not _says_how_to_reply(templates.templates[kind].text):
            problems.append(Problem(("templates", kind, "text"), "must say how to reply (回复 … 1 …)"))
    problems += _example_problems(("templates", "page", "text"), templates.templates.get("page"), EXAMPLE_PAGE)
    if templates.voice is not None:
        where = ("voice", "templates")
        voice = templates.voice.templates
        problems += _set_problems(where, voice, VOICE_KINDS, sign_chars=0)
        call = voice.get("call")
        if call is not None and not _says_which_key(call.text):
            problems.append(Problem(where + ("call", "text"), f"must say which key acknowledges (按{CALL_KEY} / "
                                                              f"press {CALL_KEY})"))
        problems += _example_problems(where + ("call", "text"), call, EXAMPLE_CALL)
    return problems


def _set_problems(where: tuple[str, ...], templates: Mapping[str, Template],
                  kinds: Mapping[str, tuple[frozenset[str], frozenset[str]]], sign_chars: int) -> list[Problem]:
    """Every kind has a template, no unknown kinds, unique codes, the right slots, and everything fits."""
    problems: list[Problem] = []
    for kind in kinds:
        if kind not in templates:
            problems.append(Problem(where, f"no template for {kind!r} (kinds: {', '.join(kinds)})"))
    seen: dict[str, str] = {}
    for kind, template in templates.items():
        at = where + (kind,)
        if kind not in kinds:
            problems.append(Problem(at, f"unknown kind {kind!r} (kinds: {', '.join(kinds)})"))
            continue
        if template.code in seen:
            problems.append(Problem(at + ("code",), f"{template.code} is also {seen[template.code]}'s"))
        seen.setdefault(template.code, kind)
        allowed, required = kinds[kind]
        slots = set(template.slots)
        text = at + ("text",)
        for slot in sorted(slots - allowed):
            problems.append(Problem(text, f"${{{slot}}} is not filled for {kind} (it fills {', '.join(sorted(allowed))})"))
        for slot in sorted(required - slots):
            problems.append(Problem(text, f"${{{slot}}} is missing: {kind} must show it"))
        if "drill" in required and not template.text.startswith("${drill}"):
            problems.append(Problem(text, "must start with ${drill} (【演练】 in a drill, empty otherwise)"))
        for slot in sorted(slots & allowed):
            if SLOT_CHARS[slot] > PARAM_CHARS:
                problems.append(Problem(text, f"${{{slot}}} can hold {SLOT_CHARS[slot]} characters, over the "
                                              f"provider's {PARAM_CHARS}"))
        longest = len(render(template.text, {s: "x" * SLOT_CHARS.get(s, PARAM_CHARS) for s in slots}))
        if longest + sign_chars > TEMPLATE_CHARS:
            problems.append(Problem(text, f"can render to {longest} characters, over {TEMPLATE_CHARS}"))
    return problems


def _example_problems(where: tuple[str, ...], template: Template | None, example: Mapping[str, str]) -> list[Problem]:
    """A template rendered with example facts must still show every one of them."""
    if template is None:
        return []
    shown = render(template.text, example)
    return [Problem(where, f"a rendered {where[-2]} does not show the {name} ({value!r}): {shown}")
            for name, value in example.items() if value and value not in shown]


def _says_which_key(text: str) -> bool:
    fixed = SLOT.sub("", text)
    return f"按{CALL_KEY}" in fixed or f"press {CALL_KEY}" in fixed.lower()


def _says_how_to_reply(text: str) -> bool:
    fixed = SLOT.sub("", text)
    return ("回复" in fixed or "reply" in fixed.lower()) and "1" in fixed


def parse_templates(text: str, file: str) -> tuple[TemplateSet | None, list[Problem]]:
    data, lines, problems = yaml_with_lines(text)
    located = [problem.located(file, problem.line or _line_of(problem.path, lines)) for problem in problems]
    if not isinstance(data, dict):
        if not located:
            located.append(Problem((), "an SMS template file is a YAML mapping (sign_name, templates)", file, 1))
        return None, located
    try:
        templates = TemplateSet.model_validate(data)
    except ValidationError as exc:
        return None, located + [_from_pydantic(err, data, lines, file) for err in exc.errors(include_url=False)]
    located += [p.located(file, _line_of(p.path, lines)) for p in template_problems(templates)]
    return (None, located) if located else (templates, [])


def load_templates(path: str | Path) -> TemplateSet:
    """The template file, or PlanError naming the file, the field and every problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError([Problem((), f"cannot read the SMS template file: {exc}", file=str(path))]) from exc
    return templates_from_text(text, str(path))


def templates_from_text(text: str, file: str = "<templates>") -> TemplateSet:
    templates, problems = parse_templates(text, file)
    if problems or templates is None:
        raise PlanError(problems)
    return templates


@dataclass(frozen=True)
class Message:
    """One SMS as ERS sends and shows it: `body` is what the phone shows; for a template provider also the
    template kind and its slots (the body is then that template rendered)."""
    body: str
    template: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)


def slot_language(templates: TemplateSet | None, language: str) -> str:
    """The language to fill a template's slots in: the templates', whatever the person reads otherwise."""
    return templates.language if templates is not None else language


def compose(templates: TemplateSet | None, kind: str, params: Mapping[str, str], free_text: str) -> Message:
    """The message for a person reached through `templates` (None: free text, as Twilio sends)."""
    if templates is None:
        return Message(free_text)
    filled = {name: clip(value) for name, value in params.items()}
    return Message(templates.render(kind, filled), kind, filled)
