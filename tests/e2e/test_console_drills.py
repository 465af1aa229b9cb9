"""The console's drills page (issue 16, item 6) over HTTP and in Chromium, against a real worker, broker and
database: `ers web` in a process of its own starts `ers drill run` in a child process. A section chief starts the
shortest shipped scenario at the fastest speed and watches it on its drill board (marked 演练), which follows the
drill's own incident-states topic; the run finishes and its report is listed and served. The refusals: a viewer's
POST, a POST without CSRF token, a second drill while one runs, paths out of the drill output directory. The drill
pages nobody on the roster: the production SMS sandbox receives nothing, the drill's SMS go to the drill phones."""
from __future__ import annotations

import http.client
import json
import re
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

from contingency import load_plan
from contingency.roster import load_roster
from deploy.local.twilio_api import LocalTwilioApi
from handlers.database import make_engine
from streams.console_drills import REPO, REPORT_POLICY, list_scenarios
from tests.e2e.console_support import (  # noqa: F401 (fixtures)
    ARTEFACTS, PASSWORD, PHONE, accounts, browser, csrf_of, login, sms_api, sse, web, worker)
from tests.integration.harness import DEFAULT_PLAN, DEFAULT_ROSTER, TopicReader, WorkerProcess

pytestmark = pytest.mark.integration
ROSTER = load_roster(DEFAULT_ROSTER, load_plan(DEFAULT_PLAN))
DRILL_PHONES = {d.phone for d in ROSTER.drill_phones.values()}
PEOPLE_PHONES = {p.phone for p in ROSTER.people.values()}
SHORTEST = min(list_scenarios(REPO / "drills"), key=lambda s: (s.span, s.events)).name
RUN_TIMEOUT = 240  # seconds for one drill at `max` (about 15 s on a quiet machine)


def start(session: requests.Session, web: str, scenario: str = SHORTEST, speed: str = "max",
          csrf: str | bool | None = None) -> requests.Response:
    form = {"scenario": scenario, "speed": speed}
    if csrf is not False:
        form["csrf"] = csrf or csrf_of(session.get(web + "/drills", timeout=10).text)
    return session.post(web + "/drills/start", data=form, allow_redirects=False, timeout=30)


def raw_get(web: str, session: requests.Session, path: str) -> tuple[int, str]:
    """A GET with the path sent exactly as given (requests would remove the dot segments)."""
    url = urllib.parse.urlsplit(web)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
        connection.request("GET", path, headers={"Cookie": cookie})
        answer = connection.getresponse()
        return answer.status, answer.read().decode("utf-8", errors="replace")
    finally:
        connection.close()


def test_drills_need_a_session(web: str) -> None:
    for path in ("/drills", "/drills/runs/x", "/drills/report/x"):
        answer = requests.get(web + path, allow_redirects=False, timeout=5)
        assert answer.status_code == 302 and answer.headers["Location"] == "/login", path
    assert requests.post(web + "/drills/start", data={"scenario": SHORTEST, "speed": "max"}, allow_redirects=False,
                         timeout=5).status_code == 401


def test_a_viewer_sees_no_start_button_and_is_refused(web: str) -> None:
    viewer, _ = login(web, "viewer")
    page = viewer.get(web + "/drills", timeout=10)
    assert page.status_code == 200 and SHORTEST in page.text and '<a href="/drills">演练</a>' in page.text
    assert 'action="/drills/start"' not in page.text and "开始演练" not in page.text
    refused = start(viewer, web, csrf=csrf_of(page.text))
    assert refused.status_code == 403
    officer, _ = login(web, "officer")
    assert start(officer, web).status_code == 403, "a duty officer may not start drills either"


def test_a_chief_starts_a_drill_and_watches_it_on_its_drill_board(
        broker: str, worker: WorkerProcess, web: str, sms_api: LocalTwilioApi) -> None:
    chief, answer = login(web, "chief")
    assert answer.status_code == 302
    page = chief.get(web + "/drills", timeout=10).text
    for name in ("tailings-seepage.jsonl", "drinking-water-ammonia.jsonl", "diesel-tanker.jsonl",
                 "winter-cadmium.jsonl"):
        assert f'data-scenario="{name}"' in page
    assert 'action="/drills/start"' in page and '<option value="max">' in page
    assert start(chief, web, csrf=False).status_code == 403, "no CSRF token"
    assert start(chief, web, scenario="../drills/" + SHORTEST).status_code == 400, "not a shipped scenario"
    assert start(chief, web, speed="100000").status_code == 400, "not a listed speed"
    sms_before = len(sms_api.messages)

    began = time.monotonic()
    answer = start(chief, web)
    assert answer.status_code == 303, answer.text[-500:]
    where = answer.headers["Location"]
    run = re.fullmatch(r"/drills/runs/([A-Za-z0-9_-]+)", where).group(1)
    busy = start(chief, web, scenario="tailings-seepage.jsonl")
    assert busy.status_code == 409 and run in busy.text, "one drill at a time per console"

    page = chief.get(web + where, timeout=10).text
    assert 'class="drill-mode"' in page and 'id="drill-banner"' in page and "演练模式" in page
    codes: set[str] = set()
    status: dict = {}
    for name, data in sse(chief, web + where + "/events"):
        if name == "board":
            rows = json.loads(data)
            assert all(r["drill"] for r in rows), "only the drill's incidents"
            codes |= {r["code"] for r in rows}
        else:
            status = json.loads(data)
        if codes and status.get("status") in ("finished", "failed"):
            break
        assert time.monotonic() - began < RUN_TIMEOUT, (codes, status)
    print(f"drill {run} ({SHORTEST}, max): first drill incident on its board and run ended within "
          f"{time.monotonic() - began:.1f} s")
    assert status["status"] == "finished" and status["exit_code"] == 0, status.get("tail")
    assert status["report_url"] == f"/drills/report/{run}"
    assert not PHONE.search(status["tail"]), "the output tail masks phone numbers"

    page = chief.get(web + where, timeout=10).text
    assert all(f'data-code="{code}"' in page for code in codes) and "已完成" in page
    assert not PHONE.search(page)
    listed = chief.get(web + "/drills", timeout=10).text
    assert f'href="/drills/report/{run}"' in listed and f'data-run="{run}"' in listed
    report = chief.get(web + f"/drills/report/{run}", timeout=10)
    assert report.status_code == 200 and "应急演练报告" in report.text and run in report.text
    assert report.headers["Content-Security-Policy"] == REPORT_POLICY
    assert chief.get(web + f"/drills/report/{run}/report.json", timeout=10).json()["drill_id"] == run

    # the drill ran on its own topics: nothing on the live board, nobody on the roster paged
    assert '<span class="drill">' not in chief.get(web + "/", timeout=10).text, "a drill row on the live board"
    reader = TopicReader(broker, f"drill.{run}.notifications")
    try:
        notes = reader.settle(1.5)
    finally:
        reader.close()
    assert notes and all(n["to"] in DRILL_PHONES and n["to"] not in PEOPLE_PHONES for n in notes)
    assert all(n["body"].startswith("【演练】") and n["drill_id"] == run for n in notes)
    assert not [m for m in sms_api.messages[sms_before:] if m.to in PEOPLE_PHONES or m.body.startswith("【演练】")], \
        "the production SMS sandbox received the drill"
    live = TopicReader(broker, worker.topic("incidents"))
    try:
        assert not [r for r in live.settle(1.0) if r.get("drill_id")], "a drill incident on the live topics"
    finally:
        live.close()


def test_report_paths_out_of_the_drill_output_directory_are_refused(web: str, worker: WorkerProcess) -> None:
    chief, _ = login(web, "chief")
    secret = Path(worker.env["ERS_DATA_DIR"]) / "secret.txt"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("root:x:0:0 not for the browser")
    for path in ("/drills/report/../../etc/passwd", "/drills/report/..%2F..%2Fetc%2Fpasswd",
                 "/drills/report/%2e%2e/%2e%2e/etc/passwd", "/drills/report/%2e%2e/secret.txt",
                 "/drills/report/..%2Fsecret.txt", "/drills/report//etc/passwd", "/drills/report/x/../../secret.txt",
                 "/drills/report/%2fetc%2fpasswd", "/drills/runs/..%2F..%2Fetc", "/drills/report/x/ers.db"):
        status, body = raw_get(web, chief, path)
        assert status in (400, 404), (path, status)
        assert "root:" not in body, path


def test_every_drill_start_and_refusal_is_in_the_audit_log(worker: WorkerProcess, web: str) -> None:
    from handlers.console_users import read_audit

    engine = make_engine(worker.env["ERS_DATABASE_URL"])
    entries = read_audit(engine, 500)
    engine.dispose()
    seen = {(e.actor, e.action, e.outcome) for e in entries}
    assert ("viewer", "drill.start", "refused") in seen and ("officer", "drill.start", "refused") in seen
    assert ("chief", "drill.start", "ok") in seen and ("chief", "drill.start", "refused") in seen
    started = [e for e in entries if e.action == "drill.start" and e.outcome == "ok"]
    assert all(f"{SHORTEST} speed max" == e.detail and e.source for e in started)


# --- in a real browser -----------------------------------------------------------------------------------------

def test_in_chromium_a_chief_starts_a_drill_and_sees_the_drill_banner(web: str, browser) -> None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, 20, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException))
    driver.get(web + "/login")
    driver.find_element(By.NAME, "username").send_keys("chief")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    wait.until(lambda d: d.find_elements(By.TAG_NAME, "nav"))
    driver.find_element(By.LINK_TEXT, "演练").click()
    row = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"tr[data-scenario='{SHORTEST}']"))
    Select(row.find_element(By.NAME, "speed")).select_by_value("max")
    row.find_element(By.CSS_SELECTOR, "button.drill-start").click()
    banner = wait.until(lambda d: d.find_element(By.ID, "drill-banner"))
    assert "演练" in banner.text and banner.is_displayed()
    assert driver.find_element(By.ID, "drill-mode").get_attribute("class") == "drill-mode"
    assert banner.value_of_css_property("background-color") == "rgba(137, 87, 229, 1)", "its stylesheet applies"
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTEFACTS / "console-drill.png"))
    # the status follows the run by server-sent events, without a reload
    driver.execute_script("window.ersNotReloaded = true")
    WebDriverWait(driver, RUN_TIMEOUT, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: d.find_element(By.ID, "drill-status").get_attribute("data-status") in ("finished", "failed"))
    assert driver.find_element(By.ID, "drill-status").get_attribute("data-status") == "finished"
    assert driver.execute_script("return window.ersNotReloaded === true")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#drill-board tbody tr"))
    assert not driver.find_element(By.ID, "drill-report").get_attribute("hidden")
    driver.save_screenshot(str(ARTEFACTS / "console-drill-finished.png"))
    assert not PHONE.search(driver.page_source)
