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

from django_firstpromoter import delivery, lookups
from django_firstpromoter.conf import get_config
from django_firstpromoter.kinds import KINDS
from django_firstpromoter.models import Cancellation, Refund, Sale, Signup, TrackedEvent
from django_firstpromoter.statuses import DeliveryStatus

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


@task
def deliver_sale(sale_id: int) -> str | None:
    """Send the sale if it is due and nobody else is sending it; its new status, or None
    when there was nothing to do (gone, already handled, not due, or being sent).

    A configuration error is raised, leaving the sale untouched until it is fixed.
    """
    return deliver_and_look_up(Sale, sale_id)


@task
def deliver_refund(refund_id: int) -> str | None:
    """``deliver_sale`` for a refund. One still waiting for its sale is not due: the
    command sends it once the sale is settled."""
    return deliver_and_look_up(Refund, refund_id)


@task
def deliver_cancellation(cancellation_id: int) -> str | None:
    """``deliver_sale`` for a cancellation."""
    return delivery.deliver(Cancellation, cancellation_id, on_retry=enqueue_retry)


@task
def deliver_signup(signup_id: int) -> str | None:
    """``deliver_sale`` for a signup."""
    return delivery.deliver(Signup, signup_id, on_retry=enqueue_retry)


def deliver_and_look_up(model: type[Sale] | type[Refund], pk: int) -> str | None:
    """Deliver, then, if FirstPromoter counted it without saying its rewards (a 409
    after a lost answer), look them up: a task runs outside the buyer's request."""
    config = get_config()
    status = delivery.deliver(model, pk, config, on_retry=enqueue_retry)
    if status == DeliveryStatus.TRACKED:
        lookups.look_up_if_unknown(config, model, pk)
    return status


# Which task delivers which record, by the kind's ``task_name``.
DELIVER_TASKS: dict[type[TrackedEvent], Task[Any, Any]] = {
    kind.model: globals()[kind.task_name] for kind in KINDS
}


def enqueue_retry(record: TrackedEvent, run_after: datetime.datetime) -> None:
    """Queue the record's next attempt for when it is due, where the backend can defer
    a task. Where it cannot (the Immediate backend), ``firstpromoter_deliver`` sends it.

    The row is due then whatever happens here: a retry that cannot be queued (the
    queue down, TASKS wrong: manage.py check says so) is logged, not raised into the
    sender, and ``firstpromoter_deliver`` sends it when it is due."""
    try:
        deliver_task = DELIVER_TASKS[type(record)]
        if deliver_task.get_backend().supports_defer:
            deliver_task.using(run_after=run_after).enqueue(record.pk)
    except Exception:
        logger.exception(
            "%s %s: its retry could not be queued", record._meta.verbose_name, record.pk
        )
