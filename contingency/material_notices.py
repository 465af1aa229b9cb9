"""SMS notices to the materials officer(s): a refused ledger movement, lots about to expire, stock below
its minimum. Pure: the callers pass `now`; ids derive from the inputs."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from contingency.ids import derive
from contingency.ledger import LedgerError, Lot, StockLevel
from contingency.plan import Plan
from contingency.roster import Roster, on_duty, templates_for
from contingency.sms_templates import compose
from contingency.sms_text import fits
from schemas import InventoryMovement, Notification

ROLE = "materials_officer"
KIND_NAMES = {"receipt": "入库", "dispatch": "出库", "consumption": "消耗", "return": "归还", "transfer": "调拨",
              "expiry_write_off": "过期核销", "adjustment": "盘点调整"}


# Refused movements page the materials officer once per window, not once each: a faulty feeder refusing a
# thousand movements must not send a thousand SMS. The first refusal of a window is told; the others are in the
# dead-letter topic with their reasons.
REFUSAL_NOTICE_WINDOW = dt.timedelta(minutes=15)
_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


def refusal_notice_key(plan: Plan, now: dt.datetime) -> str:
    """The window `now` falls in, as a key claimed once: only the first refused movement in it sends notices."""
    window = int((now - _EPOCH) / REFUSAL_NOTICE_WINDOW)
    return str(derive("refused-movement-window", plan.id, window))


def refused_movement_notices(plan: Plan, roster: Roster, movement: InventoryMovement, error: LedgerError,
                             now: dt.datetime) -> list[Notification]:
    """What the first refused movement of a window tells the materials officer(s)."""
    depot = _depot_name(plan, movement.depot_id)
    item = plan.items[movement.item_id].name if movement.item_id in plan.items else movement.item_id
    minutes = int(REFUSAL_NOTICE_WINDOW.total_seconds() // 60)
    tail = f"({minutes}分钟内其他未入账的不再逐条通知)"
    body = (f"【物资】{KIND_NAMES.get(movement.kind, movement.kind)}未入账: {depot} {item} "
            f"{movement.quantity:g}{movement.unit}。原因: {error.reason}")
    body = body + tail if fits(body + tail) else body
    return _to_officers(plan, roster, body, derive("refused-movement", movement.event_id), now, movement.drill_id)


def housekeeping_notices(plan: Plan, roster: Roster, expiring: Iterable[Lot], low: Iterable[StockLevel],
                         on: dt.date, now: dt.datetime) -> list[Notification]:
    """One daily summary: lots expiring within 30 days (or expired) and stock below minimum."""
    lines = [f"{_depot_name(plan, lot.depot)} {_item_name(plan, lot.item)} {lot.quantity:g} "
             f"{'已过期' if lot.expired(on) else '将于' + lot.expires_on.strftime('%m-%d') + '过期'}"
             for lot in expiring if lot.expires_on is not None]
    lines += [f"{_depot_name(plan, level.depot)} {_item_name(plan, level.item)} 库存{level.on_hand:g}"
              f"<最低{level.minimum:g}" for level in low]
    if not lines:
        return []
    head = f"【物资】{on.strftime('%m-%d')}库存检查 {len(lines)}项: "
    body = head + "; ".join(lines)
    while not fits(body) and len(lines) > 1:
        lines.pop()
        body = head + "; ".join(lines) + " 等,详见 ers inventory stock"
    return _to_officers(plan, roster, body, derive("housekeeping", plan.id, on.isoformat()), now, None)


def _to_officers(plan: Plan, roster: Roster, body: str, cause: object, now: dt.datetime,
                 drill_id: str | None) -> list[Notification]:
    if drill_id is not None:
        return []  # a drill never pages people about stock; its dead letters carry the reason
    notices = []
    for person in on_duty(roster, ROLE, now):
        notification_id = derive(cause, person.id)
        # the template's own text says 【物资】; its slot holds what the notice is about
        message = compose(templates_for(roster, person), "materials",
                          {"drill": "", "text": body.removeprefix("【物资】")}, body)
        notices.append(Notification(event_id=notification_id, notification_id=notification_id, person_id=person.id,
                                    to=person.phone, body=message.body, template=message.template,
                                    params=dict(message.params), created_at=now))
    return notices


def _depot_name(plan: Plan, depot_id: str) -> str:
    return plan.depots[depot_id].name if depot_id in plan.depots else depot_id


def _item_name(plan: Plan, item_id: str) -> str:
    return plan.items[item_id].name if item_id in plan.items else item_id
