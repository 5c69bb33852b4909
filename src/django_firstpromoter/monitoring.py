"""How the delivery queue stands: what the sales admin shows above its list and what
``firstpromoter_deliver --status`` prints, so an operator and a health check see the same.

One aggregate query over the unfinished rows (``pending``, ``sending``, ``failed``):
the ``(status, next_attempt_at)`` index finds them, so the query stays cheap however
many tracked sales the table holds.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Count, Min, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from django_firstpromoter.models import Sale, TrackedEvent
from django_firstpromoter.statuses import WAITING, DeliveryStatus

OVERDUE_AFTER = datetime.timedelta(minutes=1)
"""A pending record due for longer than this has been taken by no sender: in task
mode, its task was lost (a killed worker, a dropped job), and ``firstpromoter_deliver
--enqueue`` queues it again. The margin spares a busy queue the jobs it is about to
run anyway."""


def overdue(now: datetime.datetime) -> Q:
    """The records no sender took in time: pending and due for over ``OVERDUE_AFTER``,
    or sending past their lease, whose sender died (the lease, five request timeouts,
    was that record's margin)."""
    return Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now - OVERDUE_AFTER) | Q(
        status=DeliveryStatus.SENDING, next_attempt_at__lte=now
    )


LABELS = {
    "due_now": _("due now"),
    "overdue": _("overdue"),
    "waiting_for_retry": _("waiting for retry"),
    "sending": _("sending"),
    "failed": _("failed"),
    "oldest_waiting": _("oldest waiting"),
}


@dataclass(frozen=True)
class QueueStatus:
    """Counts of one model's queue at one moment; the categories do not overlap.

    - ``due_now``: ``pending`` and due, or ``sending`` with an expired lease (its
      sender died): the next ``firstpromoter_deliver`` run sends them.
    - ``overdue``: those of ``due_now`` that no sender took in time (``overdue``),
      counted in ``due_now`` too.
    - ``waiting_for_retry``: ``pending`` after at least one attempt, due later.
    - ``sending``: ``sending`` within its lease, i.e. in a sender's hands right now.
    - ``failed``: ``failed``; nothing sends them again until an operator chooses
      "Retry now".
    - ``oldest_waiting``: how long ago the oldest ``pending`` or ``sending`` row was
      recorded, or None when none waits.
    """

    due_now: int
    waiting_for_retry: int
    sending: int
    failed: int
    oldest_waiting: datetime.timedelta | None
    overdue: int = 0

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs, in the order the admin and the command show them."""
        age = self.oldest_waiting
        values = {
            "due_now": str(self.due_now),
            "overdue": str(self.overdue),
            "waiting_for_retry": str(self.waiting_for_retry),
            "sending": str(self.sending),
            "failed": str(self.failed),
            "oldest_waiting": gettext("none") if age is None else format_age(age),
        }
        return [(str(label), values[key]) for key, label in LABELS.items()]

    def lines(self) -> list[str]:
        """``label: value`` lines, for a terminal or a log."""
        return [f"{label}: {value}" for label, value in self.rows()]

    def problems(
        self, max_age: datetime.timedelta | None = None, *, overdue: bool = False
    ) -> list[str]:
        """What a health check should fail on, one line each, worded like :meth:`lines`:
        failed rows (nothing sends them again, a person must look), given ``max_age``
        a row waiting longer than that (no sender runs, or FirstPromoter has been
        failing that long), and with ``overdue`` (task mode, where a task sends each
        record when it is due) an overdue row. Empty when all is well."""
        found = []
        if overdue and self.overdue:
            found.append(
                gettext(
                    "%(label)s: %(count)d, due for over %(after)s or past a dead sender's "
                    "lease, and taken by no sender"
                )
                % {
                    "label": LABELS["overdue"],
                    "count": self.overdue,
                    "after": format_age(OVERDUE_AFTER),
                }
            )
        if self.failed:
            found.append(
                gettext("%(label)s: %(count)d, not sent again until someone chooses Retry now")
                % {"label": LABELS["failed"], "count": self.failed}
            )
        age = self.oldest_waiting
        if max_age is not None and age is not None and age > max_age:
            found.append(
                gettext("%(label)s: %(age)s, longer than the %(max_age)s allowed")
                % {
                    "label": LABELS["oldest_waiting"],
                    "age": format_age(age),
                    "max_age": format_age(max_age),
                }
            )
        return found


def queue_status(
    model: type[TrackedEvent] = Sale, now: datetime.datetime | None = None
) -> QueueStatus:
    """Where ``model``'s queue stands at ``now`` (default: the current time), in one query."""
    now = now or timezone.now()
    counts = model._default_manager.filter(status__in=(*WAITING, DeliveryStatus.FAILED)).aggregate(
        due_now=Count("pk", filter=Q(status__in=WAITING, next_attempt_at__lte=now)),
        overdue=Count("pk", filter=overdue(now)),
        waiting_for_retry=Count(
            "pk",
            filter=Q(status=DeliveryStatus.PENDING, attempt_count__gt=0, next_attempt_at__gt=now),
        ),
        sending=Count("pk", filter=Q(status=DeliveryStatus.SENDING, next_attempt_at__gt=now)),
        failed=Count("pk", filter=Q(status=DeliveryStatus.FAILED)),
        oldest=Min("recorded_at", filter=Q(status__in=WAITING)),
    )
    oldest = counts.pop("oldest")
    # A row recorded by a host whose clock runs ahead has not waited at all.
    age = None if oldest is None else max(now - oldest, datetime.timedelta(0))
    return QueueStatus(oldest_waiting=age, **counts)


def format_age(age: datetime.timedelta) -> str:
    """An age at a glance, to the two largest units: ``45s``, ``12m 5s``, ``3h 20m``,
    ``2d 4h``."""
    seconds = int(age.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
    while len(parts) > 1 and parts[0][0] == 0:
        parts.pop(0)
    return " ".join(f"{number}{unit}" for number, unit in parts[:2])
