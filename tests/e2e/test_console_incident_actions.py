"""An incident's page in the console (issue 16 item 3), against a real worker, broker and database: a note, the
materials proposal confirmed from the page (the same dispatches `ers inventory confirm` writes, recorded once), the
commands people sent shown in the timeline, the last page's delivery on the board, who may do what, and switching to
English (a cookie; never an open redirect)."""
from __future__ import annotations

import datetime as dt
import json
import re
import time

import pytest
import requests

from handlers.console_users import read_audit
from handlers.database import make_engine
from tests.e2e.console_support import accounts, csrf_of, login, sms_api, sse, web, worker  # noqa: F401 (fixtures)
from tests.e2e.test_inventory import ers, stock_of
from tests.e2e.test_sms_alerting import on_duty_person
from tests.integration.harness import TopicReader, WorkerProcess, send

pytestmark = pytest.mark.integration


def open_orange_incident(broker: str, worker: WorkerProcess) -> str:
    """An orange incident at the tailings pond, with a proposal to send 20 t of quicklime from Yirshi."""
    received = ers(worker, "inventory", "receive", "--depot", "yirshi", "--item", "quicklime", "--quantity", "25")
    assert received.returncode == 0, received.stderr
    incidents = TopicReader(broker, worker.topic("incidents"))
    reading = {"station_id": "tailings_example_online", "observed_at": dt.datetime.now(dt.timezone.utc).isoformat(),
               "measurements": [{"parameter": "phreatic_depth", "value": 4.2, "unit": "m"}]}  # < 4.4 m: orange
    send(broker, worker.topic("readings"), reading, key="tailings_example_online")
    records = incidents.wait_for(lambda rs: any(r["type"] == "incident.opened" and r.get("materials")
                                                for r in rs), timeout=15)
    return next(r for r in records if r["type"] == "incident.opened" and r.get("materials"))["code"]


def page_when(session: requests.Session, url: str, predicate, timeout: float = 15) -> str:
    """The page once `predicate(text)` holds (the read models follow the topics a moment later)."""
    deadline = time.monotonic() + timeout
    while True:
        text = session.get(url, timeout=10).text
        if predicate(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.3)


def post(session: requests.Session, url: str, page: str, **fields: str) -> requests.Response:
    once = re.search(r'name="once" value="([^"]+)"', page)
    data = {"csrf": csrf_of(page), **({"once": once.group(1)} if once else {}), **fields}
    return session.post(url, data=data, allow_redirects=False, timeout=30)


def test_notes_materials_confirmation_and_the_timeline_from_the_incident_page(
        broker: str, worker: WorkerProcess, web: str, accounts: dict[str, str]) -> None:
    code = open_orange_incident(broker, worker)
    url = f"{web}/incidents/{code}"
    officer, _ = login(web, "officer")
    chief, _ = login(web, "chief")
    viewer, _ = login(web, "viewer")

    seen_by_viewer = page_when(viewer, url, lambda t: "物资调度建议" in t)
    assert "物资调度建议" in seen_by_viewer and "生石灰" in seen_by_viewer, "the proposal, by the plan's names"
    assert 'action="/incidents/%s/note"' % code not in seen_by_viewer, "a viewer adds no note"
    assert 'action="/incidents/%s/confirm"' % code not in seen_by_viewer, "nor confirms"
    officer_page = officer.get(url, timeout=10).text
    assert f'/incidents/{code}/note' in officer_page and f'/incidents/{code}/confirm' not in officer_page, \
        "a duty officer notes; the chief or a materials officer confirms"

    # a note: the same kind of command as the SMS path, an event of the incident, in its timeline
    empty = post(officer, f"{url}/note", officer_page, note="   ")
    assert empty.status_code == 400 and "请填写备注内容" in empty.text
    noted = post(officer, f"{url}/note", officer_page, note="已电话通知下游水厂关闭取水口")
    assert noted.status_code == 303 and noted.headers["Location"] == f"/incidents/{code}?done=note"
    assert post(officer, f"{url}/note", officer_page, note="已电话通知下游水厂关闭取水口").status_code == 303, \
        "the same form again"
    officer_name, chief_name = on_duty_person("duty_officer").name, on_duty_person("section_chief").name
    note_entry = f'<b>{officer_name}备注</b><div class="detail">已电话通知下游水厂关闭取水口</div>'
    with_note = page_when(officer, url, lambda t: note_entry in t)
    assert note_entry in with_note, "the note, in the timeline"
    assert f'<li class="command">' in with_note and f"<b>{officer_name}经值守台: 备注</b>" in with_note, \
        "the console's command too"
    notes = TopicReader(broker, worker.topic("incidents")).wait_for(
        lambda rs: any(r["type"] == "incident.noted" for r in rs), timeout=10)
    noted_events = [r for r in notes if r["type"] == "incident.noted"]
    assert len(noted_events) == 1 and noted_events[0]["note"] == "已电话通知下游水厂关闭取水口", \
        "a double submit is one note"

    # the materials proposal, confirmed by the chief: the ledger's dispatches, written once
    chief_page = chief.get(url, timeout=10).text
    assert f'/incidents/{code}/confirm' in chief_page
    confirmed = post(chief, f"{url}/confirm", chief_page)
    assert confirmed.status_code == 303, confirmed.text[-500:]
    assert stock_of(worker, "yirshi", "quicklime") == 5
    again = post(chief, f"{url}/confirm", chief_page)
    assert again.status_code == 303 and stock_of(worker, "yirshi", "quicklime") == 5, "confirming twice: once"
    after = chief.get(url, timeout=10).text
    assert "已确认调拨" in after and f'/incidents/{code}/confirm' not in after
    dispatched = re.search(rf'<li class="dispatched">.*?<b>{chief_name}确认调拨</b><div class="detail">生石灰 20 t ← '
                           r'([^<]+)</div>', after)
    assert dispatched and "yirshi" not in dispatched.group(1), "the dispatch in the timeline, by the plan's names"

    # acknowledged from the console: the command in the timeline, who took it on the board, the last page's delivery
    acked = post(officer, f"{url}/ack", officer.get(url, timeout=10).text)
    assert acked.status_code == 303
    acked_page = page_when(officer, url, lambda t: f"<b>{officer_name}确认</b>" in t)
    assert f"<b>{officer_name}经值守台: 确认</b>" in acked_page and f"<b>{officer_name}确认</b>" in acked_page
    row = next(r for r in json.loads(next(data for event, data in sse(officer, web + "/events"))) if r["code"] == code)
    assert re.fullmatch(r".+ \d\d:\d\d( \S+)?", row["delivery"]), row
    assert "经值守台" not in row["delivery"] and not re.search(r"1[3-9]\d{9}", row["delivery"]), \
        "the last page: who, when, its state; no phone number"

    engine = make_engine(worker.env["ERS_DATABASE_URL"])
    actions = {(e.actor, e.action, e.outcome) for e in read_audit(engine, 500)}
    engine.dispose()
    assert {("officer", "incident.note", "ok"), ("chief", "incident.confirm", "ok")} <= actions


def test_the_console_switches_to_english_and_back_without_an_open_redirect(web: str) -> None:
    session, _ = login(web, "viewer")
    switched = session.get(web + "/language/en?next=/audit", allow_redirects=False, timeout=10)
    assert switched.status_code == 303 and switched.headers["Location"] == "/audit"
    assert "Incident board" in session.get(web + "/", timeout=10).text
    assert "Log in" in requests.get(web + "/login", cookies={"ers_lang": "en"}, timeout=10).text
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        away = session.get(web + "/language/zh-CN", params={"next": target}, allow_redirects=False, timeout=10)
        assert away.status_code == 303 and away.headers["Location"] == "/", target
    assert "预警看板" in session.get(web + "/", timeout=10).text
    assert session.get(web + "/language/fr", allow_redirects=False, timeout=10).status_code == 404
