"""Celery through ``ENQUEUE`` and ``contrib.celery``, run as the README says: two
workers and beat on Redis, PostgreSQL, orders paid while they run, a sandbox that
answers 500 to a tenth of the calls and loses the answer to a twentieth after
counting the sale; one worker killed outright (SIGKILL to its whole process group)
and replaced, and one pool process of the other killed under its task. Every sale
ends as FirstPromoter should have it, once, and no record waits past its due time
by more than the sweep's margin and period."""

from __future__ import annotations

import datetime
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from django_firstpromoter.models import Sale
from django_firstpromoter.monitoring import OVERDUE_AFTER
from django_firstpromoter.sandbox import Sandbox
from django_firstpromoter.sandbox.faults import Faults
from django_firstpromoter.statuses import WAITING, DeliveryStatus
from tests import celery_app
from tests.orders import pay_order
from tests.settings import CELERY_BEAT_SCHEDULE
from tests.waiting import poll, wait_until
from tests.workers import ROOT, worker_environment

ORDERS = 300
DRAIN_SECONDS = 240
SWEEP_PERIOD: float = CELERY_BEAT_SCHEDULE["django_firstpromoter.sweep"]["schedule"]
# A record may wait this long past its due time (pending: the sweep's margin too) or
# its lease (sending): the sweep's period, and a little for a loaded machine.
LATE_AT_MOST = datetime.timedelta(seconds=SWEEP_PERIOD + 15)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(DRAIN_SECONDS + 120),
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "connection.vendor != 'postgresql'",
        reason="Celery's workers share the test database on PostgreSQL (DATABASE_URL=postgres://...)",
    ),
]


def start_celery(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``celery -A <the shop's app> <args>``, in a process group of its own so that
    the whole worker, pool included, can be killed at once."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.celery_app", *args],
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return start_celery("worker", "--concurrency", "2", "--loglevel", "INFO", env=env, log=log)


def pool_of(worker: subprocess.Popen[bytes]) -> list[int]:
    """The worker's pool processes, which run its tasks."""
    found = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def too_late() -> list[tuple[str, str, datetime.datetime]]:
    """Records waiting (pending, or sending under a lease) for longer past their due
    time, or their lease's end, than the sweep lets them."""
    late_by = timezone.now() - LATE_AT_MOST
    late = Q(status=DeliveryStatus.PENDING, next_attempt_at__lt=late_by - OVERDUE_AFTER) | Q(
        status=DeliveryStatus.SENDING, next_attempt_at__lt=late_by
    )
    return list(Sale.objects.filter(late).values_list("event_id", "status", "next_attempt_at"))


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_celery_workers_lose_nothing_and_count_nothing_twice(
    tmp_path: Path, settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert connection.vendor == "postgresql"
    # This process queues on the shop's app, as its web processes do (Celery's Django
    # guide has proj/__init__.py import proj/celery.py), whichever test made another
    # app current before.
    celery_app.app.set_current()
    celery_app.app.set_default()
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    faults = Faults(latency_ms=50, error_rate=0.1, lost_rate=0.05)
    with Sandbox(faults=faults, seed=16) as sandbox:
        firstpromoter = {
            "BASE_URL": sandbox.base_url(2),
            "DELIVERY": "task",
            "ENQUEUE": "django_firstpromoter.contrib.celery.enqueue",
            "TIMEOUT": 1,
            "RETRY_BACKOFF": 1,
            "MAX_ATTEMPTS": 30,
        }
        settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, **firstpromoter}
        env = worker_environment(firstpromoter)
        logs = [tmp_path / name for name in ("worker-1.log", "worker-2.log", "worker-3.log")]
        beat_log = tmp_path / "beat.log"
        workers = [start_worker(env, log) for log in logs[:2]]
        beat = start_celery(
            "beat",
            "--schedule",
            str(tmp_path / "beat-schedule"),
            "--loglevel",
            "INFO",
            env=env,
            log=beat_log,
        )
        started = time.monotonic()
        expected: dict[str, str] = {}
        late: list[Any] = []
        killed_in_pool = 0
        try:
            for n in range(ORDERS):
                order, status = pay_order(sandbox, n)
                expected[f"order-{order.pk}"] = status
                if n == ORDERS // 3:
                    # Once both workers are sending, so that the killed one holds some.
                    wait_until(lambda: len(sandbox.requests) >= ORDERS // 4, 60, "calls")
                    # A whole worker dies (the OOM killer, a lost machine): what it held
                    # unacknowledged comes back only after Redis's visibility timeout.
                    os.killpg(workers[0].pid, signal.SIGKILL)
                    workers[0].wait()
                    workers.append(start_worker(env, logs[2]))
                if n == ORDERS // 2:
                    wait_until(lambda: len(sandbox.requests) >= ORDERS // 3, 60, "calls")
                    # A pool process dies under its task: the worker gives the task back.
                    for pid in pool_of(workers[1])[:1]:
                        os.kill(pid, signal.SIGKILL)
                        killed_in_pool += 1
                time.sleep(0.01)
            placed_in = time.monotonic() - started

            def settled() -> bool:
                late.extend(too_late())
                return not Sale.objects.filter(status__in=WAITING).exists()

            poll(settled, DRAIN_SECONDS, interval=1)
            drained_in = time.monotonic() - started
        finally:
            stop([*workers, beat])

        statuses = dict(Sale.objects.values_list("event_id", "status"))
        attempts = sum(Sale.objects.values_list("attempt_count", flat=True))
        counted = Counter(event.event_id for event in sandbox.sales)
        faults_met = Counter(request.fault or str(request.status) for request in sandbox.requests)
        sweeps = beat_log.read_text().count("Sending due task django_firstpromoter.sweep")
        # The worker logs each sweep's answer: how many records it queued again.
        requeued = sum(
            int(found)
            for log in logs
            for found in re.findall(
                r"django_firstpromoter\.sweep\[[^]]+\] succeeded in [^:]+: (\d+)",
                log.read_text(),
            )
        )

    wrong = [event_id for event_id, status in statuses.items() if status != expected[event_id]]
    counted_twice = [event_id for event_id, times in counted.items() if times > 1]
    never_counted = [
        event_id
        for event_id, status in expected.items()
        if status == DeliveryStatus.TRACKED and event_id not in counted
    ]
    stuck = [event_id for event_id, status in statuses.items() if status in WAITING]
    with capsys.disabled():
        print(
            f"\ncelery (ENQUEUE, contrib.celery): {ORDERS} orders placed in {placed_in:.0f} s "
            f"and settled in {drained_in:.0f} s by 2 workers (one killed, one fresh, "
            f"{killed_in_pool} pool process killed), beat sweeping every {SWEEP_PERIOD:g} s "
            f"({sweeps} sweeps, {requeued} records queued again): "
            f"{dict(Counter(statuses.values()))}; {attempts} attempts, "
            f"{len(sandbox.requests)} calls met {dict(faults_met)}; wrong {len(wrong)}, "
            f"never counted {len(never_counted)}, counted twice {len(counted_twice)}, "
            f"stuck {len(stuck)}, late {len(set(late))}"
        )
    assert len(statuses) == ORDERS
    assert stuck == [], [log.read_text()[-3000:] for log in logs]
    assert wrong == [] and never_counted == []
    assert counted_twice == []
    assert set(late) == set()
    assert {"error", "lost"} <= set(faults_met)
    assert killed_in_pool == 1
    assert sweeps > 0
