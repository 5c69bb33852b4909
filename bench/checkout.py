"""1. Checkout cost: the wall time of one paid-order save, commit included, with no
integration, with one more row and nothing else (the floor), that row with the
shop's adapter and a known id skipped (what no recording of the sale can leave out),
the usual inline call, and this app in its two in-request modes.

The cases take turns, a round of saves each, so that whatever else the machine does
meanwhile falls on all of them alike; their medians are compared within the run."""

from __future__ import annotations

import statistics

from bench.common import Row, sandbox, timing_ms
from bench.orders import CASES, integration, time_saves

LATENCY_MS = 150
SAVES = 1000
"""Per case, at least: the rounds share them out, rounded up."""
FLOOR_TARGET = 1.3
"""(c)'s added time over the floor's, at most: the app's row, its checks and its
adapter together may cost 30 % more than a hand-written row alone."""
SAME_MS = 0.1
"""How far (c′), the README's whole configuration, may be from (c)."""


CYCLE = len(CASES) if len(CASES) % 2 == 0 else 2 * len(CASES)
"""Rounds in which the design is balanced: for an odd number of cases, Williams's
square and its mirror, since one square alone puts some case right after another
twice and never the other way round."""
ROUNDS = 2 * CYCLE


def order_of(turn: int) -> list[str]:
    """The cases' order in round ``turn``: a Williams design, in which over each
    ``CYCLE`` rounds every case comes at every place and right after every other case
    equally often. Rotating one order left each case always after the same one, and
    on PostgreSQL whichever came just before (d) was measured slower for it."""
    names = list(CASES)
    count = len(names)
    base = [0]
    for step in range(1, count):
        base.append((step + 1) // 2 if step % 2 else count - step // 2)
    if turn % CYCLE >= count:
        base.reverse()
    return [names[(place + turn) % count] for place in base]


def run(database: str, small: bool) -> list[Row]:
    rounds = 2 if small else ROUNDS
    saves = -(-(20 if small else SAVES) // rounds)
    durations: dict[str, list[float]] = {case: [] for case in CASES}
    with sandbox(latency_ms=LATENCY_MS) as running:
        for turn in range(rounds):
            for case in order_of(turn):
                with integration(case, running.base_url(2)):
                    durations[case] += time_saves(saves, warm_up=3)
    medians = {case: statistics.median(values) for case, values in durations.items()}
    added = {case: (median - medians["a"]) * 1000 for case, median in medians.items()}
    rows = []
    for case, label in CASES.items():
        values: dict[str, float | int | str] = {
            "saves": len(durations[case]),
            **timing_ms(durations[case]),
            "x_bare": round(medians[case] / medians["a"], 2),
            "added_ms": round(added[case], 3),
        }
        row = Row("checkout", label, database, values)
        if case in ("f2", "c", "c2", "d"):
            values["x_floor"] = round(added[case] / added["f"], 2)
        if case == "c":
            row.target = f"added <= {FLOOR_TARGET}x the floor's"
            row.met = added["c"] <= FLOOR_TARGET * added["f"]
        if case == "c2":
            row.target = f"within {SAME_MS} ms of (c)"
            row.met = abs(added["c2"] - added["c"]) <= SAME_MS
        rows.append(row)
    rows[0].note = f"sandbox latency {LATENCY_MS} ms; {rounds} interleaved rounds"
    return rows
