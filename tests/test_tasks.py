"""``DELIVERY = "task"`` on the framework's own backends: Immediate (runs the task at
once, cannot defer) and Dummy (keeps it queued until the test runs it, can defer).
The real worker process is in test_tasks_worker.py."""

from __future__ import annotations

import datetime
import io
import sys
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, cast
from unittest import mock

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.db import transaction
from django.utils import timezone

from django_firstpromoter import checks
from django_firstpromoter.conf import get_config
from django_firstpromoter.models import Sale, SaleAttempt
from django_firstpromoter.sandbox import Sandbox
from django_firstpromoter.statuses import DeliveryStatus
from django_firstpromoter.tasks import deliver_sale
from tests.conftest import firstpromoter
from tests.shop.models import Order

pytestmark = pytest.mark.django_db

# "django.tasks" on Django 6, "django_tasks" (the backport) on 5.2: whichever the app uses.
FRAMEWORK = type(deliver_sale).__module__.rsplit(".", 1)[0]
IMMEDIATE = f"{FRAMEWORK}.backends.immediate.ImmediateBackend"
DUMMY = f"{FRAMEWORK}.backends.dummy.DummyBackend"


def backend(path: str, **params: Any) -> dict[str, Any]:
    return {"default": {"BACKEND": path, **params}}


@pytest.fixture
def sandbox(firstpromoter_sandbox: Sandbox, settings: Any) -> Sandbox:
    """The sandbox, with the app set to queue its sales as tasks."""
    settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, "DELIVERY": "task"}
    return firstpromoter_sandbox


@pytest.fixture
def immediate(settings: Any) -> None:
    settings.TASKS = backend(IMMEDIATE)


@pytest.fixture
def queue(settings: Any) -> list[Any]:
    """The Dummy backend's queue: task results nobody has run."""
    settings.TASKS = backend(DUMMY)
    results: list[Any] = cast(Any, deliver_sale.get_backend()).results
    return results


def pay(sandbox: Sandbox, capture: Any, *, email: str = "buyer@example.com") -> Sale:
    """A paid order referred by alice, committed; its sale."""
    with capture(execute=True):
        order = Order.objects.create(
            email=email, total=Decimal("50"), paid=True, referral_tid=sandbox.click("alice")
        )
    return Sale.objects.get(event_id=f"order-{order.pk}")


def make_due(sale: Sale) -> None:
    """As if the backoff had passed."""
    Sale.objects.filter(pk=sale.pk).update(next_attempt_at=timezone.now())


def deliver_command() -> str:
    out = io.StringIO()
    call_command("firstpromoter_deliver", stdout=out)
    return out.getvalue()


def test_the_setting_accepts_task() -> None:
    with firstpromoter(DELIVERY="task"):
        assert get_config().delivery == "task"


# Immediate backend: the task runs as soon as it is queued, after the commit


def test_immediate_backend_sends_the_sale_right_after_commit(
    sandbox: Sandbox, immediate: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        order = Order.objects.create(
            email="buyer@example.com",
            total=Decimal("50"),
            paid=True,
            referral_tid=sandbox.click("alice"),
        )
        assert sandbox.requests == []
    assert sandbox.requests == []
    for callback in callbacks:
        callback()

    sale = Sale.objects.get()
    assert sale.status == DeliveryStatus.TRACKED
    (sent,) = sandbox.sales
    assert (sent.event_id, sent.promoter, sent.amount) == (f"order-{order.pk}", "alice", 5000)


def test_nothing_is_queued_when_the_transaction_rolls_back(
    sandbox: Sandbox, queue: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        Order.objects.create(email="buyer@example.com", total=Decimal("50"), paid=True)
        raise RuntimeError("payment failed")
    assert queue == []
    assert not Sale.objects.exists()


def test_immediate_backend_leaves_retries_to_the_deliver_command(
    sandbox: Sandbox,
    immediate: None,
    django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox.faults.error_rate = 1.0
    sale = pay(sandbox, django_capture_on_commit_callbacks)
    sale.refresh_from_db()
    # It cannot defer a task: nothing retries it at once, in the buyer's request, and
    # that is no error.
    assert (sale.status, sale.attempt_count) == (DeliveryStatus.PENDING, 1)
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
    assert sale.next_attempt_at > timezone.now()
    assert len(sandbox.requests) == 1

    sandbox.faults.error_rate = 0.0
    make_due(sale)
    assert deliver_command().startswith("sent 1: 1 tracked")
    sale.refresh_from_db()
    assert (sale.status, sale.attempt_count) == (DeliveryStatus.TRACKED, 2)


# Dummy backend: the task waits in the queue, as it would for a worker


def test_the_sale_waits_in_the_queue_until_its_task_runs(
    sandbox: Sandbox, queue: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    sale = pay(sandbox, django_capture_on_commit_callbacks)

    (queued,) = queue
    assert queued.task.module_path == "django_firstpromoter.tasks.deliver_sale"
    assert queued.args == [sale.pk]
    assert queued.task.run_after is None
    assert sandbox.requests == []
    assert sale.status == DeliveryStatus.PENDING

    assert queued.task.call(*queued.args) == DeliveryStatus.TRACKED
    sale.refresh_from_db()
    assert sale.status == DeliveryStatus.TRACKED
    assert [event.promoter for event in sandbox.sales] == ["alice"]


def test_saving_the_paid_order_again_queues_nothing_more(
    sandbox: Sandbox, queue: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    pay(sandbox, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        Order.objects.get().save()
    assert len(queue) == 1


def test_a_task_that_runs_twice_sends_once(
    sandbox: Sandbox, queue: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    sale = pay(sandbox, django_capture_on_commit_callbacks)
    assert deliver_sale.call(sale.pk) == DeliveryStatus.TRACKED
    assert deliver_sale.call(sale.pk) is None
    assert len(sandbox.requests) == 1


def test_a_retry_is_queued_for_when_it_is_due(
    sandbox: Sandbox, queue: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    sandbox.faults.error_rate = 1.0
    sale = pay(sandbox, django_capture_on_commit_callbacks)
    assert deliver_sale.call(sale.pk) == DeliveryStatus.PENDING

    sale.refresh_from_db()
    _first, retry = queue
    assert retry.args == [sale.pk]
    assert retry.task.run_after == sale.next_attempt_at > timezone.now()

    sandbox.faults.error_rate = 0.0
    # A worker that runs it early (another clock, say) sends nothing, and queues it
    # again for when it is due: nothing else would.
    assert retry.task.call(*retry.args) is None
    assert len(sandbox.requests) == 1
    *_, again = queue
    assert (again.args, again.task.run_after) == ([sale.pk], sale.next_attempt_at)
    make_due(sale)
    assert again.task.call(*again.args) == DeliveryStatus.TRACKED
    assert len(sandbox.requests) == 2
    assert len(queue) == 3


def test_no_retry_is_queued_once_the_sale_is_final(
    sandbox: Sandbox, queue: list[Any], django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, "MAX_ATTEMPTS": 1}
    sandbox.faults.error_rate = 1.0
    sale = pay(sandbox, django_capture_on_commit_callbacks)
    assert deliver_sale.call(sale.pk) == DeliveryStatus.FAILED
    assert len(queue) == 1


# Whatever a worker is handed, it is not made to fail


def test_a_task_for_a_sale_that_is_gone_or_handled_does_nothing(
    sandbox: Sandbox, immediate: None, django_capture_on_commit_callbacks: Any
) -> None:
    sale = pay(sandbox, django_capture_on_commit_callbacks)  # sent at once: tracked
    gone = pay(sandbox, django_capture_on_commit_callbacks, email="gone@example.com")
    Sale.objects.filter(pk=gone.pk).delete()
    ignored = pay(sandbox, django_capture_on_commit_callbacks, email="ignored@example.com")
    Sale.objects.filter(pk=ignored.pk).update(status=DeliveryStatus.IGNORED)
    sent_before = len(sandbox.requests)

    for pk in (sale.pk, gone.pk, ignored.pk, 10**9):
        result = deliver_sale.enqueue(pk)
        assert (result.status, result.return_value) == ("SUCCESSFUL", None)
    assert len(sandbox.requests) == sent_before


def test_a_configuration_error_fails_the_task_and_leaves_the_sale_alone(
    sandbox: Sandbox, queue: list[Any], django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    sale = pay(sandbox, django_capture_on_commit_callbacks)
    settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, "API_KEY": ""}

    with pytest.raises(ImproperlyConfigured, match="API_KEY"):
        deliver_sale.call(sale.pk)
    settings.TASKS = backend(IMMEDIATE)
    result = deliver_sale.enqueue(sale.pk)
    assert result.status == "FAILED"
    assert result.errors[0].exception_class is ImproperlyConfigured

    sale.refresh_from_db()
    assert (sale.status, sale.attempt_count) == (DeliveryStatus.PENDING, 0)
    assert not SaleAttempt.objects.exists()
    assert sandbox.requests == []


# A queue that is down loses nothing: the row stays due for firstpromoter_deliver


@pytest.fixture
def queue_down(queue: list[Any]) -> Iterator[None]:
    backend_class = type(deliver_sale.get_backend())
    with mock.patch.object(backend_class, "enqueue", side_effect=ConnectionError("queue down")):
        yield


def test_a_sale_that_cannot_be_queued_is_kept_for_the_deliver_command(
    sandbox: Sandbox,
    queue_down: None,
    django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sale = pay(sandbox, django_capture_on_commit_callbacks)  # does not raise into the shop

    assert f"sale {sale.pk}: its job could not be queued" in caplog.text
    assert sale.status == DeliveryStatus.PENDING
    assert deliver_command().startswith("sent 1: 1 tracked")


def test_a_retry_that_cannot_be_queued_is_kept_for_the_deliver_command(
    sandbox: Sandbox,
    queue: list[Any],
    django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox.faults.error_rate = 1.0
    sale = pay(sandbox, django_capture_on_commit_callbacks)
    backend_class = type(deliver_sale.get_backend())
    with mock.patch.object(backend_class, "enqueue", side_effect=ConnectionError("queue down")):
        assert deliver_sale.call(sale.pk) == DeliveryStatus.PENDING
    assert f"sale {sale.pk}: its retry could not be queued" in caplog.text

    sandbox.faults.error_rate = 0.0
    make_due(sale)
    assert deliver_command().startswith("sent 1: 1 tracked")


# Configuration errors: manage.py check, and the framework missing


@pytest.fixture
def no_tasks_framework(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on Django 5.2 without the ``tasks`` extra."""
    monkeypatch.setitem(sys.modules, "django.tasks", None)
    monkeypatch.setitem(sys.modules, "django_tasks", None)
    monkeypatch.delitem(sys.modules, "django_firstpromoter.tasks")


def check_ids() -> list[str | None]:
    return [message.id for message in checks.check_settings()]


def test_check_passes_with_a_backend(sandbox: Sandbox, settings: Any) -> None:
    assert check_ids() == []  # the framework's default: Immediate
    settings.TASKS = backend("django_tasks_db.DatabaseBackend")
    assert check_ids() == []


@pytest.mark.parametrize(
    ("tasks", "named"),
    [
        (backend("myproject.queues.RedisBackend"), "myproject.queues.RedisBackend"),
        ({"emails": {"BACKEND": IMMEDIATE}}, "default"),
        (backend(IMMEDIATE, QUEUES=["emails"]), "default"),
    ],
    ids=["backend-missing", "no-default-backend", "no-default-queue"],
)
def test_check_reports_a_backend_that_cannot_queue_the_task(
    sandbox: Sandbox, settings: Any, tasks: dict[str, Any], named: str
) -> None:
    settings.TASKS = tasks
    (error,) = checks.check_settings()
    assert error.id == "firstpromoter.E012"
    assert named in error.msg
    assert error.hint and "TASKS" in error.hint


def test_check_reports_the_framework_missing(sandbox: Sandbox, no_tasks_framework: None) -> None:
    (error,) = checks.check_settings()
    assert error.id == "firstpromoter.E012"
    assert "django-firstpromoter[tasks]" in error.msg
    # (Django 6's own check needs django.tasks, which this test hides.)
    with pytest.raises(SystemCheckError, match=r"firstpromoter\.E012"):
        call_command("check", tags=["firstpromoter"])


def test_check_ignores_the_framework_for_other_modes(no_tasks_framework: None) -> None:
    assert check_ids() == []


def test_without_the_framework_sales_wait_for_the_deliver_command(
    sandbox: Sandbox,
    no_tasks_framework: None,
    django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox.faults.error_rate = 1.0
    sale = pay(sandbox, django_capture_on_commit_callbacks)  # does not raise into the shop
    assert f"sale {sale.pk}: its job could not be queued" in caplog.text
    assert "django-firstpromoter[tasks]" in caplog.text
    caplog.clear()

    # The command sends it; its retry cannot be queued, which is logged, and it is kept.
    assert deliver_command().startswith("sent 1: 0 tracked, 0 not referral, 1 retry later")
    assert f"sale {sale.pk}: its retry could not be queued" in caplog.text
    sale.refresh_from_db()
    assert (sale.status, sale.attempt_count) == (DeliveryStatus.PENDING, 1)

    sandbox.faults.error_rate = 0.0
    make_due(sale)
    assert deliver_command().startswith("sent 1: 1 tracked")


def test_refunds_cancellations_and_signups_are_queued_as_their_own_tasks(
    sandbox: Sandbox, immediate: None, django_capture_on_commit_callbacks: Any
) -> None:
    from django_firstpromoter import RefundData, track_cancellation, track_refund, track_signup
    from django_firstpromoter.models import Cancellation, Refund, Signup
    from django_firstpromoter.referral import Referral

    sale = pay(sandbox, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        track_refund(RefundData(event_id="r-1", amount=Decimal("10"), email=sale.email))
        track_cancellation(email=sale.email)
        track_signup(Referral(tid=sandbox.click("alice")), email="new@example.com")

    for model in (Refund, Cancellation, Signup):
        assert model.objects.get().status == DeliveryStatus.TRACKED, model
    assert [request.call for request in sandbox.requests] == [
        "sale",
        "refund",
        "cancellation",
        "signup",
    ]


# A task never drops its record


def test_a_task_run_a_second_early_still_sends(
    sandbox: Sandbox, queue: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    # RQ keeps a job's run time in whole seconds: a retry may start a second early.
    sale = pay(sandbox, django_capture_on_commit_callbacks)
    Sale.objects.filter(pk=sale.pk).update(
        next_attempt_at=timezone.now() + datetime.timedelta(seconds=1)
    )
    assert deliver_sale.call(sale.pk) == DeliveryStatus.TRACKED


def test_a_task_that_finds_its_sale_in_another_senders_hands_waits_for_its_lease(
    sandbox: Sandbox, queue: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    from django_firstpromoter.delivery import claim

    sale = pay(sandbox, django_capture_on_commit_callbacks)
    # Another worker claims it, and is killed mid-send: nothing but its lease is left.
    claimed = claim(Sale, sale.pk, get_config())
    assert claimed is not None
    queue.clear()
    assert deliver_sale.call(sale.pk) is None
    (again,) = queue
    assert (again.args, again.task.run_after) == ([sale.pk], claimed.next_attempt_at)
    Sale.objects.filter(pk=sale.pk).update(next_attempt_at=timezone.now())
    assert again.task.call(*again.args) == DeliveryStatus.TRACKED


def test_a_task_for_a_settled_sale_queues_nothing(
    sandbox: Sandbox, queue: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    sale = pay(sandbox, django_capture_on_commit_callbacks)
    assert deliver_sale.call(sale.pk) == DeliveryStatus.TRACKED
    queue.clear()
    assert deliver_sale.call(sale.pk) is None
    assert queue == []


def test_a_refund_that_waited_for_its_sale_is_queued_once_the_sale_is_sent(
    sandbox: Sandbox, queue: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    from django_firstpromoter import RefundData, track_refund
    from django_firstpromoter.models import Refund
    from django_firstpromoter.tasks import deliver_refund

    sandbox.faults.error_rate = 1.0
    sale = pay(sandbox, django_capture_on_commit_callbacks)
    assert deliver_sale.call(sale.pk) == DeliveryStatus.PENDING
    with django_capture_on_commit_callbacks(execute=True):
        track_refund(
            RefundData(
                event_id="r-1", sale_event_id=sale.event_id, amount=Decimal(10), email=sale.email
            )
        )
    refund = Refund.objects.get()
    # Its own task finds it waiting for the sale, due now: nothing to queue for later.
    queue.clear()
    assert deliver_refund.call(refund.pk) is None
    assert queue == []

    sandbox.faults.error_rate = 0.0
    make_due(sale)
    assert deliver_sale.call(sale.pk) == DeliveryStatus.TRACKED
    (queued,) = [each for each in queue if each.task.name == deliver_refund.name]
    assert queued.args == [refund.pk]
    assert queued.task.call(*queued.args) == DeliveryStatus.TRACKED
    assert [each.event_id for each in sandbox.refunds] == ["r-1"]


# The sweep: firstpromoter_deliver --enqueue, and --status in task mode


def sweep() -> str:
    out = io.StringIO()
    call_command("firstpromoter_deliver", "--enqueue", stdout=out)
    return out.getvalue()


def test_the_sweep_queues_what_no_sender_took_and_nothing_else(
    sandbox: Sandbox, queue: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    from django_firstpromoter.delivery import claim

    lost, recent, dead, alive, done = (
        pay(sandbox, django_capture_on_commit_callbacks, email=f"{name}@example.com")
        for name in ("lost", "recent", "dead", "alive", "done")
    )
    minutes_ago = timezone.now() - datetime.timedelta(minutes=2)
    # Its task lost with a killed worker: due for two minutes.
    Sale.objects.filter(pk=lost.pk).update(next_attempt_at=minutes_ago)
    # Its sender was killed mid-send, and its lease ended a second ago: the lease was
    # its margin. Another's is live.
    claim(Sale, dead.pk, get_config())
    Sale.objects.filter(pk=dead.pk).update(
        next_attempt_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    claim(Sale, alive.pk, get_config())
    assert deliver_sale.call(done.pk) == DeliveryStatus.TRACKED
    queue.clear()

    assert sweep() == "queued 0 signups, 2 sales, 0 refunds, 0 cancellations\n"
    assert sorted(each.args[0] for each in queue) == sorted([lost.pk, dead.pk])
    for each in list(queue):
        assert each.task.call(*each.args) == DeliveryStatus.TRACKED
    assert recent.pk not in [each.args[0] for each in queue]


def test_the_sweep_looks_up_the_rewards_a_task_could_not(
    sandbox: Sandbox, queue: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    sale = pay(sandbox, django_capture_on_commit_callbacks)
    assert deliver_sale.call(sale.pk) == DeliveryStatus.TRACKED
    # As after a 409 whose task's look-up failed: counted, its rewards not known here.
    sale.rewards.all().delete()
    Sale.objects.filter(pk=sale.pk).update(rewards_unknown=True)

    sweep()

    sale.refresh_from_db()
    assert not sale.rewards_unknown
    assert sale.rewards.count() == 1


def test_the_sweep_is_for_task_mode_only(settings: Any) -> None:
    settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, "DELIVERY": "worker"}
    with pytest.raises(CommandError, match="--enqueue queues tasks, for DELIVERY 'task'"):
        sweep()


def test_status_in_task_mode_fails_on_an_overdue_record(
    sandbox: Sandbox, queue: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    sale = pay(sandbox, django_capture_on_commit_callbacks)
    out = io.StringIO()
    call_command("firstpromoter_deliver", "--status", stdout=out)
    assert "overdue: 0" in out.getvalue()
    Sale.objects.filter(pk=sale.pk).update(
        next_attempt_at=timezone.now() - datetime.timedelta(minutes=2)
    )
    with pytest.raises(
        CommandError,
        match="overdue: 1, due for over 1m 0s or past a dead sender's lease, and taken by no",
    ):
        call_command("firstpromoter_deliver", "--status", stdout=io.StringIO())
