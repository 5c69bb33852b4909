"""5. Memory: the peak resident memory of one worker draining a backlog ten times
bigger than another: it should not grow with the backlog."""

from __future__ import annotations

from bench.backlog import make_backlog, start_worker, wait_watching_memory
from bench.common import Row, sandbox


def run(database: str, small: bool) -> list[Row]:
    rows = []
    with sandbox():
        for size in (300, 1_000) if small else (10_000, 100_000):
            make_backlog(size, f"memory-{size}")
            seconds, peak = wait_watching_memory(start_worker())
            values: dict[str, float | int | str] = {
                "sales": size,
                "peak_rss_mb": round(peak, 1),
                "seconds": round(seconds),
            }
            rows.append(Row("memory", f"1 worker draining {size:,}", database, values))
    smaller, bigger = (float(row.values["peak_rss_mb"]) for row in rows)
    rows[-1].target = "flat: within 10 % of the smaller backlog's"
    rows[-1].met = bigger <= 1.1 * smaller
    return rows
