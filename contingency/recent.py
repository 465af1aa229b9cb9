"""RecentIds: the ids of the last inputs a book handled, so that a redelivered input changes nothing.

A book remembers thousands of ids and asks, for every input, whether it has seen this one. As a tuple, the question
scanned 4,096 strings and remembering one more copied them all: together a third of the desk's time per input
(issue 14). A RecentIds is a window of an append-only log with an index: membership is a dict lookup, and adding an
id to the newest window appends to the log it shares with the window it came from. To its users it is an immutable
sequence: a window never changes; adding to an older window, or an id the log already holds, copies.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema


class RecentIds(Sequence[str]):
    __slots__ = ("_log", "_index", "_start", "_end")

    def __init__(self, ids: Iterable[str] = ()) -> None:
        log = list(ids)
        self._log = log
        self._index = {id_: n for n, id_ in enumerate(log)}  # an id held twice: its last place
        self._start, self._end = 0, len(log)

    @classmethod
    def _window(cls, log: list[str], index: dict[str, int], start: int, end: int) -> "RecentIds":
        window = cls.__new__(cls)
        window._log, window._index, window._start, window._end = log, index, start, end
        return window

    def adding(self, id_: str, keep: int) -> "RecentIds":
        """These ids and `id_`, the last `keep` of them."""
        log = self._log
        if self._end == len(log) and id_ not in self._index and len(log) < 2 * keep:
            log.append(id_)
            self._index[id_] = self._end
            return self._window(log, self._index, max(self._start, self._end + 1 - keep), self._end + 1)
        # Another window was extended from this one, or the id was held before (its index entry must not move
        # under an older window), or the log is twice the window: a fresh log (amortised over `keep` additions).
        return RecentIds([*self[max(0, len(self) - keep + 1):], id_] if keep > 1 else [id_])

    def __contains__(self, id_: object) -> bool:
        n = self._index.get(id_)  # type: ignore[call-overload]
        return n is not None and self._start <= n < self._end and self._log[n] == id_

    def __len__(self) -> int:
        return self._end - self._start

    def __iter__(self) -> Iterator[str]:
        return iter(self._log[self._start:self._end])

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[str, ...]: ...

    def __getitem__(self, i: int | slice) -> str | tuple[str, ...]:
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            return tuple(self._log[self._start + start:self._start + stop:step]) if step > 0 else tuple(self)[i]
        n = i + self._end if i < 0 else i + self._start
        if not self._start <= n < self._end:
            raise IndexError(i)
        return self._log[n]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (RecentIds, tuple, list)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"RecentIds({len(self)} ids)"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        from_list = core_schema.no_info_after_validator_function(cls, core_schema.list_schema(core_schema.str_schema()))
        return core_schema.json_or_python_schema(
            json_schema=from_list,
            python_schema=core_schema.union_schema([core_schema.is_instance_schema(cls), from_list]),
            serialization=core_schema.plain_serializer_function_ser_schema(list),
        )
