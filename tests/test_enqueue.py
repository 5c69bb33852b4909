"""``DELIVERY = "task"`` on the shop's own queue: ``ENQUEUE`` is called after the
commit and for every retry, for each kind alike, and ``contrib.celery`` is such a
hook. Real Celery workers are in test_engines.py."""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone

from django_firstpromoter import (
    RefundData,
    checks,
    queueing,
    track_cancellation,
    track_refund,
    track_signup,
)
from django_firstpromoter.contrib import celery as fp_celery
from django_firstpromoter.models import Cancellation, Refund, Sale, Signup
from django_firstpromoter.monitoring import OVERDUE_AFTER
from django_firstpromoter.referral import Referral
from django_firstpromoter.sandbox import Sandbox
from django_firstpromoter.statuses import DeliveryStatus
from tests.shop.models import Order

pytestmark = pytest.mark.django_db

HOOK = "tests.test_enqueue.record_job"
jobs: list[tuple[str, int, datetime.datetime | None]] = []


def record_job(kind: str, pk: int, due: datetime.datetime | None) -> None:
    """The shop's queue, as the test sees it."""
    jobs.append((kind, pk, due))


def broken_queue(kind: str, pk: int, due: datetime.datetime | None) -> None:
    raise ConnectionError("the broker is down")


not_callable = 42


@pytest.fixture
def sandbox(firstpromoter_sandbox: Sandbox, settings: Any) -> Sandbox:
    settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, "DELIVERY": "task", "ENQUEUE": HOOK}
    jobs.clear()
    return firstpromoter_sandbox


def pay(sandbox: Sandbox, capture: Any) -> Sale:
    with capture(execute=True):
        order = Order.objects.create(
            email="buyer@example.com",
            total=Decimal("50"),
            paid=True,
            referral_tid=sandbox.click("alice"),
        )
    return Sale.objects.get(event_id=f"order-{order.pk}")


def refund_of(sale: Sale, capture: Any) -> Refund:
    """A committed refund of part of ``sale``."""
    with capture(execute=True):
        track_refund(
            RefundData(
                event_id="r-1", sale_event_id=sale.event_id, amount=Decimal(10), email=sale.email
            )
        )
    return Refund.objects.get()


def run_jobs() -> list[str | None]:
    """Run what was queued and is due, as the shop's worker would."""
    ran = []
    while due := [job for job in jobs if job[2] is None or job[2] <= timezone.now()]:
        for job in due:
            jobs.remove(job)
            ran.append(queueing.deliver(job[0], job[1]))
    return ran


def test_a_sale_is_queued_on_the_shops_queue_after_the_commit(
    sandbox: Sandbox, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        order = Order.objects.create(email="a@example.com", total=Decimal("5"), paid=True)
        assert jobs == []  # nothing is queued before the commit
    for callback in callbacks:
        callback()
    sale = Sale.objects.get(event_id=f"order-{order.pk}")
    assert jobs == [("sale", sale.pk, None)]
    assert run_jobs() == [DeliveryStatus.NOT_REFERRAL]


def test_a_rolled_back_sale_queues_nothing(sandbox: Sandbox) -> None:
    with transaction.atomic():
        Order.objects.create(email="a@example.com", total=Decimal("5"), paid=True)
        transaction.set_rollback(True)
    assert jobs == []


def test_a_retry_is_queued_for_when_it_is_due(
    sandbox: Sandbox, django_capture_on_commit_callbacks: Any
) -> None:
    sale = pay(sandbox, django_capture_on_commit_callbacks)
    jobs.clear()
    sandbox.faults.error_rate = 1.0

    assert queueing.deliver("sale", sale.pk) == DeliveryStatus.PENDING

    sale.refresh_from_db()
    assert jobs == [("sale", sale.pk, sale.next_attempt_at)]
    assert sale.next_attempt_at > timezone.now()


def test_a_job_run_early_queues_itself_again_for_the_due_time(
    sandbox: Sandbox, django_capture_on_commit_callbacks: Any
) -> None:
    sale = pay(sandbox, django_capture_on_commit_callbacks)
    jobs.clear()
    later = timezone.now() + datetime.timedelta(minutes=3)
    Sale.objects.filter(pk=sale.pk).update(next_attempt_at=later)

    assert queueing.deliver("sale", sale.pk) is None

    assert jobs == [("sale", sale.pk, later)]
    assert Sale.objects.get().status == DeliveryStatus.PENDING


def test_refunds_cancellations_and_signups_take_the_same_queue(
    sandbox: Sandbox, django_capture_on_commit_callbacks: Any
) -> None:
    sale = pay(sandbox, django_capture_on_commit_callbacks)
    refund = refund_of(sale, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        cancellation = track_cancellation(email=sale.email)
        track_signup(Referral(tid=sandbox.click("alice")), email="new@example.com")
    signup = Signup.objects.get()
    assert jobs == [
        ("sale", sale.pk, None),
        ("refund", refund.pk, None),
        ("cancellation", cancellation.pk, None),
        ("signup", signup.pk, None),
    ]

    run_jobs()

    for model in (Sale, Refund, Cancellation, Signup):
        assert model.objects.get().status == DeliveryStatus.TRACKED, model
    assert [event.type for event in sandbox.world.events].count("sale") == 1


def test_a_refund_run_before_its_sale_is_queued_again_once_the_sale_is_sent(
    sandbox: Sandbox, django_capture_on_commit_callbacks: Any
) -> None:
    sale = pay(sandbox, django_capture_on_commit_callbacks)
    refund = refund_of(sale, django_capture_on_commit_callbacks)
    jobs.clear()

    assert queueing.deliver("refund", refund.pk) is None  # its sale is not sent yet
    assert jobs == []
    assert queueing.deliver("sale", sale.pk) == DeliveryStatus.TRACKED
    assert jobs == [("refund", refund.pk, None)]
    assert run_jobs() == [DeliveryStatus.TRACKED]


def test_the_sweep_queues_overdue_records_on_the_shops_queue(
    sandbox: Sandbox, django_capture_on_commit_callbacks: Any
) -> None:
    sale = pay(sandbox, django_capture_on_commit_callbacks)
    jobs.clear()  # the job is lost with the worker that took it
    Sale.objects.filter(pk=sale.pk).update(next_attempt_at=timezone.now() - 2 * OVERDUE_AFTER)

    assert queueing.enqueue_overdue()[Sale] == 1

    assert jobs == [("sale", sale.pk, None)]


def test_a_queue_that_fails_never_fails_the_checkout(
    sandbox: Sandbox,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.FIRSTPROMOTER = {
        **settings.FIRSTPROMOTER,
        "ENQUEUE": "tests.test_enqueue.broken_queue",
    }
    sale = pay(sandbox, django_capture_on_commit_callbacks)  # does not raise

    assert f"sale {sale.pk}: its job could not be queued" in caplog.text
    assert Sale.objects.get().status == DeliveryStatus.PENDING


def check_ids() -> list[str | None]:
    return [message.id for message in checks.check_settings()]


@pytest.mark.parametrize(
    "path", ["tests.test_enqueue.nowhere", "tests.test_enqueue.not_callable", 42]
)
def test_check_reports_an_enqueue_that_cannot_be_called(
    sandbox: Sandbox, settings: Any, path: Any
) -> None:
    settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, "ENQUEUE": path}
    assert check_ids() == ["firstpromoter.E021"]


def test_check_passes_with_a_callable_enqueue_and_no_tasks_framework(
    sandbox: Sandbox, settings: Any
) -> None:
    settings.TASKS = {"default": {"BACKEND": "nowhere.Backend"}}  # never read with ENQUEUE
    assert check_ids() == []


def test_check_warns_of_an_enqueue_nothing_calls(sandbox: Sandbox, settings: Any) -> None:
    settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, "DELIVERY": "on_commit"}
    assert check_ids() == ["firstpromoter.W005"]


# contrib.celery: its hook, with Celery running tasks eagerly in this process


@pytest.fixture
def celery_eager(sandbox: Sandbox, settings: Any) -> Iterator[None]:
    """Celery's tasks run in this process as they are queued; an ETA is not waited
    for, so only what is queued for now may run here."""
    settings.FIRSTPROMOTER = {
        **settings.FIRSTPROMOTER,
        "ENQUEUE": "django_firstpromoter.contrib.celery.enqueue",
    }
    with eager():
        yield


@contextlib.contextmanager
def eager() -> Iterator[None]:
    conf = fp_celery.deliver.app.conf
    was, conf.task_always_eager = conf.task_always_eager, True
    try:
        yield
    finally:
        conf.task_always_eager = was


def test_celerys_task_sends_the_sale_after_the_commit(
    celery_eager: None, sandbox: Sandbox, django_capture_on_commit_callbacks: Any
) -> None:
    pay(sandbox, django_capture_on_commit_callbacks)
    assert Sale.objects.get().status == DeliveryStatus.TRACKED


def test_celerys_tasks_are_given_back_when_their_worker_dies() -> None:
    for task in (fp_celery.deliver, fp_celery.sweep):
        assert task.acks_late and task.reject_on_worker_lost
    # The names the README's CELERY_BEAT_SCHEDULE and the queued messages give them.
    assert (fp_celery.deliver.name, fp_celery.sweep.name) == (
        "django_firstpromoter.deliver",
        "django_firstpromoter.sweep",
    )


def test_celerys_sweep_queues_the_overdue(
    sandbox: Sandbox, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    sale = pay(sandbox, django_capture_on_commit_callbacks)
    jobs.clear()  # lost with the worker that took it
    Sale.objects.filter(pk=sale.pk).update(next_attempt_at=timezone.now() - 2 * OVERDUE_AFTER)
    settings.FIRSTPROMOTER = {
        **settings.FIRSTPROMOTER,
        "ENQUEUE": "django_firstpromoter.contrib.celery.enqueue",
    }
    with eager():
        assert fp_celery.sweep.delay().get() == 1
    assert Sale.objects.get().status == DeliveryStatus.TRACKED


@pytest.mark.parametrize(
    ("due_in", "queued"),
    [
        (None, "now"),
        (datetime.timedelta(seconds=-5), "now"),
        (datetime.timedelta(seconds=90), "eta"),
        (fp_celery.ETA_HORIZON + datetime.timedelta(seconds=5), None),
    ],
)
def test_celerys_hook_leaves_a_retry_past_its_horizon_to_the_sweep(
    due_in: datetime.timedelta | None, queued: str | None
) -> None:
    due = None if due_in is None else timezone.now() + due_in
    with (
        mock.patch.object(fp_celery.deliver, "delay") as delay,
        mock.patch.object(fp_celery.deliver, "apply_async") as apply_async,
    ):
        fp_celery.enqueue("sale", 7, due)
    if queued == "now":
        delay.assert_called_once_with("sale", 7)
    else:
        delay.assert_not_called()
    if queued == "eta":
        apply_async.assert_called_once_with(("sale", 7), eta=due)
    else:
        apply_async.assert_not_called()
