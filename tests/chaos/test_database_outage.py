"""PostgreSQL stopped mid-stream (issue 13 item 8): the outbox (pages), the ledger (movements) and the webhook
receipts all live there. While it is down, incidents still open and escalate (the desk needs no database; a
materials proposal says the ledger cannot be read), pages and movements wait in Kafka (their agents wait the
outage out instead of dead-lettering), a webhook answers 503 and records nothing, and /health says "database
unreachable" naming the agents that wait. Once it is back: every page sent exactly once, every movement recorded
exactly once, the refused webhook accepted when sent again and refused as a replay after that.

Short: 20 s down. Full (ERS_CHAOS=full): 60 s, as the issue asks."""
from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from deploy.local.postgres import LocalPostgres, LocalPostgresError
from deploy.local.twilio_api import LocalTwilioApi, fake_account_sid, fake_auth_token
from handlers.database import make_engine
from handlers.inventory_store import InventoryStore
from schemas import InventoryMovement, encode
from tests.chaos import accounting
from tests.chaos.conftest import Figures, scaled
from tests.e2e.test_sms_alerting import (SANDBOX_NUMBER, fast_plan, fast_roster, on_duty_phone,  # noqa: F401
                                         opened_code, reading)
from tests.integration.harness import TopicReader, WorkerProcess, send

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
OUTAGE_SECONDS = scaled(20, 60)
# Readings over limits of plans/arxan.yaml at four sources.
OVER_LIMIT = [("city_air_auto", "no2", 1500.0, "ug/m3"), ("tailings_example_online", "seepage_flow", 9.0, "L/s"),
              ("city_source_auto", "ammonia_nitrogen", 1.6, "mg/L"), ("hlh_dsk_auto", "cadmium", 0.02, "mg/L")]
STOCK = [("yirshi", "oil_boom", "m"), ("yirshi", "sandbags", "个"), ("city_centre", "activated_carbon", "t"),
         ("city_centre", "ppe", "套")]


@pytest.fixture(scope="module")
def postgres() -> Iterator[LocalPostgres]:
    try:
        pg = LocalPostgres()
    except LocalPostgresError as exc:
        pytest.skip(f"needs a PostgreSQL server (.ci/run installs the Debian package): {exc}")
    with pg:
        yield pg


@pytest.fixture(scope="module")
def sms() -> Iterator[LocalTwilioApi]:
    with LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid(), callback_delay=0.05) as api:
        yield api


@pytest.fixture(scope="module")
def worker(broker: str, sms: LocalTwilioApi, postgres: LocalPostgres, fast_plan: Path,  # noqa: F811
           fast_roster: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:  # noqa: F811
    process = WorkerProcess(broker, tmp_path_factory.mktemp("worker"), sms, plan=fast_plan, roster=fast_roster,
                            env={"ERS_DATABASE_URL": postgres.url}).start()
    yield process
    process.stop()


def movement(depot: str, item: str, unit: str) -> InventoryMovement:
    return InventoryMovement(event_id=uuid.uuid4(), kind="receipt", depot_id=depot, item_id=item, quantity=5,
                             unit=unit, occurred_at=dt.datetime.now(dt.timezone.utc), actor="chaos")


def health(worker: WorkerProcess) -> tuple[int, dict]:
    answer = requests.get(worker.public_url + "/health", timeout=15)
    return answer.status_code, answer.json()


def test_a_database_outage_loses_and_doubles_nothing_and_health_says_why(
        broker: str, worker: WorkerProcess, sms: LocalTwilioApi, postgres: LocalPostgres,
        figures: list[Figures]) -> None:
    incidents = TopicReader(broker, worker.topic("incidents"))
    notifications = TopicReader(broker, worker.topic("notifications"))
    delivery = TopicReader(broker, worker.topic("delivery"))
    dlq = TopicReader(broker, worker.topic("dlq"))
    ledger = InventoryStore(make_engine(postgres.url))

    # Before: a page goes out, so the reply below has an incident to acknowledge.
    send(broker, worker.topic("readings"), reading("yirshi_wwtp_online", "cod", 80.0), key="yirshi_wwtp_online")
    code = opened_code(incidents, "yirshi_wwtp_outfall")
    officer = on_duty_phone("duty_officer")
    deadline = time.monotonic() + 15
    while not any(code in m.body for m in sms.messages if m.to == officer) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any(code in m.body for m in sms.messages if m.to == officer), "the page before the outage"

    postgres.stop()
    down_at = time.monotonic()
    for station, parameter, value, unit in OVER_LIMIT:
        send(broker, worker.topic("readings"), reading(station, parameter, value, unit), key=station)
    movements = [movement(*entry) for entry in STOCK for _ in range(3)]
    for m in movements:
        send(broker, worker.topic("inventory"), encode(m), key=m.depot_id)
    # Three incidents open and the cadmium at the section downstream of the outfall raises the first one's level:
    # the desk needs no database.
    opened = incidents.wait_for(
        lambda rs: {r["source_id"] for r in rs if r["type"] == "incident.opened"}
        >= {"arxan_city_air", "tailings_example", "arxan_city_drinking_source"}
        # (0.02 mg/L is above class V too: the class V rule raises it, the class III one joins in)
        and any(r["type"] == "incident.updated" and r["rule_id"] == "section_cadmium_over_v" for r in rs),
        timeout=30)

    # The officer's reply cannot be checked against the replay ledger: refused with 503, nothing recorded.
    reply_sid = "SM" + uuid.uuid4().hex
    status, text = sms.post_inbound(worker.public_url + "/twilio/sms", from_=officer, to=SANDBOX_NUMBER,
                                    body=f"1 {code}", message_sid=reply_sid)
    assert status == 503 and "database unreachable" in text, (status, text)

    # /health names the outage and the agents waiting it out.
    said: dict = {}
    while time.monotonic() - down_at < OUTAGE_SECONDS:
        code_now, said = health(worker)
        assert code_now == 503 and said["status"] == "database unreachable", said
        time.sleep(2)
    assert {"dispatch", "inventory"} <= set(said["waiting"]), said
    assert all(w["for"] == "database unreachable" for w in said["waiting"].values()), said
    sent_during = [m for m in sms.messages if m.direction == "outbound-api"]

    postgres.start()
    up_at = time.monotonic()
    wanted = {str(m.event_id) for m in movements}

    def recovered() -> bool:
        notes, receipts = notifications.poll(), delivery.poll()
        recorded = {str(m.event_id) for m in ledger.movements()}
        return accounting.settled(notes, receipts, sms.messages) and wanted <= recorded

    while not recovered():
        assert time.monotonic() - up_at < 120, "pages and movements did not all go through within 120 s"
        time.sleep(0.5)
    recovery = time.monotonic() - up_at

    # The reply sent again is taken now, once: a replay of it is refused.
    status, _ = sms.post_inbound(worker.public_url + "/twilio/sms", from_=officer, to=SANDBOX_NUMBER,
                                 body=f"1 {code}", message_sid=reply_sid)
    assert status == 200
    first = next(r["incident_id"] for r in opened if r["type"] == "incident.opened"
                 and r["source_id"] == "yirshi_wwtp_outfall")
    incidents.wait_for(lambda rs: any(r["type"] == "incident.acknowledged" and r["incident_id"] == first
                                      for r in rs), timeout=15)
    status, _ = sms.post_inbound(worker.public_url + "/twilio/sms", from_=officer, to=SANDBOX_NUMBER,
                                 body=f"1 {code}", message_sid=reply_sid)
    assert status == 403, "a replayed reply is refused"

    time.sleep(3)  # anything sent twice would arrive now
    page_count = accounting.final_pages(notifications, delivery, sms)
    recorded = [str(m.event_id) for m in ledger.movements()]
    move_count = accounting.count(wanted, [r for r in recorded if r in wanted])
    letters = [r for r in dlq.poll() if r.get("agent") in ("dispatch", "inventory")]
    code_now, said = health(worker)
    figures.append(Figures(f"database outage {OUTAGE_SECONDS:g} s", "pages (SMS)", len(OVER_LIMIT) + 1,
                           page_count.expected, page_count.observed, page_count.lost, page_count.doubled, recovery,
                           [f"{len(sent_during)} SMS before the database came back (pages made before the outage)"]))
    figures.append(Figures(f"database outage {OUTAGE_SECONDS:g} s", "ledger movements", len(movements),
                           move_count.expected, move_count.observed, move_count.lost, move_count.doubled, recovery))
    for reader in (incidents, notifications, delivery, dlq):
        reader.close()
    assert page_count.lost == 0 and page_count.doubled == 0, page_count
    assert move_count.lost == 0 and move_count.doubled == 0, move_count
    assert not letters, f"no page or movement became a dead letter: {letters}"
    assert code_now == 200 and said["status"] == "ok" and said["waiting"] == {}, said
