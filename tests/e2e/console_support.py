"""What the console's end-to-end tests share (issue 16): a worker with the Twilio sandbox, accounts of each role,
`ers web` in a process of its own, logging in over HTTP, and a headless Chromium. Import the fixtures a module needs
(pytest finds fixtures in the test module's namespace); each module gets its own worker and console."""
from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from deploy.local.twilio_api import LocalTwilioApi, fake_account_sid, fake_auth_token
from handlers.console_users import add_user
from handlers.database import make_engine, migrate
from tests.e2e.test_sms_alerting import on_duty_person
from tests.integration.harness import REPO, WorkerProcess

PASSWORD = "correct horse battery"
PHONE = re.compile(r"(?<![\d*])\+?(?:86)?1[3-9]\d{9}(?!\d)")


@pytest.fixture(scope="module")
def sms_api() -> Iterator[LocalTwilioApi]:
    with LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid(), callback_delay=0.05) as api:
        yield api


@pytest.fixture(scope="module")
def worker(broker: str, sms_api: LocalTwilioApi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    process = WorkerProcess(broker, tmp_path_factory.mktemp("console-worker"), sms_api).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def accounts(worker: WorkerProcess) -> dict[str, str]:
    """An account of each role that acts: the duty officer on duty today (linked to their roster person), a viewer, a
    section chief (linked too), a materials officer."""
    url = worker.env["ERS_DATABASE_URL"]
    migrate(url)
    engine = make_engine(url)
    now = dt.datetime.now(dt.timezone.utc)
    officer = on_duty_person("duty_officer")
    add_user(engine, "officer", officer.name, "duty_officer", PASSWORD, now, person_id=officer.id)
    add_user(engine, "viewer", "只读用户", "viewer", PASSWORD, now)
    add_user(engine, "chief", "科长", "section_chief", PASSWORD, now, person_id=on_duty_person("section_chief").id)
    add_user(engine, "keeper", "物资管理员", "materials_officer", PASSWORD, now)
    engine.dispose()
    return {"officer": officer.phone}


@pytest.fixture(scope="module")
def web(worker: WorkerProcess, accounts: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("web") / "web.log"
    env = {**worker.env, "ERS_CONSOLE_PORT": "0", "ERS_CONSOLE_SECRET": uuid.uuid4().hex * 2}
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "streams.cli", "web"], env=env, cwd=REPO, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        deadline, url = time.monotonic() + 60, None
        while time.monotonic() < deadline and url is None:
            assert process.poll() is None, log.read_text()
            found = re.search(r"console at (http://\S+/)", log.read_text())
            url = found.group(1) if found else None
            time.sleep(0.2)
        assert url, log.read_text()
        while requests.get(url + "health", timeout=5).status_code != 200:  # the read model is loaded
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield url.rstrip("/")
    finally:
        process.terminate()
        process.wait(timeout=10)


def login(web: str, username: str, password: str = PASSWORD) -> tuple[requests.Session, requests.Response]:
    session = requests.Session()
    form = session.get(web + "/login", timeout=10)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    answer = session.post(web + "/login", data={"csrf": csrf, "username": username, "password": password},
                          allow_redirects=False, timeout=10)
    return session, answer


def sse(session: requests.Session, url: str) -> Iterator[tuple[str, str]]:
    """(event, data) pairs of a server-sent event stream, as they arrive."""
    with session.get(url, stream=True, timeout=(5, 30)) as answer:
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/event-stream")
        buffer = b""
        for chunk in answer.iter_content(chunk_size=None):
            buffer += chunk
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                fields = dict(line.split(": ", 1) for line in block.decode("utf-8").splitlines()
                              if ": " in line and not line.startswith(":"))
                if "data" in fields:
                    yield fields.get("event", "message"), fields["data"]


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ARTEFACTS = REPO / "var" / "test-artefacts"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), (
        "the console's browser tests need Debian's chromium and chromium-driver (apt-get install chromium "
        "chromium-driver; .ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # What a closed network needs: without these Chromium keeps calling Google's hosts at every start.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1600,900", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
