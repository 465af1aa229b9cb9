"""The console's map (issue 16, item 4) against a real worker, broker and database, `ers web` in its own process:
the GeoJSON holds the plan's sources, stations, depots, rivers, the road graph and each depot's 2-hour reach, with
the same 2-hour numbers as `ers inventory coverage` for the stock the worker recorded; in Chromium, Leaflet (served by
the console itself) draws them, a click on a source tells what reaches it in time, and no request leaves the host."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from collections import Counter
from urllib.parse import urlsplit

import pytest
import requests

from contingency import Plan, load_plan
from schemas import InventoryMovement, encode
from tests.e2e.console_support import (  # noqa: F401 (fixtures)
    ARTEFACTS, accounts, browser, login, sms_api, web, worker)
from tests.e2e.test_inventory import ers, stock_of
from tests.integration.harness import REPO, WorkerProcess, send

pytestmark = pytest.mark.integration
DEPOT, ITEM, QUANTITY = "yirshi", "activated_carbon", 2.0  # 伊尔施 reaches 伊尔施污水处理厂排污口 in time
SOURCE = "yirshi_wwtp_outfall"


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan(REPO / "plans" / "arxan.yaml")


@pytest.fixture(scope="module")
def stocked(broker: str, worker: WorkerProcess) -> float:
    """A receipt recorded by the worker (the ledger's real path), so some depot holds something."""
    movement = InventoryMovement(kind="receipt", depot_id=DEPOT, item_id=ITEM, quantity=QUANTITY, unit="t",
                                 occurred_at=dt.datetime.now(dt.timezone.utc))
    send(broker, worker.topic("inventory"), encode(movement), key=DEPOT)
    deadline = time.monotonic() + 30
    while (held := stock_of(worker, DEPOT, ITEM)) < QUANTITY:
        assert time.monotonic() < deadline, "the worker did not record the receipt within 30 s"
        time.sleep(0.5)
    return held


def _layers(data: dict) -> Counter:
    return Counter(f["properties"]["layer"] for f in data["features"])


def test_the_map_needs_a_session(web: str) -> None:
    for path in ("/map", "/map/features.geojson"):
        answer = requests.get(web + path, allow_redirects=False, timeout=5)
        assert answer.status_code == 302 and answer.headers["Location"] == "/login", path


def test_the_geojson_holds_the_plan_the_roads_the_reach_and_the_coverage_reports_numbers(
        web: str, worker: WorkerProcess, plan: Plan, stocked: float) -> None:
    viewer, answer = login(web, "viewer")
    assert answer.status_code == 302
    page = viewer.get(web + "/map", timeout=10)
    assert page.status_code == 200 and 'id="map"' in page.text and 'href="/map"' in page.text
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    started = time.monotonic()
    answer = viewer.get(web + "/map/features.geojson", timeout=30)
    print(f"features.geojson: {time.monotonic() - started:.2f} s, {len(answer.content)} bytes")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/geo+json")
    data = answer.json()
    assert data["type"] == "FeatureCollection" and data["properties"]["roads"] is True, data["properties"]
    counts = _layers(data)
    assert counts["source"] == len(plan.sources) and counts["depot"] == len(plan.depots)
    assert counts["station"] == len(plan.stations)
    assert counts["river"] == sum(len(s.downstream) for s in plan.sources.values()) > 0
    assert counts["road"] >= 1 and counts["reach"] == len(plan.depots), counts
    assert any(f["geometry"]["coordinates"] for f in data["features"] if f["properties"]["layer"] == "reach")

    depot = next(f["properties"] for f in data["features"] if f["properties"].get("id") == DEPOT
                 and f["properties"]["layer"] == "depot")
    assert sum(s["on_hand"] for s in depot["stock"] if s["item"] == ITEM) == stocked

    cli = ers(worker, "inventory", "coverage", "--json")
    assert cli.returncode in (0, 1), cli.stderr
    report = json.loads(cli.stdout)
    sources = {f["properties"]["id"]: f["properties"] for f in data["features"] if f["properties"]["layer"] == "source"}
    compared = 0
    for entry in report["items"]:
        item = next(i for i in sources[entry["source_id"]]["items"] if i["item"] == entry["item_id"]
                    and i["scenario"] == entry["scenario"])
        assert (item["required"], item["in_window"], item["shortfall"]) == (
            entry["required"], entry["in_window"], entry["shortfall"]), entry
        assert [(r["depot"], r["quantity"], r["minutes"]) for r in item["reaches"]] == [
            (c["depot_id"], c["quantity"], round(c["arrival_minutes"], 1)) for c in entry["contributions"]]
        compared += 1
    assert compared == sum(len(s["items"]) for s in sources.values()) > 0
    carbon = next(i for i in sources[SOURCE]["items"] if i["item"] == ITEM)
    assert [r["depot"] for r in carbon["reaches"]] == [DEPOT], "the recorded receipt reaches the outfall in time"
    print(f"{compared} source/item numbers equal `ers inventory coverage`; verdicts: "
          f"{Counter(s['verdict'] for s in sources.values())}")


def test_in_chromium_leaflet_draws_the_map_and_a_source_tells_what_reaches_it(
        web: str, plan: Plan, stocked: float, browser) -> None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, 20, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException))
    driver.get(web + "/login")
    driver.find_element(By.NAME, "username").send_keys("viewer")
    driver.find_element(By.NAME, "password").send_keys("correct horse battery")
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    wait.until(lambda d: urlsplit(d.current_url).path == "/")
    started = time.monotonic()
    driver.get(web + "/map")
    try:
        wait.until(lambda d: d.find_element(By.ID, "map").get_attribute("data-ready") in ("1", "error"))
    finally:
        state = driver.find_element(By.ID, "map").get_attribute("data-ready")
        assert state == "1", (state, driver.find_element(By.ID, "map-status").text)
    print(f"/map drawn by Leaflet in Chromium: {time.monotonic() - started:.2f} s")

    sources = driver.find_elements(By.CSS_SELECTOR, "path.map-source.leaflet-interactive")
    depots = driver.find_elements(By.CSS_SELECTOR, ".leaflet-marker-icon.map-depot")
    stations = driver.find_elements(By.CSS_SELECTOR, ".leaflet-marker-icon.map-station")
    assert len(sources) == len(plan.sources) and len(depots) == len(plan.depots)
    assert len(stations) == len(plan.stations)
    assert len(driver.find_elements(By.CSS_SELECTOR, ".leaflet-interactive")) >= len(plan.sources) + len(plan.depots)
    assert driver.find_elements(By.CSS_SELECTOR, "path.map-road") and driver.find_elements(
        By.CSS_SELECTOR, "path.map-reach") and driver.find_elements(By.CSS_SELECTOR, "path.map-river")
    fill = driver.find_element(By.CSS_SELECTOR, f"path.map-source[data-source='{SOURCE}']").value_of_css_property(
        "fill")
    assert fill in ("rgb(46, 160, 67)", "rgb(207, 34, 46)"), f"a verdict colour from console_map.css, not {fill}"
    assert not driver.find_elements(By.CSS_SELECTOR, ".leaflet-tile"), "no base layer unless configured"

    driver.find_element(By.CSS_SELECTOR, f"path.map-source[data-source='{SOURCE}']").click()
    popup = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".leaflet-popup-content .map-popup.source")
                       ).get_attribute("textContent")  # all of it: a long popup scrolls
    depot_names = [d.name for d in plan.depots.values()]
    assert plan.sources[SOURCE].name in popup
    assert any(name in popup for name in depot_names) or "缺口" in popup, popup
    assert plan.depots[DEPOT].name in popup, "the depot holding the receipt reaches the outfall in time"

    resources = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).concat([location.href])")
    origin = urlsplit(web).netloc
    assert resources and all(urlsplit(url).netloc == origin for url in resources), resources
    assert any(url.endswith("/static/vendor/leaflet/leaflet.js") for url in resources)
    # the screenshot once the popup has faded in and the map has panned to show it whole
    wait.until(lambda d: d.execute_script(
        "const p = document.querySelector('.leaflet-popup'), m = document.getElementById('map');"
        "if (!p) return false; const a = p.getBoundingClientRect(), b = m.getBoundingClientRect();"
        "return getComputedStyle(p).opacity === '1' && a.top >= b.top && a.bottom <= b.bottom;"))
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTEFACTS / "console-map.png"))
    shutil.copy2(ARTEFACTS / "console-map.png", REPO / "docs" / "console-map.png")
