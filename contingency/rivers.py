"""River topology from the sources' downstream links: cycles (an error) and travel times upstream."""
from __future__ import annotations

import heapq

from contingency.plan import RiskSource


def find_cycle(sources: dict[str, RiskSource]) -> list[str] | None:
    """One cycle as a list of source ids (first repeated at the end), or None. Unknown targets are skipped."""
    colour: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        path.append(node)
        for link in sources[node].downstream:
            target = link.source
            if target not in sources:
                continue
            if colour.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in colour:
                found = visit(target)
                if found:
                    return found
        path.pop()
        colour[node] = 2
        return None

    for start in sorted(sources):
        if start not in colour:
            found = visit(start)
            if found:
                return found
    return None


def upstream_travel(sources: dict[str, RiskSource]) -> dict[str, dict[str, float]]:
    """For each source, every source upstream of it with the shortest travel time in minutes."""
    result: dict[str, dict[str, float]] = {source_id: {} for source_id in sources}
    for start in sources:
        best: dict[str, float] = {}
        queue: list[tuple[float, str]] = [(0.0, start)]
        while queue:
            minutes, node = heapq.heappop(queue)
            for link in sources[node].downstream:
                if link.source not in sources or link.source == start:
                    continue
                total = minutes + link.travel_minutes
                if total < best.get(link.source, float("inf")):
                    best[link.source] = total
                    heapq.heappush(queue, (total, link.source))
        for downstream_id, minutes in best.items():
            result[downstream_id][start] = minutes
    return result
