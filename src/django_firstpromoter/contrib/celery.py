"""Celery without Django's Tasks framework: the delivery and the sweep as Celery
tasks, and the ``ENQUEUE`` hook that queues them. In the shop's settings::

    FIRSTPROMOTER = {..., "DELIVERY": "task",
                     "ENQUEUE": "django_firstpromoter.contrib.celery.enqueue"}
    CELERY_IMPORTS = ["django_firstpromoter.contrib.celery"]
    CELERY_BEAT_SCHEDULE = {
        "django_firstpromoter.sweep": {"task": "django_firstpromoter.sweep", "schedule": 60}
    }

(The beat entry is written out: settings cannot import this module, which needs the
app registry.)

Nothing is stranded by a worker that dies: each task is acknowledged only once it
has run and is given back if its pool process is killed (``acks_late``,
``reject_on_worker_lost``), and the sweep, once a minute, queues again whatever a
lost message left due (a whole worker killed: Redis gives its messages back only
after the broker's visibility timeout, an hour by default).
"""

from __future__ import annotations

import datetime

from celery import shared_task
from django.utils import timezone

from django_firstpromoter import queueing

ETA_HORIZON = datetime.timedelta(minutes=5)
"""The furthest ahead a retry is queued with an ETA. A worker holds an ETA task
unacknowledged until it runs, and Redis hands one held past its visibility
timeout to another worker too; a retry due later is left to the sweep, which
queues it once it is due."""


@shared_task(
    name="django_firstpromoter.deliver",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def deliver(kind: str, pk: int) -> str | None:
    """Send the record if it is due (``queueing.deliver``); it queues itself again
    when it is not yet."""
    return queueing.deliver(kind, pk)


@shared_task(
    name="django_firstpromoter.sweep",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def sweep() -> int:
    """``firstpromoter_deliver --enqueue`` (``queueing.sweep``); how many it queued."""
    return sum(queueing.sweep().values())


def enqueue(kind: str, pk: int, due: datetime.datetime | None) -> None:
    """The ``ENQUEUE`` hook: ``deliver(kind, pk)`` now, or at ``due`` when that is
    within ``ETA_HORIZON``."""
    if due is None or due <= timezone.now():
        deliver.delay(kind, pk)
    elif due - timezone.now() <= ETA_HORIZON:
        deliver.apply_async((kind, pk), eta=due)
