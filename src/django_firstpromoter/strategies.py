"""The three ``DELIVERY`` modes, each as what it does once a record is written (after
the host's commit) and once an attempt leaves the record due for a retry.

``recording`` and every sender (the worker, the admin) ask ``strategy_for(config)``
instead of testing the mode themselves; ``delivery`` is told of retries through the
hook a sender passes it, and imports none of this. Nothing here may raise into the
host's request: a record that could not be sent or queued stays due, and
``firstpromoter_deliver`` sends it.
"""

from __future__ import annotations

import datetime
import logging
from functools import partial

from django.db import transaction

from django_firstpromoter import delivery, queueing
from django_firstpromoter.conf import Config
from django_firstpromoter.models import TrackedEvent

logger = logging.getLogger("django_firstpromoter")


class Strategy:
    """A delivery mode, and as it stands the ``DELIVERY = "worker"`` one: nothing but
    ``firstpromoter_deliver`` sends, so there is nothing to do after the commit or
    for a retry."""

    wants_id = False
    """Whether ``recorded`` uses the record's id (``recording.wants_id``)."""

    def recorded(self, model: type[TrackedEvent], pk: int) -> None:
        """Called in the host's transaction, for a record this call inserted."""

    def retry_due(self, record: TrackedEvent, when: datetime.datetime) -> None:
        """Called after an attempt settled ``record`` as pending until ``when``."""

    def made_due(self, model: type[TrackedEvent], pk: int) -> None:
        """Called for a record a person made due now ("Retry now" on many) and left
        for the senders: here, and with ``"on_commit"``, ``firstpromoter_deliver``."""


class OnCommit(Strategy):
    """``DELIVERY = "on_commit"``: sent in the host's process right after its commit."""

    wants_id = True

    def recorded(self, model: type[TrackedEvent], pk: int) -> None:
        transaction.on_commit(partial(self.send, model, pk))

    @staticmethod
    def send(model: type[TrackedEvent], pk: int) -> None:
        # Runs after the host's transaction has committed, inside its request: an
        # exception here would reach the host's view, so everything is logged instead.
        try:
            delivery.deliver(model, pk)
        except Exception:
            logger.exception(
                "%s %s could not be sent after commit; it stays pending",
                model._meta.model_name,
                pk,
            )


class TaskQueue(Strategy):
    """``DELIVERY = "task"``: a job on a queue sends each record, and each retry when
    it is due: a task of Django's Tasks framework, or the shop's own job through
    ``ENQUEUE``. ``queueing`` logs a job it cannot queue instead of raising it."""

    wants_id = True

    def recorded(self, model: type[TrackedEvent], pk: int) -> None:
        transaction.on_commit(partial(queueing.enqueue_at, model, pk, None))

    def made_due(self, model: type[TrackedEvent], pk: int) -> None:
        queueing.enqueue_at(model, pk, None)

    def retry_due(self, record: TrackedEvent, when: datetime.datetime) -> None:
        queueing.enqueue_retry(record, when)


STRATEGIES: dict[str, Strategy] = {
    "on_commit": OnCommit(),
    "worker": Strategy(),
    "task": TaskQueue(),
}


def strategy_for(config: Config) -> Strategy:
    return STRATEGIES[config.delivery]
