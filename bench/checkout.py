"""1. Checkout cost: the wall time of one paid-order save, commit included, with no
integration, the usual inline call, and this app in its two in-request modes."""

from __future__ import annotations

import statistics

from bench.common import Row, sandbox, timing_ms
from bench.orders import CASES, integration, time_saves

LATENCY_MS = 150


def run(database: str, small: bool) -> list[Row]:
    saves = 20 if small else 1000
    rows = []
    medians = {}
    with sandbox(latency_ms=LATENCY_MS) as running:
        for case, label in CASES.items():
            with integration(case, running.base_url(2)):
                durations = time_saves(saves)
            medians[case] = statistics.median(durations)
            values: dict[str, float | int | str] = {"saves": saves, **timing_ms(durations)}
            rows.append(Row("checkout", label, database, values))
    bare = medians["a"]
    for row, case in zip(rows, CASES, strict=True):
        row.values["x_bare"] = round(medians[case] / bare, 2)
        row.values["added_ms"] = round((medians[case] - bare) * 1000, 3)
        if case == "c":
            row.target = "< 1.5x bare, < 3 ms added"
            row.met = medians[case] / bare < 1.5 and (medians[case] - bare) * 1000 < 3
    rows[0].note = f"sandbox latency {LATENCY_MS} ms"
    return rows
