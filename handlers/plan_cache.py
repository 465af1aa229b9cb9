"""A checked plan kept as JSON next to the worker's other local state, so that a restart skips reading the YAML.

Reading a province plan's YAML (tens of thousands of stations) takes longer than everything else a worker does
before it is ready, and its result never changes while the file does not. The cache holds the plan after it
passed every check, under a key made of the plan's text and of everything that decides how a plan is read and
checked (the engine's code and its standards data), so a changed plan, a new ERS version or new standards are read
afresh. A cached plan is validated by pydantic again when loaded; anything unreadable in the cache is ignored."""
from __future__ import annotations

import functools
import hashlib
import logging
import os
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
from pydantic import ValidationError

from contingency import CompiledPlan, Plan, load_plan, load_standards, plan_from_text
from contingency.plan import RiskSource, Station, validation_context
from contingency.compiled import compile_plan

log = logging.getLogger("ers.plan")


def load_plan_cached(path: Path, cache_dir: Path) -> CompiledPlan:
    """The plan at `path` (contingency.PlanError if it has problems, as `load_plan`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return load_plan(path)  # its PlanError names the file and why it cannot be read
    cached = cache_dir / f"plan-{_key(text)}.json"
    try:
        plan = _validated(cached.read_bytes())
    except FileNotFoundError:
        pass
    except (OSError, ValidationError, ValueError, msgspec.DecodeError) as exc:
        log.warning("ignoring the cached plan %s: %s", cached, exc)
    else:
        return compile_plan(plan, load_standards())
    compiled = plan_from_text(text, str(path))
    _write(cached, _plain(compiled).model_dump_json(by_alias=True, exclude_defaults=True).encode("utf-8"))
    return compiled


LARGE_SECTIONS = {"stations": Station, "sources": RiskSource}  # a province's tens of thousands of entries


def _validated(cached: bytes) -> Plan:
    """The cached plan, validated as a plan read from YAML is. Decoded by msgspec, and the large sections entry by
    entry, so that no decoded copy of a whole province is alive at once: pydantic's own JSON parsing, then the
    decoded plan as one tree, left the worker holding twice and then once more the plan's size in memory
    (bench/plan_scale.py: 20,000 stations, 689 and 401 MB at ready). The entries go into the plan as the models
    they were validated into, which pydantic takes as they are."""
    context = validation_context()
    data: dict[str, Any] = {}
    for key, section in msgspec.json.decode(cached, type=dict[str, msgspec.Raw]).items():
        model = LARGE_SECTIONS.get(key)
        if model is None:
            data[key] = msgspec.json.decode(section)
            continue
        entries = {}
        for entry_id, entry in msgspec.json.decode(section, type=dict[str, msgspec.Raw]).items():
            fields = msgspec.json.decode(entry)
            if isinstance(fields, dict):
                fields.setdefault("id", entry_id)
            entries[entry_id] = model.model_validate(fields, context=context)
        data[key] = entries
    return Plan.model_validate(data, context=context)


def _plain(compiled: CompiledPlan) -> Plan:
    return Plan.model_construct(_fields_set=compiled.model_fields_set,
                                **{name: getattr(compiled, name) for name in Plan.model_fields})


def _key(text: str) -> str:
    digest = hashlib.sha256(_reader_fingerprint().encode())
    digest.update(text.encode("utf-8"))
    return digest.hexdigest()[:32]


@functools.cache
def _reader_fingerprint() -> str:
    """What decides how a plan text becomes a plan: the contingency package's code and data."""
    digest = hashlib.sha256()
    package = resources.files("contingency")
    for name in sorted(entry.name for entry in package.iterdir() if entry.name.endswith(".py")):
        digest.update(name.encode() + b"\0" + package.joinpath(name).read_bytes())
    data = package / "data"
    for name in sorted(entry.name for entry in data.iterdir() if entry.is_file()):
        digest.update(name.encode() + b"\0" + data.joinpath(name).read_bytes())
    return digest.hexdigest()


def _write(target: Path, content: bytes) -> None:
    """Atomically (a reader never sees half a file); a cache that cannot be written is only a slower start."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in target.parent.glob("plan-*.json"):
            stale.unlink(missing_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(content)
        os.replace(partial, target)
    except OSError as exc:
        log.warning("cannot cache the plan in %s: %s", target.parent, exc)
