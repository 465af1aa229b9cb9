"""Counting what an experiment lost and doubled: notifications on the topic against the SMS the provider took."""
from __future__ import annotations

import collections
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Count:
    expected: int
    observed: int
    lost: int
    doubled: int
    examples: tuple[Any, ...] = ()  # a few of what was lost or doubled, for the failure message


def count(expected: Iterable[Any], observed: Iterable[Any]) -> Count:
    """Multisets: `lost` is what was expected and not observed, `doubled` what was observed beyond expected."""
    want, got = collections.Counter(expected), collections.Counter(observed)
    missing, extra = want - got, got - want
    examples = tuple([("lost", k) for k in list(missing)[:3]] + [("doubled", k) for k in list(extra)[:3]])
    return Count(sum(want.values()), sum(got.values()), sum(missing.values()), sum(extra.values()), examples)


def pages(notifications: list[dict], deliveries: list[dict], messages: Iterable[Any]) -> Count:
    """Each notification on the topic (once per id), unless superseded on purpose, is one SMS with its (to, body);
    `messages` are the local provider's (LocalTwilioApi.messages)."""
    superseded = {d["notification_id"] for d in deliveries if d["status"] == "superseded"}
    once = {n["notification_id"]: n for n in notifications if n.get("channel", "sms") == "sms"}
    expected = [(n["to"], n["body"]) for nid, n in once.items() if nid not in superseded]
    observed = [(m.to, m.body) for m in messages if m.direction == "outbound-api"]
    return count(expected, observed)


def settled(notifications: list[dict], deliveries: list[dict], messages: Iterable[Any]) -> bool:
    """Every notification is sent or superseded (none waits, none is missing)."""
    c = pages(notifications, deliveries, messages)
    return c.lost == 0


def final_pages(notifications: Any, deliveries: Any, api: Any, timeout: float = 60.0) -> Count:
    """The count once every page is out: the provider's messages are read first and the topics after them (a
    message implies its notification is on the topic already, so nothing sent in between looks doubled), and the
    count is taken again while a page is still on its way (nothing sent yet looks lost until `timeout`).
    `notifications` and `deliveries` are TopicReaders, `api` a LocalTwilioApi."""
    deadline = time.monotonic() + timeout
    while True:
        messages = list(api.messages)
        result = pages(notifications.settle(1.0), deliveries.settle(0.2), messages)
        if result.lost == 0 or time.monotonic() > deadline:
            return result


def dead_letters(written: Iterable[tuple[str, int, int]], letters: Iterable[dict]) -> Count:
    """Each message written (topic, partition, offset, as the broker answered its producer) against the dead
    letters naming it (schemas.dead_letter: source_topic, partition, offset): a letter for a message not in
    `written` counts as doubled."""
    return count(written, [(x["source_topic"], x["partition"], x["offset"]) for x in letters])
