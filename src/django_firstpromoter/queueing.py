"""``DELIVERY = "task"``: what a queued delivery does, on whichever queue runs it.

The queue is Django's Tasks framework (``tasks``), or the shop's own when
``ENQUEUE`` names a callable: ``enqueue(kind, pk, due)`` queues a job that calls
``deliver(kind, pk)`` at ``due`` (None: now). ``contrib.celery`` is such a pair
for Celery. Either way this module decides when a record is queued: after the
commit that wrote it, for each retry, once its sale is settled (a refund), and by
the sweep; and it needs neither the framework nor any queue's package.

A job only wakes a record up: ``delivery.deliver`` claims the row, so a job that
runs twice, late, or for a record the cron job or the admin sent already, sends
nothing.
"""

from __future__ import annotations

import datetime
import logging

from django.utils import timezone
from django.utils.module_loading import import_string

from django_firstpromoter import delivery, lookups
from django_firstpromoter.conf import get_config
from django_firstpromoter.kinds import KINDS, kind_named, kind_of
from django_firstpromoter.models import Refund, Sale, TrackedEvent
from django_firstpromoter.monitoring import overdue
from django_firstpromoter.statuses import WAITING, DeliveryStatus

logger = logging.getLogger("django_firstpromoter")

TASKS_FRAMEWORK = "django_firstpromoter.tasks.enqueue"
"""The ``ENQUEUE`` hook when none is set. By its path: ``tasks`` imports this module,
and importing it needs the framework."""

EARLY = datetime.timedelta(seconds=2)
"""How early a job may run and still send: RQ keeps a job's run time in whole
seconds, so a retry can start up to a second before the record is due."""


def deliver(kind: str, pk: int) -> str | None:
    """What the shop's job calls for ``ENQUEUE``'s ``(kind, pk)``: ``deliver_record``
    for the kind of that name ("sale", "refund", "cancellation", "signup")."""
    return deliver_record(kind_named(kind).model, pk)


def deliver_record(model: type[TrackedEvent], pk: int) -> str | None:
    """Send the record if it is due and nobody else is sending it; its new status, or
    None when there was nothing to do. A job never drops its record:

    - Sent: if FirstPromoter counted it without saying its rewards (a 409 after a
      lost answer), they are looked up (a job runs outside the buyer's request);
      once settled, the records that waited for it (a sale's refunds) are queued.
    - Not sent because it is not due yet (a queue that ran the job early) or
      another sender holds it (whose process may die): queued again for when it is
      due, or when that sender's lease ends.

    A configuration error is raised, leaving the record untouched until it is fixed.
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


def wait_again(model: type[TrackedEvent], pk: int) -> None:
    """Queue the record again for when a sender may take it, if it still waits and
    that is later than now: due later (pending), or under another's lease (sending).
    Gone, settled or due now (a refund whose sale is not sent yet), nothing is queued:
    the sale's job queues its refunds."""
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


def sweep() -> dict[type[TrackedEvent], int]:
    """The sweep (``firstpromoter_deliver --enqueue`` from cron, or ``contrib.celery``'s
    beat entry), every minute: the overdue records queued again (``enqueue_overdue``),
    and the rewards FirstPromoter's answers did not say looked up
    (``lookups.follow_up``), the pass ``firstpromoter_deliver``'s worker makes when
    idle, which no other sender makes in task mode; how many of each kind it queued."""
    queued = enqueue_overdue()
    lookups.follow_up(get_config())
    return queued


def enqueue_overdue() -> dict[type[TrackedEvent], int]:
    """Queue a job for every record no sender took in time
    (``monitoring.overdue``: its job lost with a killed worker, or never queued); how
    many of each kind.

    Queuing one a sender is about to take anyway is harmless: the claim lets one
    send."""
    now = timezone.now()
    queued = {}
    for kind in KINDS:
        pks = list(delivery.due(kind.model, now).filter(overdue(now)).values_list("pk", flat=True))
        for pk in pks:
            enqueue_at(kind.model, pk, None)
        queued[kind.model] = len(pks)
    return queued


def enqueue_retry(record: TrackedEvent, run_after: datetime.datetime) -> None:
    """Queue the record's next attempt for when it is due (``delivery``'s retry hook)."""
    enqueue_at(type(record), record.pk, run_after)


def enqueue_at(model: type[TrackedEvent], pk: int, run_after: datetime.datetime | None) -> None:
    """Queue the record's job for ``run_after`` (None: now), through ``ENQUEUE`` or
    else as the kind's task of the Tasks framework.

    The row is due then whatever happens here: a job that cannot be queued (the
    queue down, TASKS or ENQUEUE wrong: manage.py check says so) is logged, not
    raised into the host's request or the sender, and ``firstpromoter_deliver``
    or the sweep sends it when it is due."""
    try:
        import_string(get_config().enqueue or TASKS_FRAMEWORK)(kind_of(model).name, pk, run_after)
    except Exception:
        what = "job" if run_after is None else "retry"
        logger.exception("%s %s: its %s could not be queued", model._meta.verbose_name, pk, what)
