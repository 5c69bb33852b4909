"""2. Checkout during an outage: FirstPromoter hanging (answering after 30 s) or
refusing connections. The inline call blocks or fails the checkout; this app with
the worker must not notice."""

from __future__ import annotations

import socket
import time

from bench.common import Row, sandbox, timing_ms
from bench.orders import CASES, integration, pay

HANG_MS = 30_000
SMALL_HANG_MS = 3_000
"""A smoke run (``--small``) hangs for less: it checks the section, not the numbers."""


def closed_port() -> int:
    """A loopback port nobody listens on: connections to it are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure(case: str, base_url: str, saves: int) -> tuple[list[float], int]:
    """Each checkout's seconds, and how many raised into the shop's code."""
    durations, failed = [], 0
    with integration(case, base_url):
        if case == "c":
            pay()  # warm up; the others take seconds each, which a warm-up cannot change
        for _ in range(saves):
            started = time.perf_counter()
            try:
                pay()
            except Exception:
                failed += 1
            durations.append(time.perf_counter() - started)
    return durations, failed


def run(database: str, small: bool) -> list[Row]:
    rows = []
    hang_ms = SMALL_HANG_MS if small else HANG_MS
    with sandbox(latency_ms=hang_ms, hold_seconds=hang_ms / 1000) as hanging:
        outages = {
            f"hanging {hang_ms // 1000} s": hanging.base_url(2),
            "refusing connections": f"http://127.0.0.1:{closed_port()}/api/v2/track",
        }
        for outage, base_url in outages.items():
            for case in ("b", "c", "d"):
                slow = case != "c" and outage.startswith("hanging")
                saves = (1 if small else 3) if slow else (20 if small else 200)
                durations, failed = measure(case, base_url, saves)
                values: dict[str, float | int | str] = {"saves": saves, **timing_ms(durations)}
                values["failed"] = failed
                row = Row("outage", f"{CASES[case]}, {outage}", database, values)
                if case == "c":
                    row.target = "as without an outage"
                rows.append(row)
    return rows
