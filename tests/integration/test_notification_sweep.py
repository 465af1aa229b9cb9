"""The notification sweep (streams/services/notification_sweep.py): what the dispatcher never took is sent, once;
what it took, or is still young enough to take, is left alone. Real broker, real outbox, the twilio library
against the local Twilio API."""
from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from kafka import KafkaProducer

from handlers.database import make_engine, migrate
from handlers.kafka_admin import ensure_topics
from handlers.notification_log import recent_notifications
from streams.services.notification_sweep import sweep
from handlers.sms_gateway import TwilioSms
from handlers.sms_router import SmsRouter
from handlers.sms_outbox import SmsOutbox
from deploy.local.twilio_api import LocalTwilioApi, fake_account_sid, fake_auth_token
from schemas import Notification, encode
from schemas.topics import TopicSpec

GRACE = dt.timedelta(seconds=20)


def note(phone: str) -> Notification:
    nid = uuid.uuid4()
    return Notification(event_id=nid, notification_id=nid, person_id="zhou_min", to=phone,
                        body=f"黄色预警 测试 {nid.hex[:6]}", created_at=dt.datetime.now(dt.timezone.utc))


def test_sweep_sends_only_what_nobody_claimed(broker: str, tmp_path: Path) -> None:
    topic = f"tsweep{uuid.uuid4().hex[:6]}.notifications"
    ensure_topics(broker, [TopicSpec(topic, 4)])
    now = dt.datetime.now(dt.timezone.utc)
    forgotten, taken, young = note("+8613800000101"), note("+8613800000102"), note("+8613800000103")
    producer = KafkaProducer(bootstrap_servers=broker, acks="all")
    for n, age in ((forgotten, 60), (taken, 60), (young, 2)):
        producer.send(topic, key=n.person_id.encode(), value=encode(n),
                      timestamp_ms=int((now - dt.timedelta(seconds=age)).timestamp() * 1000))
    producer.flush()
    producer.close()

    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    migrate(url)
    outbox = SmsOutbox(make_engine(url))
    outbox.claim(taken, now)  # the dispatcher has it (even if it has not sent it yet)
    with LocalTwilioApi(auth_token=fake_auth_token(), account_sid=fake_account_sid()) as api:
        gateway = SmsRouter(twilio=TwilioSms(api.account_sid, api.auth_token, "+15005550006", api_base=api.url,
                                             timeout=5))
        notes = recent_notifications(broker, topic, now - dt.timedelta(minutes=15))
        assert {n.notification_id for n, _ in notes} == {forgotten.notification_id, taken.notification_id,
                                                         young.notification_id}
        assert not recent_notifications(broker, topic, now + dt.timedelta(seconds=1)), "nothing that new"
        reported: list[Notification] = []
        sent = sweep(outbox, gateway, notes, None, now, GRACE, lambda n, result: reported.append(n))
        assert [r.notification_id for r in sent] == [str(forgotten.notification_id)]
        assert [n.notification_id for n in reported] == [forgotten.notification_id]
        assert [m.to for m in api.messages] == [forgotten.to]
        again = sweep(outbox, gateway, recent_notifications(broker, topic, now - dt.timedelta(minutes=15)), None,
                      now + dt.timedelta(seconds=5), GRACE)
        assert again == [] and len(api.messages) == 1, "sent once, whatever the number of sweeps"
        later = sweep(outbox, gateway, notes, None, now + GRACE, GRACE)
        assert [r.notification_id for r in later] == [str(young.notification_id)], "past its grace, the young one"
        assert outbox.get(str(taken.notification_id)).state == "claimed", "a claimed one is the dispatcher's"
