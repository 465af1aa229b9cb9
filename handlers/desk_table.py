"""The incident desk's books (contingency.desk.Books) in the worker's changelog-backed table, an entry per part, so
that an input rewrites only what it changed (issue 14): before, both books were one entry, parsed and written
whole for every input (every open incident and four memories of recent ids: hundreds of KB, growing toward
Kafka's 1 MB record limit when many incidents are open).

Entries (keys):
  incident/<id>          an open incident (contingency.incidents.OpenIncident)
  paging/<id>            where its paging stands (contingency.paging_state.IncidentPaging)
  mailbox/<person>       what waits for one recipient (contingency.paging_state.Mailbox)
  owed/<id>              the reports a resolved incident still owes (contingency.paging_state.Owed)
  memory/<name>/<n>      chunk n of a memory of recent ids (the books' `applied`, `sent` and `closed`): each
                         memory is a window of an append-only log, kept as chunks of CHUNK items by their place in
                         the log, so an input writes the last chunk and, now and then, deletes the oldest
  meta                   how many items each memory's log has had (so a reader knows which chunks are current)
  journal, journal/<n>   the last save's writes, before they are made (below)

Deleted parts are written as None (the changelog compacts them away). A save changes several entries, and a worker
may die between two of them; the books must not come back half changed. So a save first writes all it is about to
write as a journal (parts of at most JOURNAL_BYTES, then the entry "journal" naming the save and its parts), then
the entries themselves. The changelog keeps the order of the writes, so a recovered table holds a prefix of them:
`load` applies a complete journal again over the entries (what the worker had written of it, and what it had not);
an incomplete one was never acted on. `load` also reads the single entry "book" that workers before this layout
wrote (the next save migrates it).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from contingency.desk import Books
from contingency.incidents import RECENT_DETECTIONS, IncidentBook, OpenIncident
from contingency.paging_state import (RECENT_CLOSED, RECENT_INPUTS, RECENT_SENT, Closed, IncidentPaging, Mailbox,
                                      Owed, PagingBook, Sent)

CHUNK = 128  # items a memory chunk holds: at most ~6 KB of ids, ~20 KB of sent pages
JOURNAL_BYTES = 64_000  # a journal part holds writes of about this much JSON (one larger write, a part of its own)
LEGACY_KEY = "book"
META = "meta"
JOURNAL = "journal"


@dataclass(frozen=True)
class _Memory:
    name: str
    window: int
    get: Callable[[Books], tuple[Any, ...]]
    dump: Callable[[Any], Any]
    parse: Callable[[Any], Any]


_MEMORIES = (
    _Memory("incident-inputs", RECENT_DETECTIONS, lambda b: b.incidents.applied, str, str),
    _Memory("paging-inputs", RECENT_INPUTS, lambda b: b.paging.applied, str, str),
    _Memory("sent", RECENT_SENT, lambda b: b.paging.sent, lambda s: s.model_dump(mode="json"), Sent.model_validate),
    _Memory("closed", RECENT_CLOSED, lambda b: b.paging.closed, lambda c: c.model_dump(mode="json"),
            Closed.model_validate),
)


class DeskTable:
    def __init__(self, table: MutableMapping[str, Any]) -> None:
        self._table = table
        self._unwritten: dict[str, Any] = {}  # what the last load redid from the journal and the table lacks

    def load(self) -> tuple[Books, dict[str, int]]:
        """The books the table holds, and each memory's log length (for `save`). A journal redone here is written
        to the table by the next save: the saves after it write only what they change, and a new journal
        replaces this one, so what it alone held would otherwise be lost at the next recovery."""
        entries = dict(self._table.items())
        self._unwritten = _redo_journal(entries)
        entries = {key: value for key, value in entries.items() if value is not None}
        legacy, meta = entries.get(LEGACY_KEY), entries.get(META)
        if meta is None:
            books = Books.from_json(legacy) if legacy else Books()
            return books, {m.name: len(m.get(books)) for m in _MEMORIES}
        counts = dict(meta["counts"])
        open_incidents = {key.removeprefix("incident/"): OpenIncident.model_validate(value)
                          for key, value in entries.items() if key.startswith("incident/")}
        paging = {key.removeprefix("paging/"): IncidentPaging.model_validate(value)
                  for key, value in entries.items() if key.startswith("paging/")}
        mailboxes = {key.removeprefix("mailbox/"): Mailbox.model_validate(value)
                     for key, value in entries.items() if key.startswith("mailbox/")}
        owed = {key.removeprefix("owed/"): Owed.model_validate(value)
                for key, value in entries.items() if key.startswith("owed/")}
        memories = {m.name: _read_memory(entries, m, counts.get(m.name, 0)) for m in _MEMORIES}
        books = Books(IncidentBook(open=open_incidents, applied=memories["incident-inputs"]),
                      PagingBook(incidents=paging, closed=memories["closed"], mailboxes=mailboxes,
                                 sent=memories["sent"], applied=memories["paging-inputs"], owed=owed))
        return books, counts

    def save(self, before: Books, after: Books, counts: dict[str, int]) -> dict[str, int]:
        """Write what changed from `before` to `after`; returns the memories' log lengths after it. The first save
        after a load of the single-entry layout writes everything and removes that entry."""
        legacy = self._table.get(LEGACY_KEY) is not None
        if legacy:
            before = Books()
            counts = {m.name: 0 for m in _MEMORIES}
        writes: dict[str, Any] = {}
        _diff(writes, "incident/", before.incidents.open, after.incidents.open)
        _diff(writes, "paging/", before.paging.incidents, after.paging.incidents)
        _diff(writes, "mailbox/", before.paging.mailboxes, after.paging.mailboxes)
        _diff(writes, "owed/", before.paging.owed, after.paging.owed)
        new_counts = {}
        for memory in _MEMORIES:
            new_counts[memory.name] = _write_memory(writes, memory, memory.get(before), memory.get(after),
                                                    counts.get(memory.name, 0))
        if writes or new_counts != counts or legacy or self._unwritten:
            writes[META] = {"counts": new_counts}
        if legacy:
            writes[LEGACY_KEY] = None
        writes = {**self._unwritten, **writes}  # this save's own writes are the newer
        self._unwritten = {}
        if writes:
            self._journal(writes)
            for key, value in writes.items():
                self._table[key] = value
        return new_counts

    def _journal(self, writes: dict[str, Any]) -> None:
        previous = self._table.get(JOURNAL)
        save = (previous["save"] + 1) if previous else 1
        parts = _parts(writes)
        for n, part in enumerate(parts):
            self._table[f"{JOURNAL}/{n}"] = {"save": save, "writes": part}
        for n in range(len(parts), previous["parts"] if previous else 0):
            self._table[f"{JOURNAL}/{n}"] = None  # a longer journal before this one
        self._table[JOURNAL] = {"save": save, "parts": len(parts)}

    def meta(self) -> Any:
        """The table's meta entry as stored: the same object after our own save, another after a recovery."""
        return self._table.get(META)


def _parts(writes: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{}]
    size = 0
    for key, value in writes.items():
        length = len(json.dumps(value, ensure_ascii=False)) + len(key) + 8
        if parts[-1] and size + length > JOURNAL_BYTES:
            parts.append({})
            size = 0
        parts[-1][key] = value
        size += length
    return parts


def _redo_journal(entries: dict[str, Any]) -> dict[str, Any]:
    """Apply the last save's journal over `entries`, if it was written whole; returns the entries it changed."""
    journal = entries.get(JOURNAL)
    if not journal:
        return {}
    parts = [entries.get(f"{JOURNAL}/{n}") for n in range(journal["parts"])]
    if any(part is None or part["save"] != journal["save"] for part in parts):
        return {}  # not written whole: the save it began was never made either
    redone = {}
    for part in parts:
        redone.update({key: value for key, value in part["writes"].items() if entries.get(key) != value})
    entries.update(redone)
    return redone


def _diff(writes: dict[str, Any], prefix: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
    for key, value in after.items():
        old = before.get(key)
        if value is not old and value != old:
            writes[prefix + key] = value.model_dump(mode="json")
    for key in before.keys() - after.keys():
        writes[prefix + key] = None


def _write_memory(writes: dict[str, Any], memory: _Memory, before: tuple[Any, ...], after: tuple[Any, ...],
                  count: int) -> int:
    """Append what `after` added to `before` to the memory's log (of `count` items so far); returns its new length.
    `after` is the log's last items: the chunks they changed are written, those that left the window deleted."""
    appended = _appended(before, after)
    if not appended:
        return count
    new_count = count + len(appended)
    window_start = new_count - len(after)  # the log position of after[0]
    for n in range(count // CHUNK, (new_count - 1) // CHUNK + 1):
        lo, hi = max(n * CHUNK, window_start), min((n + 1) * CHUNK, new_count)
        writes[f"memory/{memory.name}/{n}"] = [memory.dump(item) for item in after[lo - window_start:hi - window_start]]
    for n in range(max(0, count - memory.window) // CHUNK, max(0, new_count - memory.window) // CHUNK):
        writes.setdefault(f"memory/{memory.name}/{n}", None)
    return new_count


def _appended(before: tuple[Any, ...], after: tuple[Any, ...]) -> tuple[Any, ...]:
    """What `after` (a window of an append-only log) holds beyond `before` (an earlier window of it)."""
    if not before:
        return after
    last = before[-1]
    for i in range(len(after) - 1, -1, -1):
        if after[i] is last or after[i] == last:
            return after[i + 1:]
    return after  # the window moved past all of `before`


def _read_memory(entries: Mapping[str, Any], memory: _Memory, count: int) -> tuple[Any, ...]:
    items: list[Any] = []
    for n in range(max(0, count - memory.window) // CHUNK, (count + CHUNK - 1) // CHUNK):
        items.extend(entries.get(f"memory/{memory.name}/{n}") or ())
    return tuple(memory.parse(item) for item in items[-memory.window:]) if count else ()


