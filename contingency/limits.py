"""Turning a rule's limit as written (fixed numbers or "class III") into a Bound for one station."""
from __future__ import annotations

from contingency.bounds import Bound, describe
from contingency.plan import LimitSpec, RiskSource
from contingency.standards import GB3838, HJ633, StandardLookupError, Standards

_UNIT_SYNONYMS = {"dimensionless": "1", "无量纲": "1", "ph": "1", "-": "1", "个/l": "count/l", "mpn/l": "count/l",
                  "°c": "degc", "℃": "degc"}


def same_unit(a: str, b: str) -> bool:
    return normal_unit(a) == normal_unit(b)


def normal_unit(unit: str) -> str:
    text = unit.strip().lower().replace("μ", "u").replace("µ", "u").replace("³", "3").replace(" ", "")
    return _UNIT_SYNONYMS.get(text, text)


def resolve_fixed(spec: LimitSpec, unit: str) -> Bound:
    """A fixed limit (upper, lower or range) as a Bound."""
    if spec.upper is not None:
        return Bound(None, spec.upper, describe(None, spec.upper, unit))
    if spec.lower is not None:
        return Bound(spec.lower, None, describe(spec.lower, None, unit))
    assert spec.range is not None, "a fixed limit"
    low, high = spec.range
    return Bound(low, high, describe(low, high, unit))


def resolve_bound(spec: LimitSpec, parameter: str, unit: str, source: RiskSource, standards: Standards) -> Bound:
    """Raises StandardLookupError when the standard does not define what the rule asks for."""
    if spec.standard is None:
        return resolve_fixed(spec, unit)
    item = spec.item or parameter
    if spec.standard == GB3838:
        if spec.iaqi is not None:
            raise StandardLookupError(f"iaqi belongs to {HJ633}, not {GB3838}")
        bound = standards.water_bound(item, spec.water_class or _class_unless_single_limit(standards, item, source),
                                      source.water_body)
    elif spec.standard == HJ633:
        if spec.water_class is not None:
            raise StandardLookupError(f"class belongs to {GB3838}; {HJ633} limits take iaqi")
        if spec.iaqi is None:
            raise StandardLookupError(f"an {HJ633} limit needs iaqi (e.g. iaqi: 150)")
        bound = standards.aqi_bound(item, spec.iaqi)
    else:
        raise StandardLookupError(f"unknown standard {spec.standard!r} (known: {', '.join(standards.names())})")
    expected = standards.unit(spec.standard, item)
    if not same_unit(unit, expected):
        raise StandardLookupError(f"the station reports {parameter} in {unit} but {spec.standard} limits "
                                  f"{item} in {expected}")
    return bound


def _class_unless_single_limit(standards: Standards, item: str, source: RiskSource) -> str | None:
    water_item = standards.water.get(item)
    if water_item is not None and water_item.table != 1:
        return None
    return source.water_class
