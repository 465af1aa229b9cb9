"""Re-sending what an input already produced, so redelivery after a crash loses nothing and doubles nothing.

Faust commits an offset only after the producer is flushed, but a table's changelog write and the
agent's output sends are not atomic: a worker killed in between comes back with the new state and
without the outputs. Every table entry therefore keeps the outputs of its last few inputs; a
redelivered input re-sends them (with the same event ids, which consumers deduplicate) instead of
being evaluated again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MEMO_SIZE = 32


@dataclass(frozen=True)
class Output:
    topic: str
    key: str
    value: bytes


@dataclass
class Entry:
    """One table value: the domain state plus the memo of recent inputs and their outputs."""

    state: dict[str, Any] | None = None
    sent: dict[str, list[Output]] = field(default_factory=dict)

    def remember(self, input_id: str, outputs: list[Output]) -> None:
        self.sent[input_id] = outputs
        while len(self.sent) > MEMO_SIZE:
            self.sent.pop(next(iter(self.sent)))

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "sent": {i: [[o.topic, o.key, o.value.decode("utf-8")] for o in outs] for i, outs in self.sent.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "Entry":
        if not data:
            return cls()
        sent = {i: [Output(t, k, v.encode("utf-8")) for t, k, v in outs] for i, outs in data.get("sent", {}).items()}
        return cls(state=data.get("state"), sent=sent)
