"""Which waiting pages the retry loop drops: only those whose incidents were all resolved after they were made."""
from __future__ import annotations

import datetime as dt
import uuid

from contingency.incident_states import Board
from contingency.paging_state import Closed

T0 = dt.datetime(2026, 7, 1, 8, 0, tzinfo=dt.timezone.utc)
A, B = uuid.uuid4(), uuid.uuid4()


def board(*closed: tuple[uuid.UUID, str, dt.datetime]) -> Board:
    return Board({}, tuple(Closed(incident_id=i, code=c, closed_at=at, actor="p1") for i, c, at in closed))


def test_a_page_about_a_resolved_incident_is_superseded_with_the_code() -> None:
    reason = board((A, "KPF", T0 + dt.timedelta(minutes=3))).supersedes([A], T0)
    assert reason is not None and "KPF" in reason and "resolved" in reason


def test_a_bundle_waits_on_while_any_of_its_incidents_is_open_or_unknown() -> None:
    assert board((A, "KPF", T0 + dt.timedelta(minutes=3))).supersedes([A, B], T0) is None
    assert board().supersedes([A], T0) is None


def test_the_resolved_notice_itself_and_messages_about_nothing_are_never_superseded() -> None:
    closing = T0 + dt.timedelta(minutes=3)
    assert board((A, "KPF", closing)).supersedes([A], closing) is None
    assert board((A, "KPF", closing)).supersedes([], T0) is None


def test_a_bundle_of_resolved_incidents_names_them_all() -> None:
    later = T0 + dt.timedelta(minutes=5)
    reason = board((A, "KPF", later), (B, "YJA", later)).supersedes([A, B], T0)
    assert reason is not None and "KPF" in reason and "YJA" in reason
