"""Times coming back from a database or a provider, as aware UTC."""
from __future__ import annotations

from datetime import datetime, timezone


def as_utc(moment: datetime) -> datetime:
    """Aware UTC; a naive value (SQLite drops the zone, some APIs send none) is taken as UTC, as it was stored."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
