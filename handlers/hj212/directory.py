"""Who may speak to the gateway: the plan's HJ 212 stations by MN, with passwords read from the environment."""
from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from contingency.hj212 import FactorTable, StationLink, station_links
from contingency.plan import Plan


@dataclass(frozen=True)
class StationDirectory:
    links: dict[str, StationLink]       # by MN
    passwords: dict[str, str | None]    # by MN; None: the station's variable is unset, so it is refused
    factors: FactorTable

    @classmethod
    def from_plan(cls, plan: Plan, table: FactorTable, environ: Mapping[str, str]) -> "StationDirectory":
        links = station_links(plan, table)
        return cls(links, {mn: environ.get(link.password_env) or None for mn, link in links.items()}, table)

    def unconfigured(self) -> list[StationLink]:
        """Stations whose password variable is unset (the gateway warns at start and refuses them)."""
        return [link for mn, link in self.links.items() if self.passwords[mn] is None]

    def check(self, mn: str, password: str) -> tuple[StationLink | None, str | None]:
        """The station, or the reason it is refused."""
        link = self.links.get(mn)
        if link is None:
            return None, f"unknown MN {mn}"
        expected = self.passwords[mn]
        if expected is None:
            return None, f"no password configured for station {link.station_id} ({link.password_env} is unset)"
        if not hmac.compare_digest(password.encode(), expected.encode()):
            return None, f"wrong password for station {link.station_id}"
        return link, None

    def by_station(self, station_id: str) -> StationLink | None:
        return next((link for link in self.links.values() if link.station_id == station_id), None)
