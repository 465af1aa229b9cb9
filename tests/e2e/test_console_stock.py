"""The console's materials pages (issue 16, item 5) over HTTP against a real worker, broker and database: stock and the
2-hour circle for every role; movements recorded by the materials officer only, through the worker's inventory topic
as `ers inventory receive|dispatch` records them, once per form even when it is posted twice; the ledger's refusals
shown with its reason; every attempt in the audit log; no phone number on any page; and the form in Chromium."""
from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
import requests

from handlers.console_users import read_audit
from handlers.database import make_engine
from handlers.inventory_store import InventoryStore
from tests.e2e.console_support import (  # noqa: F401 (fixtures)
    ARTEFACTS, PASSWORD, PHONE, accounts, browser, csrf_of, login, sms_api, web, worker)
from tests.integration.harness import WorkerProcess

pytestmark = pytest.mark.integration
ONCE = re.compile(r'id="movement" class="movement"><input type="hidden" name="csrf" value="[^"]+">'
                  r'<input type="hidden" name="once" value="([^"]+)">')


@pytest.fixture(scope="module")
def ledger(worker: WorkerProcess, accounts: dict[str, str]) -> Iterator[InventoryStore]:
    engine = make_engine(worker.env["ERS_DATABASE_URL"])
    store = InventoryStore(engine)
    store.set_minimum("bailang", "ppe", 5.0)  # nothing held: below its minimum
    yield store
    engine.dispose()


def audit_seen(worker: WorkerProcess) -> set[tuple[str, str, str]]:
    engine = make_engine(worker.env["ERS_DATABASE_URL"])
    try:
        return {(e.actor, e.action, e.outcome) for e in read_audit(engine, 1000)}
    finally:
        engine.dispose()


def keeper_form(session: requests.Session, web: str, **fields: str) -> dict[str, str]:
    page = session.get(web + "/stock", timeout=10).text
    return {"csrf": csrf_of(page), "once": ONCE.search(page).group(1), "kind": "receipt", "depot": "yirshi",
            "item": "activated_carbon", "quantity": "12.5", "lot": "", "expires": "", "to_depot": "", "reason": "",
            **fields}


def cells(page: str, depot: str, item: str) -> list[str]:
    row = re.search(rf'<tr data-depot="{depot}" data-item="{item}"[^>]*>(.*?)</tr>', page)
    assert row, f"no stock row for {depot}/{item}"
    return re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))


def test_a_viewer_sees_stock_and_coverage_but_no_form_and_may_not_record(
        worker: WorkerProcess, web: str, ledger: InventoryStore) -> None:
    viewer, answer = login(web, "viewer")
    assert answer.status_code == 302
    page = viewer.get(web + "/stock", timeout=10)
    assert page.status_code == 200 and '<a href="/stock">物资</a>' in page.text
    assert "应急物资库存" in page.text and 'id="movement"' not in page.text and "write-off" not in page.text
    assert 'class="below"' in page.text and "白狼镇环境应急物资储备点" in page.text, "the minimum held back"
    cover = viewer.get(web + "/coverage", timeout=30)
    assert cover.status_code == 200 and "个风险源两小时内物资到位" in cover.text
    assert 'data-verdict="shortfall"' in cover.text and "两小时应急圈" in cover.text

    before = len(ledger.movements())
    form = {"csrf": csrf_of(page.text), "once": "viewer-try", "kind": "receipt", "depot": "yirshi",
            "item": "activated_carbon", "quantity": "1"}
    refused = viewer.post(web + "/stock/movements", data=form, allow_redirects=False, timeout=10)
    assert refused.status_code == 403
    assert ("viewer", "inventory.receipt", "refused") in audit_seen(worker)
    assert len(ledger.movements()) == before


def test_a_post_without_the_csrf_token_is_refused(worker: WorkerProcess, web: str, ledger: InventoryStore) -> None:
    keeper, _ = login(web, "keeper")
    form = keeper_form(keeper, web)
    del form["csrf"]
    before = len(ledger.movements())
    assert keeper.post(web + "/stock/movements", data=form, allow_redirects=False, timeout=10).status_code == 403
    assert ("keeper", "inventory.receipt", "refused") in audit_seen(worker)
    assert len(ledger.movements()) == before


def test_the_keeper_records_a_receipt_once_even_when_the_form_is_posted_twice(
        worker: WorkerProcess, web: str, ledger: InventoryStore) -> None:
    keeper, _ = login(web, "keeper")
    page = keeper.get(web + "/stock", timeout=10).text
    assert 'id="movement"' in page, "the materials officer gets the form"
    held = ledger.stock().on_hand("yirshi", "activated_carbon")
    before = ledger.movements()
    form = keeper_form(keeper, web)
    sent = time.monotonic()
    first = keeper.post(web + "/stock/movements", data=form, allow_redirects=False, timeout=30)
    print(f"receipt posted -> recorded by the worker and redirected: {time.monotonic() - sent:.2f} s")
    assert first.status_code == 303 and first.headers["Location"].startswith("/stock?movement=")
    event_id = first.headers["Location"].split("movement=")[1].split("&")[0]
    deadline = time.monotonic() + 30
    while event_id not in {str(m.event_id) for m in ledger.movements()}:
        assert time.monotonic() < deadline, "the worker did not record the receipt"
        time.sleep(0.3)
    again = keeper.post(web + "/stock/movements", data=form, allow_redirects=False, timeout=30)
    assert again.status_code == 303 and event_id in again.headers["Location"], "a double submit"

    after = ledger.movements()
    new = after[len(before):]
    assert len(new) == 1 and str(new[0].event_id) == event_id, "exactly one new movement"
    assert (new[0].kind, new[0].depot_id, new[0].item_id, new[0].quantity, new[0].unit) == (
        "receipt", "yirshi", "activated_carbon", 12.5, "t")
    assert new[0].actor == "console:keeper"

    shown = keeper.get(web + first.headers["Location"], timeout=10).text
    assert '<p class="notice" role="status">已登记: 入库 12.5 t 活性炭(粉末/颗粒) 伊尔施环境应急物资储备点' in shown
    assert cells(shown, "yirshi", "activated_carbon")[2] == f"{held + 12.5:g} t"
    assert "此表单已登记过" in keeper.get(web + again.headers["Location"], timeout=10).text
    cover = keeper.get(web + "/coverage", timeout=30).text
    assert f"伊尔施环境应急物资储备点 {held + 12.5:g} (" in cover, "the circle recomputed from the new stock"
    assert ("keeper", "inventory.receipt", "ok") in audit_seen(worker)


def test_a_dispatch_beyond_stock_and_bad_input_are_refused_with_the_reason_shown(
        worker: WorkerProcess, web: str, ledger: InventoryStore) -> None:
    keeper, _ = login(web, "keeper")
    assert ledger.stock().on_hand("bailang", "pumps") == 0
    before = len(ledger.movements())
    form = keeper_form(keeper, web, kind="dispatch", depot="bailang", item="pumps", quantity="3")
    refused = keeper.post(web + "/stock/movements", data=form, allow_redirects=False, timeout=30)
    assert refused.status_code == 409, refused.text[-2000:]
    assert re.search(r'<p class="error" role="alert">台账拒绝登记: quantity: dispatch of 3 台 pumps at bailang: '
                     r'only 0 on hand</p>', refused.text), "the ledger's own reason"
    assert '<option value="dispatch" selected>' in refused.text, "the form keeps what was typed"
    for fields, reason in (({"depot": "atlantis"}, "未知物资库 atlantis"), ({"quantity": "-4"}, "入库的数量须为正数"),
                           ({"item": "gold"}, "未知物资 gold")):
        answer = keeper.post(web + "/stock/movements", data=keeper_form(keeper, web, **fields),
                             allow_redirects=False, timeout=10)
        assert answer.status_code == 400 and reason in answer.text, fields
    assert len(ledger.movements()) == before
    seen = audit_seen(worker)
    assert ("keeper", "inventory.dispatch", "refused") in seen and ("keeper", "inventory.receipt", "refused") in seen


def test_no_page_shows_a_phone_number(web: str, ledger: InventoryStore) -> None:
    for user in ("viewer", "keeper"):
        session, _ = login(web, user)
        for path in ("/stock", "/coverage"):
            page = session.get(web + path, timeout=30).text
            assert not PHONE.search(page), f"a phone number on {path} for {user}"


def test_in_chromium_the_keeper_fills_in_the_form_and_sees_the_notice(
        web: str, ledger: InventoryStore, browser) -> None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, 40, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException))
    driver.get(web + "/login")
    driver.find_element(By.NAME, "username").send_keys("keeper")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    wait.until(lambda d: d.find_elements(By.ID, "board") or d.find_elements(By.CLASS_NAME, "error"))
    driver.find_element(By.LINK_TEXT, "物资").click()
    wait.until(lambda d: d.find_element(By.ID, "movement"))
    held = ledger.stock().on_hand("city_centre", "sandbags")
    Select(driver.find_element(By.NAME, "kind")).select_by_value("receipt")
    Select(driver.find_element(By.NAME, "depot")).select_by_value("city_centre")
    Select(driver.find_element(By.NAME, "item")).select_by_value("sandbags")
    driver.find_element(By.NAME, "quantity").send_keys("300")
    driver.find_element(By.NAME, "reason").send_keys("年度补充")
    sent = time.monotonic()
    driver.find_element(By.CSS_SELECTOR, "form#movement button[type=submit]").click()
    notice = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "p.notice").text)
    print(f"form submitted in Chromium -> notice shown: {time.monotonic() - sent:.2f} s")
    assert "已登记: 入库 300 个 沙袋/编织袋 阿尔山市区环境应急物资库" in notice, notice
    assert driver.current_url.startswith(web + "/stock?movement=")
    row = driver.find_element(By.CSS_SELECTOR, "tr[data-depot='city_centre'][data-item='sandbags'] td.on-hand")
    assert row.text == f"{held + 300:g} 个"
    colour = driver.find_element(By.CSS_SELECTOR, "tr.below td").value_of_css_property("color")
    assert colour == "rgba(255, 123, 114, 1)", "below its minimum: highlighted by the page's own stylesheet"
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTEFACTS / "console-stock.png"))
    assert not PHONE.search(driver.page_source)
