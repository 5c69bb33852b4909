"""6. The rate limit's cost: what one ``acquire`` costs a sender, with the slots in
the database (no cache configured), in Redis, and with no limit, side by side.

Only the limiter's own work is timed, not the wait it is for: each call starts
just after a slot begins. "free slot" is a call under the limit (one ``add``), as
a lone sale's is; "slot taken" finds the current slot another sender's (an
``add``, a ``get_many`` of the next slots, an ``add``), as a backlog's calls do,
and its sleep until the next slot is skipped. Each call comes after a pause, as a
sender's does: in a tight loop both stores answer several times faster, their
servers not having to wake up. A slot is 10 ms here, so the table holds about 500
live slots, more than the default limit's 40: if anything, the ``COUNT(*)`` the
database cache makes before each ``add`` costs more here than at 380 a minute.
``of_slot`` is the median as a share of the default limit's slot (0.16 s).
"""

from __future__ import annotations

import statistics
import time
import types
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from unittest import mock

import redis
from django.test.utils import override_settings

from bench.common import Row, timing_ms
from django_firstpromoter import ratelimit
from django_firstpromoter.ratelimit import RateLimiter

REDIS_URL = "redis://127.0.0.1:6379/0"
SLOT_SECONDS = 0.01
LIMIT = round(ratelimit.MINUTE / SLOT_SECONDS) + 1
DEFAULT_SLOT_SECONDS = (ratelimit.MINUTE + ratelimit.ARRIVAL_SPREAD_SECONDS) / (380 - 1)


def redis_is_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@contextmanager
def redis_alias() -> Iterator[str]:
    """A Redis cache of its own, under an alias the limiter is given."""
    cache = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"bench-{uuid.uuid4().hex}",
    }
    with override_settings(CACHES={"default": cache, "limits": cache}):
        yield "limits"


def next_slot_start() -> None:
    """Sleep until just after the next slot begins, so that it is free."""
    now = time.time()
    time.sleep(SLOT_SECONDS - now % SLOT_SECONDS + SLOT_SECONDS / 20)


def free_slot(limiter: RateLimiter, other: RateLimiter) -> float:
    next_slot_start()
    started = time.perf_counter()
    limiter.acquire()
    return time.perf_counter() - started


def slot_taken(limiter: RateLimiter, other: RateLimiter) -> float:
    next_slot_start()
    other.acquire()  # the current slot, another sender's
    no_wait = types.SimpleNamespace(time=time.time, sleep=lambda seconds: None)
    with mock.patch.object(ratelimit, "time", no_wait):
        started = time.perf_counter()
        limiter.acquire()
        elapsed = time.perf_counter() - started
    next_slot_start()  # past the slot it took, so the next call starts afresh
    return elapsed


PATHS: dict[str, Callable[[RateLimiter, RateLimiter], float]] = {
    "free slot": free_slot,
    "slot taken": slot_taken,
}


def measure(alias: str | None, limit: int | None, path: str, calls: int) -> list[float]:
    limiter, other = RateLimiter(limit, alias), RateLimiter(limit, alias)
    measured = PATHS[path]
    measured(limiter, other)  # warm up: the connection, the first query
    return [measured(limiter, other) for _ in range(calls)]


def run(database: str, small: bool) -> list[Row]:
    calls = 20 if small else 500
    rows = []
    for path in PATHS:
        medians: dict[str, float] = {}
        cases: dict[str, list[float]] = {
            "no limit": measure(None, None, path, calls),
            "database slots": measure(None, LIMIT, path, calls),
        }
        if redis_is_up():
            with redis_alias() as alias:
                cases["Redis"] = measure(alias, LIMIT, path, calls)
        for case, seconds in cases.items():
            medians[case] = statistics.median(seconds)
            values: dict[str, float | int | str] = {"calls": calls, **timing_ms(seconds)}
            rows.append(Row("ratelimit", f"{case}, {path}", database, values))
        for row, case in zip(rows[-len(cases) :], cases, strict=True):
            if "Redis" in medians:
                row.values["x_redis"] = round(medians[case] / medians["Redis"], 2)
            row.values["added_ms"] = round((medians[case] - medians["no limit"]) * 1000, 3)
            row.values["of_slot"] = round(medians[case] / DEFAULT_SLOT_SECONDS, 4)
        if "Redis" not in medians:
            rows[-1].note = f"no Redis at {REDIS_URL}"
    return rows
