"""``DELIVERY = "task"`` with a real worker: django-tasks-db's ``db_worker``, in its own
process on the test database, sends the sales this process records to a sandbox over
loopback, as a shop's worker would."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django_tasks_db.models import DBTaskResult

from django_firstpromoter.models import Sale
from django_firstpromoter.sandbox import Sandbox
from django_firstpromoter.statuses import DeliveryStatus
from tests.shop.models import Order
from tests.waiting import wait_until
from tests.workers import ROOT, worker_environment

pytestmark = pytest.mark.django_db(transaction=True)

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# A worker should pick a task up within a second or two; this only bounds a broken run.
PATIENCE = 60.0


class Worker:
    def __init__(self, log: Path) -> None:
        self.log = log

    def wait_for(self, what: str, condition: Callable[[], bool]) -> None:
        wait_until(condition, PATIENCE, lambda: f"the worker to {what}:\n{self.log.read_text()}")


@pytest.fixture
def worker(
    firstpromoter_sandbox: Sandbox, settings: Any, tmp_path: Path, transactional_db: None
) -> Iterator[Worker]:
    """``manage.py db_worker`` on the test database; this process queues on the same one."""
    settings.TASKS = TASKS
    settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, "DELIVERY": "task", "RETRY_BACKOFF": 1}
    env = worker_environment({}, tasks=TASKS)
    log = tmp_path / "worker.log"
    command = [sys.executable, "-m", "django", "db_worker", "--interval", "0.1"]
    command += ["--no-startup-delay", "--no-reload", "--verbosity", "2"]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        yield Worker(log)
    finally:
        # Before the test's database is flushed (and, on PostgreSQL, dropped). How
        # db_worker exits is its own business: the tests check what it delivered.
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def pay(sandbox: Sandbox, email: str) -> Sale:
    order = Order.objects.create(
        email=email, total=Decimal("25"), paid=True, referral_tid=sandbox.click("alice")
    )
    return Sale.objects.get(event_id=f"order-{order.pk}")


def statuses(sales: list[Sale]) -> list[str]:
    return [Sale.objects.get(pk=sale.pk).status for sale in sales]


@pytest.mark.slow
def test_the_worker_sends_each_paid_sale_once(
    worker: Worker, firstpromoter_sandbox: Sandbox
) -> None:
    sales = [pay(firstpromoter_sandbox, f"buyer{n}@example.com") for n in range(3)]

    worker.wait_for("send the sales", lambda: set(statuses(sales)) == {DeliveryStatus.TRACKED})
    assert sorted(event.event_id for event in firstpromoter_sandbox.sales) == sorted(
        sale.event_id for sale in sales
    )
    assert {event.promoter for event in firstpromoter_sandbox.sales} == {"alice"}
    assert len(firstpromoter_sandbox.requests) == 3
    done = DBTaskResult.objects.filter(status="SUCCESSFUL")
    worker.wait_for("record its results", lambda: done.count() == 3)
    assert list(done.values_list("return_value", flat=True)) == ["tracked"] * 3


@pytest.mark.slow
def test_the_worker_retries_when_the_deferred_task_is_due(
    worker: Worker, firstpromoter_sandbox: Sandbox
) -> None:
    firstpromoter_sandbox.faults.error_rate = 1.0
    sale = pay(firstpromoter_sandbox, "buyer@example.com")
    deferred = DBTaskResult.objects.filter(status="READY").exclude(run_after__year=9999)
    worker.wait_for("try once and queue the retry", deferred.exists)
    firstpromoter_sandbox.faults.error_rate = 0.0
    sale.refresh_from_db()
    assert (sale.status, sale.attempt_count) == (DeliveryStatus.PENDING, 1)
    (retry,) = deferred
    assert retry.task_path == "django_firstpromoter.tasks.deliver_sale"
    assert retry.args_kwargs == {"args": [sale.pk], "kwargs": {}}
    assert retry.run_after == sale.next_attempt_at

    worker.wait_for("retry", lambda: statuses([sale]) == [DeliveryStatus.TRACKED])
    sale.refresh_from_db()
    assert sale.attempt_count == 2
    assert [request.status for request in firstpromoter_sandbox.requests] == [500, 200]
