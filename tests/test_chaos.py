"""Everything breaks at once, and no sale or refund is lost or counted twice.

2,000 paid orders, a fifth of them then partly refunded; a sandbox that answers 5xx,
times out, loses answers after recording the sale or refund, and refuses calls over
its rate limit with 429; three worker processes on PostgreSQL, one of them killed
(SIGKILL) in the middle of sending and replaced by a fresh one. The workers are
configured through settings only: a short TIMEOUT and RETRY_BACKOFF, and no rate
limit of their own, so the sandbox's 429s are met. A refund must reach FirstPromoter
after its sale, never before.
"""

from __future__ import annotations

import datetime
import signal
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from django_firstpromoter.models import Refund, Sale, SaleAttempt
from django_firstpromoter.sandbox import Sandbox
from django_firstpromoter.sandbox.faults import Faults
from django_firstpromoter.statuses import DeliveryStatus
from tests.orders import pay_order
from tests.waiting import poll, wait_until
from tests.workers import start_worker

ORDERS = 2000
KILL_AFTER_REQUESTS = 400
DRAIN_SECONDS = 300

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "connection.vendor != 'postgresql'",
        reason="the chaos test runs worker processes on PostgreSQL (DATABASE_URL=postgres://...)",
    ),
]


def place_orders(sandbox: Sandbox) -> tuple[dict[str, str], dict[str, str]]:
    """The paid orders (``tests.orders``) and the refunds of every fifth of them, each
    event id with what FirstPromoter should make of it."""
    expected: dict[str, str] = {}
    refunds: dict[str, str] = {}
    for n in range(ORDERS):
        order, status = pay_order(sandbox, n)
        expected[f"order-{order.pk}"] = status
        if n % 5 == 0:
            order.refunded = Decimal("5.00")
            order.save()
            refunds[f"order-{order.pk}-refunded-5.00"] = expected[f"order-{order.pk}"]
    return expected, refunds


def overlapping_sends() -> int:
    """Sales with two attempts in flight at the same time, as their senders saw them."""
    overlaps = 0
    last_end: dict[int, datetime.datetime] = {}
    for sale_id, started_at, duration_ms in SaleAttempt.objects.order_by(
        "sale_id", "started_at"
    ).values_list("sale_id", "started_at", "duration_ms"):
        if sale_id in last_end and started_at < last_end[sale_id]:
            overlaps += 1
        last_end[sale_id] = started_at + datetime.timedelta(milliseconds=duration_ms)
    return overlaps


def drained() -> bool:
    waiting = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
    return not (
        Sale.objects.filter(status__in=waiting).exists()
        or Refund.objects.filter(status__in=waiting).exists()
    )


def test_chaos_loses_nothing_and_counts_nothing_twice(
    tmp_path: Path, settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert connection.vendor == "postgresql"
    faults = Faults(
        latency_ms=5,
        error_rate=0.1,
        timeout_rate=0.03,
        lost_rate=0.05,
        rate_limit=1500,
        hold_seconds=1.5,
    )
    with Sandbox(faults=faults, seed=4) as sandbox:
        worker_settings = {
            "BASE_URL": sandbox.base_url(2),
            "DELIVERY": "worker",
            "TIMEOUT": 0.5,
            "RETRY_BACKOFF": 0.2,
            "MAX_ATTEMPTS": 30,
        }
        settings.FIRSTPROMOTER = {
            **settings.FIRSTPROMOTER,
            **worker_settings,
            "REFUND_FROM_ORDER": "tests.shop.firstpromoter.refund_from_order",
        }
        expected, expected_refunds = place_orders(sandbox)
        started = time.monotonic()
        logs = [tmp_path / f"worker-{n}.log" for n in range(4)]
        workers = [
            start_worker(worker_settings, log, "--threads", "4", "--interval", "0.2")
            for log in logs[:3]
        ]
        try:
            wait_until(
                lambda: len(sandbox.requests) >= KILL_AFTER_REQUESTS,
                DRAIN_SECONDS,
                f"{KILL_AFTER_REQUESTS} calls before killing a worker",
            )
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait()
            workers.append(start_worker(worker_settings, logs[3], "--threads", "4"))
            # What is still pending after the deadline is reported below, as stuck.
            poll(drained, DRAIN_SECONDS, interval=1)
            drained_in = time.monotonic() - started
        finally:
            workers[0].kill()  # killed above, unless the wait for it timed out
            workers[0].wait()
            for worker in workers[1:]:
                worker.send_signal(signal.SIGTERM)
            exit_codes = [worker.wait(timeout=30) for worker in workers[1:]]

        statuses = dict(Sale.objects.values_list("event_id", "status"))
        refund_statuses = dict(Refund.objects.values_list("event_id", "status"))
        counted = Counter(event.event_id for event in sandbox.sales)
        refunds_counted = Counter(event.event_id for event in sandbox.refunds)
        # FirstPromoter's ids grow with time: a refund's must be above its sale's.
        sale_ids = {event.event_id: event.id for event in sandbox.sales}
        refunded_first = [
            event.event_id
            for event in sandbox.refunds
            if event.id < sale_ids.get(event.event_id.rsplit("-refunded-", 1)[0], 0)
        ]
        faults_met = Counter(request.fault or str(request.status) for request in sandbox.requests)

    lost = [event_id for event_id, status in statuses.items() if status != expected[event_id]]
    counted_twice = [event_id for event_id, times in counted.items() if times > 1]
    never_counted = [
        event_id
        for event_id, status in expected.items()
        if status == DeliveryStatus.TRACKED and event_id not in counted
    ]
    stuck = [
        event_id
        for event_id, status in statuses.items()
        if status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
    ]
    refunds_lost = [
        event_id
        for event_id, status in expected_refunds.items()
        if refund_statuses.get(event_id) != status
        or (status == DeliveryStatus.TRACKED and event_id not in refunds_counted)
    ]
    refunds_twice = [event_id for event_id, times in refunds_counted.items() if times > 1]
    overlaps = overlapping_sends()
    with capsys.disabled():
        print(
            f"\nchaos: {len(statuses)} sales drained in {drained_in:.0f} s by 3 workers "
            f"(one killed, one fresh): {Counter(statuses.values())}; "
            f"{len(sandbox.requests)} calls met {dict(faults_met)}; "
            f"lost {len(lost) + len(never_counted)}, counted twice {len(counted_twice)}, "
            f"stuck {len(stuck)}, sent twice at once {overlaps}; "
            f"{len(refund_statuses)} refunds: {Counter(refund_statuses.values())}, "
            f"lost {len(refunds_lost)}, counted twice {len(refunds_twice)}, "
            f"sent before their sale {len(refunded_first)}"
        )
    assert len(statuses) == ORDERS
    assert lost == [] and never_counted == []
    assert counted_twice == []
    assert stuck == []
    assert overlaps == 0
    assert len(refund_statuses) == len(expected_refunds)
    assert refunds_lost == [] and refunds_twice == [] and refunded_first == []
    assert sum(counted.values()) == sum(s == DeliveryStatus.TRACKED for s in expected.values())
    assert exit_codes == [0, 0, 0], [log.read_text()[-2000:] for log in logs[1:]]
    # The faults were really met, the killed worker's included.
    assert {"error", "timeout", "lost", "rate_limit"} <= set(faults_met)
