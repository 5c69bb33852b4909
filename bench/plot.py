"""The README's plot: checkout time for each case, median and p99, per database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLOURS = {
    "(a)": "#999999",
    "(f)": "#cccccc",
    "(f′)": "#cccccc",
    "(b)": "#db2828",
    "(c)": "#21ba45",
    "(c′)": "#21ba45",
}
"""By case: the yardsticks grey, the inline call red, this app green (worker) or blue."""


def checkout(results: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [row for row in results["rows"] if row["section"] == "checkout"]
    databases = list(dict.fromkeys(row["database"] for row in rows))
    cases = list(dict.fromkeys(row["case"] for row in rows))
    figure, axes = plt.subplots(1, len(databases), figsize=(5.5 * len(databases), 4), squeeze=False)
    for axis, database in zip(axes[0], databases, strict=True):
        mine = {row["case"]: row["values"] for row in rows if row["database"] == database}
        medians = [mine[case]["median_ms"] for case in cases]
        p99s = [mine[case]["p99_ms"] for case in cases]
        positions = range(len(cases))
        axis.bar(
            positions,
            medians,
            color=[COLOURS.get(case.split(" ", 1)[0], "#2185d0") for case in cases],
        )
        axis.scatter(positions, p99s, marker="_", s=400, color="black", label="p99", zorder=3)
        axis.set_yscale("log")
        axis.set_xticks(list(positions), [case.split(" ", 1)[0] for case in cases])
        axis.set_title(f"{database}: one paid-order save, ms (log)")
        for position, median in zip(positions, medians, strict=True):
            axis.annotate(f"{median:.1f}", (position, median), ha="center", va="bottom")
        axis.legend(loc="upper left")
    figure.text(
        0.5,
        0.01,
        "(a) bare save  (f) floor: one more row  (f′) with the adapter, a known id skipped"
        "  (b) inline requests.post\n(c) this app, worker  (c′) with the README's refunds"
        "  (d) this app, on_commit; FirstPromoter 150 ms away",
        ha="center",
        fontsize=8,
    )
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
