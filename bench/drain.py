"""3. Drain rate: how fast workers send a backlog of due sales, what each sale costs
in CPU and queries, what threads buy when FirstPromoter is 100 ms away, and how
close three workers get to FirstPromoter's rate limit without a 429."""

from __future__ import annotations

import datetime
import resource
import signal
import uuid

from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.backlog import PATIENCE, make_backlog, start_worker, unsettled, wait_watching_memory
from bench.common import Row, firstpromoter, sandbox
from django_firstpromoter.conf import get_config
from django_firstpromoter.worker import Worker
from tests.waiting import wait_until

FIRSTPROMOTER_LIMIT = 400
"""Calls a minute FirstPromoter allows an account on v2; the sandbox answers 429 above."""


def arrival(at: str) -> float:
    return datetime.datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_worker(database: str, backlog: int) -> list[Row]:
    with sandbox():
        make_backlog(backlog, "zero")
        cpu_before = children_cpu_seconds()
        seconds, _ = wait_watching_memory(start_worker())
        cpu = children_cpu_seconds() - cpu_before
        sample = min(200, backlog)
        make_backlog(sample, "queries")
        with CaptureQueriesContext(connection) as queries:
            Worker(get_config()).run()
    values: dict[str, float | int | str] = {
        "sales": backlog,
        "sales_per_s": round(backlog / seconds, 1),
        "cpu_ms_per_sale": round(cpu * 1000 / backlog, 2),
        "queries_per_sale": round(len(queries) / sample, 2),
    }
    return [Row("drain", "1 worker, FirstPromoter 0 ms away", database, values)]


def threads(database: str, backlog: int) -> list[Row]:
    rows = []
    with sandbox(latency_ms=100):
        for count in (1, 4, 16):
            make_backlog(backlog, f"threads-{count}")
            seconds, _ = wait_watching_memory(start_worker("--threads", str(count)))
            values: dict[str, float | int | str] = {
                "sales": backlog,
                "sales_per_s": round(backlog / seconds, 1),
            }
            rows.append(Row("drain", f"--threads {count}, 100 ms away", database, values))
    return rows


def at_the_rate_limit(database: str, backlog: int) -> list[Row]:
    """Three ``--loop`` workers sharing one RATE_LIMIT through Redis, told the
    account's real limit: this measures how close the limiter gets to it. The
    default, 380, leaves the rest of the 400 to the account's other API calls."""
    redis = {
        "BENCH_CACHE_URL": "redis://127.0.0.1:6379/0",
        "BENCH_CACHE_KEY_PREFIX": f"{uuid.uuid4()}",
    }
    with (
        sandbox(rate_limit=FIRSTPROMOTER_LIMIT) as running,
        # Named: with no RATE_LIMIT_CACHE the workers would share the database's slots.
        firstpromoter(RATE_LIMIT=FIRSTPROMOTER_LIMIT, RATE_LIMIT_CACHE="default"),
    ):
        make_backlog(backlog, "limit")
        workers = [start_worker("--loop", "--threads", "2", env=redis) for _ in range(3)]
        try:
            wait_until(
                lambda: not unsettled(),
                PATIENCE,
                f"3 workers to drain {backlog} sales at {FIRSTPROMOTER_LIMIT}/min",
                interval=0.5,
            )
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
                worker.wait()
        calls = list(running.requests)
    times = sorted(arrival(call.at) for call in calls)
    per_minute = (len(times) - 1) / (times[-1] - times[0]) * 60
    refused = sum(call.status == 429 for call in calls)
    fraction = per_minute / FIRSTPROMOTER_LIMIT
    values: dict[str, float | int | str] = {
        "sales": backlog,
        "per_minute": round(per_minute),
        "of_limit": round(fraction, 3),
        "429s": refused,
    }
    row = Row("drain", f"3 workers, limit {FIRSTPROMOTER_LIMIT}/min", database, values)
    row.target = ">= 0.95 of the limit, no 429"
    row.met = fraction >= 0.95 and refused == 0
    return [row]


def run(database: str, small: bool) -> list[Row]:
    return [
        *one_worker(database, 300 if small else 10_000),
        *threads(database, 20 if small else 300),
        *at_the_rate_limit(database, 30 if small else 800),
    ]
