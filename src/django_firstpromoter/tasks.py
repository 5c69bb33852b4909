"""``DELIVERY = "task"`` on Django's Tasks framework: one task per kind, each of which
runs ``queueing.deliver_record`` (what is sent when, and what is queued again, is
there, for every queue alike).

Importing this module needs the framework and a loadable ``TASKS`` backend (the task
is checked against it when it is defined): nothing imports it unless ``DELIVERY`` is
``"task"`` without ``ENQUEUE``, and ``manage.py check`` reports why it cannot be
imported (E012).
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

import django
from django.core.exceptions import ImproperlyConfigured

from django_firstpromoter.kinds import KINDS, kind_named
from django_firstpromoter.models import Cancellation, Refund, Sale, Signup, TrackedEvent
from django_firstpromoter.queueing import deliver_record

if TYPE_CHECKING:
    from django.tasks import Task

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


# Which task delivers which record, by the kind's ``task_name``.
DELIVER_TASKS: dict[type[TrackedEvent], Task[Any, Any]] = {
    kind.model: globals()[kind.task_name] for kind in KINDS
}


def enqueue(kind: str, pk: int, due: datetime.datetime | None) -> None:
    """The ``ENQUEUE`` hook when none is set: the kind's task, for ``due`` where the
    backend can defer one. Where it cannot (the Immediate backend),
    ``firstpromoter_deliver`` sends a retry when it is due."""
    deliver_task = DELIVER_TASKS[kind_named(kind).model]
    if due is None:
        deliver_task.enqueue(pk)
    elif deliver_task.get_backend().supports_defer:
        deliver_task.using(run_after=due).enqueue(pk)
