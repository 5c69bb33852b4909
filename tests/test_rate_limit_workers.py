"""Three worker processes, one RATE_LIMIT, shared through the database (no cache
configured, as the README's settings) or through Redis: against a sandbox that
answers 429 over its own per-minute limit, no minute goes over, no call is refused,
and the backlog still drains at nearly the limit.

A per-minute limit takes more than a minute to test: the backlog is more than the
limit, so that senders without a shared limit would be refused."""

from __future__ import annotations

import datetime
import signal
import uuid
from bisect import bisect_left
from pathlib import Path

import pytest
from django.db import connection

from django_firstpromoter.models import RateLimitSlot, Sale
from django_firstpromoter.sandbox import Sandbox
from django_firstpromoter.sandbox.faults import Faults
from django_firstpromoter.statuses import DeliveryStatus
from tests.factories import make_sales
from tests.waiting import poll
from tests.workers import start_worker

SANDBOX_LIMIT = 600
"""Calls per minute the sandbox admits, as FirstPromoter admits 400."""
RATE_LIMIT = 570
"""The workers' shared limit: a margin under it, as the default 380 is under 400."""
BACKLOG = 700
WINDOW = datetime.timedelta(seconds=60)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="worker processes share the test database on PostgreSQL only",
    ),
]


def most_in_any_minute(times: list[datetime.datetime]) -> int:
    """The most calls in any sliding 60 s, each window starting at a call."""
    times = sorted(times)
    return max(bisect_left(times, start + WINDOW) - index for index, start in enumerate(times))


def arrival(at: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(at.replace("Z", "+00:00"))


# How the workers share the limit: the FIRSTPROMOTER they are given, and their
# environment (tests/settings.py makes their cache from CACHE_URL).
SHARED_THROUGH = {
    # No RATE_LIMIT_CACHE, and a cache of each process's own: only the database is shared.
    "database slots (no cache configured)": ({}, {"CACHE_URL": "locmemcache://"}),
    "Redis": (
        {"RATE_LIMIT_CACHE": "default"},
        {"CACHE_URL": "redis://127.0.0.1:6379/0", "CACHE_KEY_PREFIX": f"{uuid.uuid4()}"},
    ),
}


@pytest.mark.parametrize("shared_through", SHARED_THROUGH)
def test_three_workers_hold_one_rate_limit_and_still_drain_near_it(
    shared_through: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    limiter, env = SHARED_THROUGH[shared_through]
    make_sales(BACKLOG, ref_id="alice")
    with Sandbox(faults=Faults(rate_limit=SANDBOX_LIMIT)) as sandbox:
        settings = {"BASE_URL": sandbox.base_url(2), "RATE_LIMIT": RATE_LIMIT, **limiter}
        logs = [tmp_path / f"worker-{n}.log" for n in range(3)]
        workers = [start_worker(settings, log, "--threads", "2", env=env) for log in logs]
        try:
            # What is untracked after the deadline is reported below, by the counts.
            poll(
                lambda: not Sale.objects.exclude(status=DeliveryStatus.TRACKED).exists(),
                3 * BACKLOG * 60 / RATE_LIMIT,
                interval=1,
            )
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            exit_codes = [worker.wait(timeout=30) for worker in workers]
        calls = [arrival(request.at) for request in sandbox.requests]
        refused = [request for request in sandbox.requests if request.status == 429]

    tracked = Sale.objects.filter(status=DeliveryStatus.TRACKED).count()
    busiest = most_in_any_minute(calls)
    drained_per_minute = (len(calls) - 1) / (max(calls) - min(calls)).total_seconds() * 60
    with capsys.disabled():
        print(
            f"\n3 workers sharing {shared_through}, "
            f"RATE_LIMIT {RATE_LIMIT}/min against a sandbox admitting "
            f"{SANDBOX_LIMIT}/min: {tracked} of {BACKLOG} tracked, {len(refused)} refused (429), "
            f"busiest minute {busiest} calls, drained at {drained_per_minute:.0f}/min "
            f"({drained_per_minute / SANDBOX_LIMIT:.0%} of the sandbox's limit)"
        )
    assert exit_codes == [0, 0, 0], [log.read_text()[-2000:] for log in logs]
    assert tracked == BACKLOG
    assert refused == []
    assert busiest <= RATE_LIMIT
    assert drained_per_minute >= 0.9 * SANDBOX_LIMIT
    # The slots were where the case says.
    assert RateLimitSlot.objects.exists() == (shared_through != "Redis")
