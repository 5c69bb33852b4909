"""``DELIVERY = "task"``: sales, refunds, cancellations and signups are sent by a worker
of Django's Tasks framework.

A task only wakes a record up: ``delivery.deliver`` claims the row, so a task that
runs twice, late, or for a record the cron job or the admin sent already, sends nothing.

Importing this module needs the framework and a loadable ``TASKS`` backend (the task
is checked against it when it is defined): nothing imports it unless ``DELIVERY`` is
``"task"``, and ``manage.py check`` reports why it cannot be imported (E012).
"""

from __future__ import annotations

import datetime
import logging
from typing import TYPE_CHECKING, Any

import django
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from django_firstpromoter import delivery, lookups
from django_firstpromoter.conf import get_config
from django_firstpromoter.kinds import KINDS, kind_of
from django_firstpromoter.models import Cancellation, Refund, Sale, Signup, TrackedEvent
from django_firstpromoter.monitoring import OVERDUE_AFTER
from django_firstpromoter.statuses import WAITING, DeliveryStatus

if TYPE_CHECKING:
    from django.tasks import Task

logger = logging.getLogger("django_firstpromoter")

try:
    # Django 6 has it built in; django-tasks (the ``tasks`` extra) is its backport for
    # 5.2. The same choice as django-tasks-db's, so a backend and this task agree.
    if TYPE_CHECKING or django.VERSION >= (6, 0):
        from django.tasks import task
    else:
        from django_tasks import task
except ImportError as exc:
    raise ImproperlyConfigured(
        "DELIVERY 'task' needs Django's Tasks framework: "
        "on Django 5.2, pip install 'django-firstpromoter[tasks]'."
    ) from exc


EARLY = datetime.timedelta(seconds=2)
"""How early a task may run and still send: RQ keeps a job's run time in whole seconds,
so a retry can start up to a second before the record is due."""


@task
def deliver_sale(sale_id: int) -> str | None:
    """Send the sale if it is due and nobody else is sending it; its new status, or None
    when there was nothing to do (gone, already handled, not due, or being sent).

    A configuration error is raised, leaving the sale untouched until it is fixed.
    """
    return deliver_record(Sale, sale_id)


@task
def deliver_refund(refund_id: int) -> str | None:
    """``deliver_sale`` for a refund. One still waiting for its sale is not due: the
    sale's task queues it once the sale is settled."""
    return deliver_record(Refund, refund_id)


@task
def deliver_cancellation(cancellation_id: int) -> str | None:
    """``deliver_sale`` for a cancellation."""
    return deliver_record(Cancellation, cancellation_id)


@task
def deliver_signup(signup_id: int) -> str | None:
    """``deliver_sale`` for a signup."""
    return deliver_record(Signup, signup_id)


def deliver_record(model: type[TrackedEvent], pk: int) -> str | None:
    """What every delivery task does; a task never drops its record.

    - Sent: if FirstPromoter counted it without saying its rewards (a 409 after a
      lost answer), they are looked up (a task runs outside the buyer's request);
      once settled, the records that waited for it (a sale's refunds) are queued.
    - Not sent because it is not due yet (a backend that ran the task early) or
      another sender holds it (whose process may die): queued again for when it is
      due, or when that sender's lease ends.
    """
    config = get_config()
    status = delivery.deliver(
        model, pk, config, on_retry=enqueue_retry, due_by=timezone.now() + EARLY
    )
    if status is None:
        wait_again(model, pk)
        return None
    if status == DeliveryStatus.TRACKED and model in (Sale, Refund):
        lookups.look_up_if_unknown(config, model, pk)
    if status != DeliveryStatus.PENDING:
        queue_dependents(model, pk)
    return status


# Which task delivers which record, by the kind's ``task_name``.
DELIVER_TASKS: dict[type[TrackedEvent], Task[Any, Any]] = {
    kind.model: globals()[kind.task_name] for kind in KINDS
}


def wait_again(model: type[TrackedEvent], pk: int) -> None:
    """Queue the record again for when a sender may take it, if it still waits and
    that is later than now: due later (pending), or under another's lease (sending).
    Gone, settled or due now (a refund whose sale is not sent yet), nothing is queued:
    the sale's task queues its refunds."""
    row = (
        model._default_manager.filter(pk=pk, status__in=WAITING)
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if row is not None and row > timezone.now():
        enqueue_at(model, pk, row)


def queue_dependents(model: type[TrackedEvent], pk: int) -> None:
    """The records that waited for this one to be settled: a sale's pending refunds."""
    dependents = kind_of(model).dependents
    if dependents is None:
        return
    waiting = dependents(pk).filter(status=DeliveryStatus.PENDING)
    for dependent in waiting.values_list("pk", flat=True):
        enqueue_at(waiting.model, dependent, None)


def enqueue_overdue() -> dict[type[TrackedEvent], int]:
    """The sweep (``firstpromoter_deliver --enqueue``, from cron or Celery beat): queue
    a task for every record due for over ``OVERDUE_AFTER`` that no sender took (its
    task lost with a killed worker, or never queued); how many of each kind.

    Queuing one a sender is about to take anyway is harmless: the claim lets one
    send."""
    overdue_by = timezone.now() - OVERDUE_AFTER
    queued = {}
    for kind in KINDS:
        pks = list(delivery.due(kind.model, overdue_by).values_list("pk", flat=True))
        for pk in pks:
            enqueue_at(kind.model, pk, None)
        queued[kind.model] = len(pks)
    return queued


def enqueue_retry(record: TrackedEvent, run_after: datetime.datetime) -> None:
    """Queue the record's next attempt for when it is due (``delivery``'s retry hook)."""
    enqueue_at(type(record), record.pk, run_after)


def enqueue_at(model: type[TrackedEvent], pk: int, run_after: datetime.datetime | None) -> None:
    """Queue the record's task for ``run_after`` (None: now), where the backend can
    defer a task. Where it cannot (the Immediate backend), ``firstpromoter_deliver``
    sends it.

    The row is due then whatever happens here: a task that cannot be queued (the
    queue down, TASKS wrong: manage.py check says so) is logged, not raised into the
    sender, and ``firstpromoter_deliver`` sends it when it is due."""
    try:
        deliver_task = DELIVER_TASKS[model]
        if run_after is None:
            deliver_task.enqueue(pk)
        elif deliver_task.get_backend().supports_defer:
            deliver_task.using(run_after=run_after).enqueue(pk)
    except Exception:
        what = "task" if run_after is None else "retry"
        logger.exception("%s %s: its %s could not be queued", model._meta.verbose_name, pk, what)
