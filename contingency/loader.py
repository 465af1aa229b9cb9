"""The one module of `contingency` that reads files: plan YAML (keeping line numbers) and the standards data.

Every problem is reported as `file:line: field: what is wrong`; shape errors from pydantic and cross-reference
problems are gathered together so one `ers plan check` run shows them all.
"""
from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from contingency.advice import plan_warnings as plan_advice
from contingency.compiled import CompiledPlan, compile_plan
from contingency.plan import Plan, validation_context
from contingency.problems import PlanError, Problem
from contingency.standards import Standards, standards_from_data
from contingency.validation import check_references

Lines = dict[tuple[Any, ...], int]
# libyaml's parser when PyYAML was built with it (ten times the pure-Python one's speed; the same nodes and marks)
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def load_standards() -> Standards:
    data = resources.files("contingency") / "data"
    gb3838 = yaml.load(data.joinpath("gb3838_2002.yaml").read_text(encoding="utf-8"), Loader=SafeLoader)
    hj633 = yaml.load(data.joinpath("hj633_2012_aqi.yaml").read_text(encoding="utf-8"), Loader=SafeLoader)
    hj212 = yaml.load(data.joinpath("hj212_factors.yaml").read_text(encoding="utf-8"), Loader=SafeLoader)
    return standards_from_data(gb3838, hj633, hj212)


def load_plan(path: str | Path) -> CompiledPlan:
    plan, problems = _read(Path(path))
    if problems or plan is None:
        raise PlanError(problems)
    return plan


def check_plan(path: str | Path) -> list[Problem]:
    """Every problem of a plan file; an empty list means the plan is usable."""
    return _read(Path(path))[1]


def plan_warnings(path: str | Path) -> list[Problem]:
    """What a usable plan file says that its bureau would want to correct (contingency.advice); none for a plan
    with problems (check_plan lists those)."""
    path = Path(path)
    plan, problems = _read(path)
    if plan is None or problems:
        return []
    _, lines, _ = yaml_with_lines(path.read_text(encoding="utf-8"))
    return [warning.located(str(path), _line_of(warning.path, lines))
            for warning in plan_advice(plan, load_standards())]


def plan_from_text(text: str, file: str = "<plan>", standards: Standards | None = None) -> CompiledPlan:
    plan, problems = parse_plan(text, file, standards or load_standards())
    if problems or plan is None:
        raise PlanError(problems)
    return plan


def _read(path: Path) -> tuple[CompiledPlan | None, list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem((), f"cannot read the plan: {exc}", file=str(path), line=0)]
    return parse_plan(text, str(path), load_standards())


def parse_plan(text: str, file: str, standards: Standards) -> tuple[CompiledPlan | None, list[Problem]]:
    data, lines, problems = yaml_with_lines(text)
    located = [problem.located(file, problem.line or _line_of(problem.path, lines)) for problem in problems]
    if not isinstance(data, dict):
        if not located:
            located.append(Problem((), "a plan is a YAML mapping (id, name, sources, stations, rules, ...)", file, 1))
        return None, located
    try:
        plan = Plan.model_validate(data, context=validation_context())
    except ValidationError as exc:
        return None, located + [_from_pydantic(err, data, lines, file) for err in exc.errors(include_url=False)]
    for problem in check_references(plan, standards):
        located.append(problem.located(file, _line_of(problem.path, lines)))
    if located:
        return None, located
    return compile_plan(plan, standards), []


def yaml_with_lines(text: str) -> tuple[Any, Lines, list[Problem]]:
    """Parse YAML, recording the 1-based line of every mapping key and sequence item by its path."""
    loader = SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {(): 1}, []
        lines: Lines = {(): node.start_mark.line + 1}
        problems: list[Problem] = []
        data = _walk(loader, node, (), lines, problems)
        return data, lines, problems
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        reason = getattr(exc, "problem", None) or str(exc)
        return None, {(): line}, [Problem((), f"not valid YAML: {reason}", line=line)]
    finally:
        loader.dispose()


def _walk(loader: yaml.BaseLoader, node: yaml.Node, path: tuple[Any, ...], lines: Lines,
          problems: list[Problem]) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, (str, int, float, bool)) or key is None:
                problems.append(Problem(path, f"a key must be plain text, not {key!r}", line=line))
                continue
            if key in first_line:
                problems.append(Problem(path + (key,), f"duplicate key {key!r} (first at line {first_line[key]})",
                                        line=line))
                continue
            first_line[key] = line
            lines[path + (key,)] = line
            out[key] = _walk(loader, value_node, path + (key,), lines, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item_node in enumerate(node.value):
            lines[path + (index,)] = item_node.start_mark.line + 1
            items.append(_walk(loader, item_node, path + (index,), lines, problems))
        return items
    return loader.construct_object(node, deep=True)


def _from_pydantic(err: dict[str, Any], data: Any, lines: Lines, file: str) -> Problem:
    path = _data_path(tuple(err["loc"]), data)
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown field (a typo?)"
    return Problem(path, message, file, _line_of(path, lines))


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Pydantic adds union tags and validator names to `loc`; keep only the parts that name places in the file,
    plus a last part that is missing from the file (a required field)."""
    path: list[Any] = []
    node = data
    for index, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif index == len(loc) - 1 and not (isinstance(node, dict) and node.get("kind") == part):
            path.append(part)
    return tuple(path)


def _line_of(path: tuple[Any, ...], lines: Lines) -> int:
    for end in range(len(path), -1, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return 0
