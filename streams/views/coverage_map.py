"""A PNG map of the 2-hour circle: roads, risk sources (covered or not), depots and what each reaches in time."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from contingency.coverage import CoverageReport  # noqa: E402
from contingency.plan import Plan  # noqa: E402
from contingency.roads import RoadGraph  # noqa: E402

CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "AR PL UMing CN")


def _labels_in_chinese() -> bool:
    """Chinese names when a CJK font is installed (Debian: fonts-noto-cjk), ids otherwise (no empty boxes)."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in installed:
            plt.rcParams["font.family"] = name
            return True
    return False


def draw_coverage_map(plan: Plan, graph: RoadGraph, report: CoverageReport, path: Path) -> None:
    chinese = _labels_in_chinese()
    fig, ax = plt.subplots(figsize=(10, 8), dpi=110)
    for a, b in graph.graph.edges():
        (lat_a, lon_a), (lat_b, lon_b) = graph.position(a), graph.position(b)
        ax.plot([lon_a, lon_b], [lat_a, lat_b], color="0.75", linewidth=1.2, zorder=1)

    covered_sources = {s for s in {e.source_id for e in report.items}
                       if all(e.covered for e in report.items if e.source_id == s)}
    for e in report.items:  # which depots reach which source in time, for anything
        source = plan.sources[e.source_id].location
        for c in e.contributions:
            depot = plan.depots[c.depot_id].location
            ax.plot([depot.lon, source.lon], [depot.lat, source.lat], color="tab:blue", alpha=0.25, linewidth=0.8,
                    zorder=2)
    for source_id, source in plan.sources.items():
        needs = any(e.source_id == source_id for e in report.items)
        colour = "tab:green" if source_id in covered_sources else ("tab:red" if needs else "0.5")
        ax.scatter(source.location.lon, source.location.lat, marker="^", s=90, color=colour, zorder=4,
                   edgecolors="black", linewidths=0.5)
        ax.annotate(source.name if chinese else source_id, (source.location.lon, source.location.lat),
                    textcoords="offset points", xytext=(5, 5), fontsize=7)
    for depot_id, depot in plan.depots.items():
        ax.scatter(depot.location.lon, depot.location.lat, marker="s", s=70, color="tab:blue", zorder=4,
                   edgecolors="black", linewidths=0.5)
        ax.annotate(depot.name if chinese else depot_id, (depot.location.lon, depot.location.lat),
                    textcoords="offset points", xytext=(5, -10), fontsize=7, color="tab:blue")
    verdict = "all covered" if report.covered else f"{len(report.shortfalls())} shortfalls"
    ax.set_title(f"{plan.name if chinese else plan.id}: 2-hour emergency circle ({verdict})\n"
                 "▲ green covered, red short, grey no requirement; ■ depot; blue lines: reaches in time", fontsize=9)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_aspect(1 / 0.68)  # ~1/cos(47°): degrees of longitude are shorter at Arxan's latitude
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
