"""The duty-room console (issue 16) over HTTP against a real worker, broker and database: `ers web` in a process of
its own. Log in, see an incident arrive on the board by server-sent events, acknowledge it with the same command an
SMS reply gives (the confirmation SMS goes out through the Twilio sandbox), and the refusals: no session, no CSRF
token, a viewer's action, five wrong passwords; no page shows a phone number; every action is in the audit log."""
from __future__ import annotations

import json
import re
import time

import pytest
import requests

from deploy.local.twilio_api import LocalTwilioApi
from handlers.database import make_engine
from tests.e2e.console_support import (  # noqa: F401 (fixtures)
    ARTEFACTS, PASSWORD, PHONE, accounts, browser, csrf_of, login, sms_api, sse, web, worker)
from tests.e2e.test_sms_alerting import on_duty_person, reading, wait_for_sms
from tests.integration.harness import TopicReader, WorkerProcess, send

pytestmark = pytest.mark.integration


def test_only_health_and_login_answer_without_a_session(web: str) -> None:
    assert requests.get(web + "/health", timeout=5).json()["status"] == "ok"
    for path in ("/", "/incidents/ABC", "/audit"):
        answer = requests.get(web + path, allow_redirects=False, timeout=5)
        assert answer.status_code == 302 and answer.headers["Location"] == "/login", path
    assert requests.post(web + "/incidents/ABC/ack", allow_redirects=False, timeout=5).status_code == 401
    assert requests.get(web + "/events", timeout=5).status_code == 401
    page = requests.get(web + "/login", timeout=5)
    assert "登录" in page.text and page.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_the_session_cookie_is_http_only_and_same_site_strict(web: str) -> None:
    session, answer = login(web, "officer")
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    cookie = answer.headers["Set-Cookie"]
    assert "ers_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie, "plain HTTP here (ERS_CONSOLE_HTTPS marks it Secure behind a TLS proxy)"
    assert "预警看板" in session.get(web + "/", timeout=5).text


def test_five_wrong_passwords_lock_the_account_out_even_for_the_right_one(web: str) -> None:
    for _ in range(5):
        assert login(web, "chief", "not the password")[1].status_code == 401
    session, answer = login(web, "chief")
    assert answer.status_code == 429 and "尝试次数过多" in answer.text


def test_an_incident_arrives_by_server_sent_events_and_is_acknowledged_from_the_console(
        broker: str, worker: WorkerProcess, web: str, accounts: dict[str, str], sms_api: LocalTwilioApi) -> None:
    officer, answer = login(web, "officer")
    assert answer.status_code == 302
    stream = sse(officer, web + "/events")
    first = next(stream)
    assert first[0] == "board" and isinstance(json.loads(first[1]), list)  # the board as it is
    incidents = TopicReader(broker, worker.topic("incidents"))
    sent = time.monotonic()
    send(broker, worker.topic("readings"), reading("yirshi_wwtp_online", "cod", 80.0), key="yirshi_wwtp_online")
    code = None
    for name, data in stream:
        rows = [r for r in json.loads(data) if r["place"] == "伊尔施污水处理厂排污口"] if name == "board" else []
        if rows:
            code = rows[0]["code"]
            assert rows[0]["level"] == "blue" and "化学需氧量 80 mg/L" in rows[0]["what"]
            break
        assert time.monotonic() - sent < 30, "not on the board within 30 s"
    print(f"reading sent -> on the board by server-sent events: {time.monotonic() - sent:.2f} s")
    stream.close()
    assert code is not None

    viewer, _ = login(web, "viewer")
    page = viewer.get(web + f"/incidents/{code}", timeout=5).text
    assert code in page and '<button class="action' not in page, "a viewer sees no action buttons"
    refused = viewer.post(web + f"/incidents/{code}/ack", data={"csrf": csrf_of(page)}, allow_redirects=False,
                          timeout=5)
    assert refused.status_code == 403
    forged = officer.post(web + f"/incidents/{code}/ack", data={"note": "forged"}, allow_redirects=False, timeout=5)
    assert forged.status_code == 403, "no CSRF token"

    page = officer.get(web + f"/incidents/{code}", timeout=5).text
    assert '<button class="action ack"' in page
    form = {"csrf": csrf_of(page), "note": "已到现场", "once": re.search(r'name="once" value="([^"]+)"', page).group(1)}
    done = officer.post(web + f"/incidents/{code}/ack", data=form, allow_redirects=False, timeout=10)
    assert done.status_code == 303
    again = officer.post(web + f"/incidents/{code}/ack", data=form, allow_redirects=False, timeout=10)
    assert again.status_code == 303, "a double click"
    commands = TopicReader(broker, worker.topic("commands")).wait_for(lambda rs: len(rs) >= 2, timeout=10)
    assert len({c["event_id"] for c in commands}) == 1, "the same form twice is the same command"
    acked = incidents.wait_for(lambda rs: any(r["type"] == "incident.acknowledged" for r in rs), timeout=15)
    event = next(r for r in acked if r["type"] == "incident.acknowledged")
    assert event["actor"] == on_duty_person("duty_officer").id
    wait_for_sms(sms_api, accounts["officer"], code, timeout=15)  # the confirmation, as for an SMS reply
    deadline, name = time.monotonic() + 15, on_duty_person("duty_officer").name
    while f"<b>{name}确认</b>" not in (page := officer.get(web + f"/incidents/{code}", timeout=5).text):
        assert time.monotonic() < deadline, "the console shows who took it, in its timeline too"
        time.sleep(0.3)
    timeline = page[page.index('<ol id="timeline">'):]
    assert "开始预警: " in timeline and "化学需氧量 80 mg/L" in timeline, "the detection with its evidence"
    assert f"短信 发给 {name}" in timeline, "the page, with its delivery state"

    for path in ("/", f"/incidents/{code}"):
        assert not PHONE.search(officer.get(web + path, timeout=5).text), f"a phone number on {path}"
    assert viewer.get(web + "/audit", allow_redirects=False, timeout=5).status_code == 403


def test_every_console_action_and_refusal_is_in_the_audit_log(worker: WorkerProcess, web: str) -> None:
    from handlers.console_users import read_audit

    engine = make_engine(worker.env["ERS_DATABASE_URL"])
    entries = read_audit(engine, 500)
    engine.dispose()
    seen = {(e.actor, e.action, e.outcome) for e in entries}
    assert ("officer", "incident.ack", "ok") in seen
    assert ("viewer", "incident.ack", "refused") in seen
    assert ("officer", "incident.ack", "refused") in seen, "the forged POST without a CSRF token"
    assert ("chief", "login", "refused") in seen and ("officer", "login", "ok") in seen
    assert all(e.source for e in entries if e.action.startswith(("login", "incident."))), "from where"


# --- in a real browser: Debian's chromium, driven by Selenium through chromium-driver ----------------------------

def test_in_chromium_log_in_see_the_incident_arrive_without_a_reload_and_acknowledge_it(
        broker: str, worker: WorkerProcess, web: str, accounts: dict[str, str], sms_api: LocalTwilioApi,
        browser) -> None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    # The board's script replaces its rows at every server-sent event, so an element found a moment ago may be
    # gone: every look at the board finds it again, and a stale one is looked for again.
    wait = WebDriverWait(driver, 20, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException))
    driver.get(web + "/")
    assert driver.current_url == web + "/login", "no session: the login page"
    driver.find_element(By.NAME, "username").send_keys("officer")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    try:
        wait.until(lambda d: d.find_elements(By.ID, "board") or d.find_elements(By.CLASS_NAME, "error"))
    finally:
        assert driver.find_elements(By.ID, "board"), (driver.current_url, driver.page_source[-1500:])
    wait.until(lambda d: d.find_element(By.ID, "live").get_attribute("data-state") == "实时")
    # Sound needs a click on the page first (the browser's autoplay policy): the login's click may have given it
    # already; if not, the board's button says so and a click on it turns sound on.
    sound = driver.find_element(By.ID, "sound")
    assert sound.get_attribute("textContent") == "启用提示音"
    if sound.is_displayed():
        sound.click()
    wait.until(lambda d: not d.find_element(By.ID, "sound").is_displayed())
    driver.execute_script("window.ersNotReloaded = true")

    sent = time.monotonic()
    send(broker, worker.topic("readings"), reading("tailings_example_online", "seepage_flow", 7.5, "L/s"),
         key="tailings_example_online")
    code, classes = wait.until(lambda d: d.execute_script(
        "const tr = Array.from(document.querySelectorAll('#board tbody tr'))"
        "  .find(tr => tr.textContent.includes('尾矿库'));"
        "return tr ? [tr.dataset.code, tr.className] : null;"))
    print(f"reading sent -> row on the board in Chromium: {time.monotonic() - sent:.2f} s")
    assert driver.execute_script("return window.ersNotReloaded === true"), "updated without a reload"
    assert "fresh" in classes, "a new row is marked"
    fonts = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "document.fonts.load('16px \"Noto Sans SC\"', '预警看板').then(f => done(f.length))")
    assert fonts >= 1, "the CJK font is served by the console itself (make setup vendors it from npm)"
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTEFACTS / "console-board.png"))

    forged = driver.execute_script(
        "return fetch(arguments[0], {method: 'POST', body: new URLSearchParams({note: 'forged'})})"
        ".then(r => r.status)", f"/incidents/{code}/resolve")
    assert forged == 403, "a POST without the CSRF token is refused"

    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"tr[data-code='{code}'] a").click() or True)
    wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, "button.action.ack"))).click()
    officer = on_duty_person("duty_officer")
    deadline = time.monotonic() + 20
    while officer.name not in driver.find_element(By.TAG_NAME, "dl").text:
        assert time.monotonic() < deadline, "the incident page shows who acknowledged it"
        time.sleep(0.5)
        driver.refresh()
    wait_for_sms(sms_api, accounts["officer"], code, timeout=15)
    driver.get(web + "/")
    wait.until(lambda d: officer.name in d.find_element(By.CSS_SELECTOR, f"tr[data-code='{code}'] td.by").text)
    colour = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"tr[data-code='{code}'] .level")
                        .value_of_css_property("background-color"))
    assert colour == "rgba(212, 167, 44, 1)", \
        "the level's colour, server-rendered under the pages' content security policy"
    assert not PHONE.search(driver.page_source)


def test_on_a_phone_every_page_fits_the_screen_width(broker: str, worker: WorkerProcess, web: str, browser) -> None:
    """A duty officer away from the wall screen: 390 px wide (a common phone), no page scrolls sideways."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    send(broker, worker.topic("readings"), reading("tailings_example_online", "seepage_flow", 7.5, "L/s"),
         key="tailings_example_online")  # an incident for its page (or the one of the test before)
    driver = browser
    driver.set_window_size(390, 844)
    try:
        driver.delete_all_cookies()
        driver.get(web + "/login")
        driver.find_element(By.NAME, "username").send_keys("officer")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form.login button").click()
        WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.querySelector('#board tbody tr')"))
        code = None
        for path in ("/", "/incidents", "/map", "/stock", "/coverage", "/drills"):
            if path == "/incidents":
                code = driver.execute_script("const tr = document.querySelector('#board tbody tr');"
                                             "return tr ? tr.dataset.code : null")
                if code is None:
                    continue
                path = f"/incidents/{code}"
            driver.get(web + path)
            inner, scroll = driver.execute_script(
                "return [window.innerWidth, document.documentElement.scrollWidth]")
            print(f"{path}: {scroll} px of content on a {inner} px screen")
            ARTEFACTS.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(ARTEFACTS / f"phone{path.replace('/', '-').rstrip('-') or '-board'}.png"))
            assert scroll <= inner + 1, f"{path}: {scroll} px wide on a {inner} px screen"
        assert code is not None, "an incident page was among them"
    finally:
        driver.set_window_size(1600, 900)
