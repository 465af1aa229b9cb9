"""The incident desk's books in their table, an entry per part (handlers.desk_table): saved after every input and
loaded again as a restarted worker would, the desk decides exactly as it does on the books it holds; an input
writes only what it changed; memories stay bounded; the single-entry layout of earlier workers is read and
migrated; no entry grows with the number of open incidents."""
from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contingency"))

from contingency import desk  # noqa: E402
from contingency.desk import Books  # noqa: E402
from handlers.desk_table import CHUNK, DeskTable  # noqa: E402
from test_paging import PLAN, ROSTER, T0, Agent, minutes, opened, play, scenario, step  # noqa: E402


class TableAgent(Agent):
    """The desk saving its books to a table after every input and reading them back from it (a fresh DeskTable:
    as after a restart), checking each time that what it reads is what it holds."""

    def __init__(self, plan, roster) -> None:
        super().__init__(plan, roster)
        self.table: dict = {}
        self.counts = DeskTable(self.table).load()[1]
        self.writes: list[int] = []

    def _handle(self, item, now):
        decision = desk.handle(self.plan, self.roster, self.books, item, now)
        written = RecordingTable(self.table)
        self.counts = DeskTable(written).save(self.books, decision.books, self.counts)
        self.writes.append(len(written.keys_written))
        loaded, counts = DeskTable(json.loads(json.dumps(self.table))).load()
        assert loaded == decision.books, "the table holds the books the desk decided on"
        assert counts == self.counts
        self.books = loaded
        self.log += decision.events + decision.notifications
        self.states += decision.states
        return decision


class RecordingTable(dict):
    def __init__(self, table: dict) -> None:
        super().__init__()
        self.table, self.keys_written = table, []

    def get(self, key, default=None):
        return self.table.get(key, default)

    def items(self):
        return self.table.items()

    def __setitem__(self, key, value) -> None:
        self.keys_written.append(key)
        self.table[key] = value


def test_the_scenario_gives_the_same_outputs_through_the_table() -> None:
    agent = TableAgent(PLAN, ROSTER)
    assert scenario(agent) == scenario(Agent(PLAN, ROSTER))
    # an entry per incident, paging record and mailbox it touched (a mailbox per person told), not the books
    assert max(agent.writes) <= 16, "an input rewrites what it changed, not the books"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=30))
def test_any_sequence_gives_the_same_outputs_through_the_table(steps) -> None:
    assert play(TableAgent(PLAN, ROSTER), steps) == play(Agent(PLAN, ROSTER), steps)


def test_memories_keep_their_window_in_chunks_and_old_chunks_are_deleted() -> None:
    from contingency.paging_state import RECENT_INPUTS, PagingBook

    table: dict = {}
    books = Books()
    counts = DeskTable(table).load()[1]
    for n in range(RECENT_INPUTS + 3 * CHUNK + 5):  # past the window: the oldest chunks leave
        after = Books(books.incidents, PagingBook(applied=books.paging.applied.adding(f"input-{n}", RECENT_INPUTS)))
        written = RecordingTable(table)
        counts = DeskTable(written).save(books, after, counts)
        gone = {f"memory/paging-inputs/{k}" for k in range(max(0, n + 1 - RECENT_INPUTS) // CHUNK)}
        written_parts = {key for key in written.keys_written if not key.startswith("journal")}
        assert written_parts <= {f"memory/paging-inputs/{n // CHUNK}", "meta"} | gone, written.keys_written
        assert all(table[key] is None for key in written.keys_written if key in gone), "left the window: deleted"
        books = after
    loaded, _ = DeskTable(table).load()
    assert loaded.paging.applied == books.paging.applied and len(books.paging.applied) == RECENT_INPUTS
    live = [k for k, v in table.items() if k.startswith("memory/paging-inputs/") and v is not None]
    assert len(live) <= RECENT_INPUTS // CHUNK + 1, len(live)


def test_the_single_entry_layout_of_earlier_workers_is_read_and_migrated() -> None:
    agent = Agent(PLAN, ROSTER)
    agent.event(opened(0, "yellow"), T0)
    agent.clock(T0 + minutes(1))
    table = {"book": json.loads(json.dumps(agent.books.to_json()))}
    books, counts = DeskTable(table).load()
    assert books == agent.books, "read as it was written"
    agent.clock(T0 + minutes(2))
    DeskTable(table).save(books, agent.books, counts)
    assert table["book"] is None and any(k.startswith("incident/") for k in table)
    assert DeskTable({k: v for k, v in table.items() if v is not None}).load()[0] == agent.books


def test_no_entry_grows_with_the_number_of_open_incidents() -> None:
    agent, table = Agent(PLAN, ROSTER), {}
    counts = DeskTable(table).load()[1]
    for n in range(300):  # many incidents open at once (distinct sources)
        before = agent.books
        event = opened(0, "yellow").model_copy(update={"incident_id": uuid.uuid4(), "event_id": uuid.uuid4(),
                                                      "source_id": f"source_{n}", "code": f"Z{n:03d}"})
        agent.event(event, T0 + minutes(1))
        counts = DeskTable(table).save(before, agent.books, counts)
    sizes = {k: len(json.dumps(v)) for k, v in table.items() if v is not None}
    assert len(agent.books.incidents.open) == 300
    parts = {k: n for k, n in sizes.items() if k.startswith(("incident/", "paging/", "meta"))}
    assert max(parts.values()) < 10_000, max(parts.items(), key=lambda kv: kv[1])
    assert max(sizes.values()) < 100_000, max(sizes.items(), key=lambda kv: kv[1])  # mailboxes and journal too
    assert len(json.dumps(Books.to_json(agent.books))) > 100_000, "as one entry they would not fit"


class OrderedTable(dict):
    """A table that records its writes in order (a changelog)."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.log: list[tuple[str, object]] = []

    def __setitem__(self, key, value) -> None:
        self.log.append((key, value))
        super().__setitem__(key, value)


def books_after_each(steps) -> list[Books]:
    """The books after each prefix of the steps, as the desk decides them."""
    books = []
    for k in range(len(steps) + 1):
        agent = Agent(PLAN, ROSTER)
        play(agent, steps[:k])
        books.append(agent.books)
    return books


def saved_up_to(books: list[Books], n: int) -> tuple[OrderedTable, dict]:
    """A table that the first n changes were saved to, and the memories' counts after them."""
    table = OrderedTable()
    counts = DeskTable(table).load()[1]
    for k in range(n):
        counts = DeskTable(table).save(books[k], books[k + 1], counts)
    return table, counts


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=20), st.data())
def test_a_worker_dying_anywhere_in_a_save_comes_back_to_the_books_before_or_after_it(steps, data) -> None:
    """A recovered table holds a prefix of the changelog: for every prefix of a save's writes the books read back
    are the books before the save or after it, never a mix."""
    books = books_after_each(steps)
    cut_at = data.draw(st.integers(0, len(steps) - 1))
    table, counts = saved_up_to(books, cut_at)
    before, after = books[cut_at], books[cut_at + 1]
    start = dict(table)
    table.log.clear()
    DeskTable(table).save(before, after, counts)
    for cut in range(len(table.log) + 1):
        recovered = dict(start)
        recovered.update(table.log[:cut])
        read, _ = DeskTable(recovered).load()
        assert read == before or read == after, f"a mix after {cut} of {len(table.log)} writes"
    assert DeskTable(dict(table)).load()[0] == after


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=2, max_size=20), st.data())
def test_a_worker_dying_in_a_save_and_saving_on_after_its_recovery_keeps_every_write(steps, data) -> None:
    """The recovered worker goes on from the books the journal gave it, and a later recovery must find them again:
    the writes the journal redid in memory are written to the table with the next save (before, a save after a
    recovery wrote only its own changes and a new journal: what the redone journal held and the table lacked was
    lost for good, and a chaos run lost an incident event, issue 14)."""
    books = books_after_each(steps)
    cut_at = data.draw(st.integers(0, len(steps) - 2))
    table, counts = saved_up_to(books, cut_at)
    start = dict(table)
    table.log.clear()
    DeskTable(table).save(books[cut_at], books[cut_at + 1], counts)
    cut = data.draw(st.integers(0, len(table.log)))
    recovered = OrderedTable(start)
    recovered.update(table.log[:cut])
    store = DeskTable(recovered)
    read, counts = store.load()
    at = cut_at if read == books[cut_at] else cut_at + 1
    assert read == books[at]
    for k in range(at, len(steps)):
        counts = store.save(books[k], books[k + 1], counts)
    assert DeskTable(dict(recovered)).load()[0] == books[-1]


def test_the_reports_a_resolved_incident_owes_are_kept_in_the_table_until_all_are_filed() -> None:
    from contingency import load_plan, roster_from_text
    from contingency_helpers import ARXAN
    from test_report_clock import ZH_ROSTER

    plan = load_plan(ARXAN)  # reporting.responsible: section_chief
    agent = TableAgent(plan, roster_from_text(ZH_ROSTER, plan))  # every step: loaded == decided
    event = opened()
    agent.event(event, T0)
    agent.command("report", "chief", "K7Q", T0 + minutes(30))
    agent.command("resolve", "duty_a", "K7Q", T0 + minutes(90))
    key = f"owed/{event.incident_id}"
    assert key in agent.table and agent.table[key]["state"]["stage"] == "resolved"
    agent.command("report", "chief", "K7Q", T0 + minutes(120), report="follow_up")
    agent.command("report", "chief", "K7Q", T0 + minutes(600), report="final")
    assert agent.table[key]["report"]["final"]["by"] == "chief"
    agent.clock(T0 + minutes(601))
    assert agent.table[key] is None, "all filed: deleted (the changelog compacts it away)"
