"""What the admin's FirstPromoter overview shows: whether affiliate tracking is healthy,
from aggregate queries only, so that the page costs the same at 100 sales as at 100k.

Every number is one ``GROUP BY`` (or one ``COUNT``) over an indexed range: the queue
over the waiting rows (``monitoring``), the outcomes per day over the last 30 days
of attempts, the commissions over a period of rewards, and what needs a person over
the few rows in a state that says so.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from django_firstpromoter.kinds import KINDS, Kind
from django_firstpromoter.models import DELETED, Refund, Reward, Sale, WebhookEvent
from django_firstpromoter.monitoring import QueueStatus, queue_status
from django_firstpromoter.statuses import AttemptOutcome, DeliveryStatus

DAYS = 30
"""The chart's reach: a month of outcomes, one bar a day."""
TOP_PROMOTERS = 10
CHARTED = (Sale, Refund)
"""The kinds whose outcomes are charted: money, the promoters' commissions."""
SERIES = (
    (AttemptOutcome.TRACKED, "tracked"),
    (AttemptOutcome.NOT_REFERRAL, "not_referral"),
    (AttemptOutcome.REJECTED, "failed"),
    (AttemptOutcome.RETRY, "retried"),
)
"""An attempt's outcome, and the series it counts in. A 409 (``duplicate``) counts as
tracked: FirstPromoter had it."""


@dataclass(frozen=True)
class Day:
    day: datetime.date
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Attention:
    """Rows a person must look at, and the changelist that lists them."""

    label: str
    count: int
    url_name: str
    query: str


@dataclass
class Overview:
    queues: list[tuple[Kind, QueueStatus]]
    last_tracked_at: datetime.datetime | None
    last_attempt_at: datetime.datetime | None
    days: dict[str, list[Day]]
    commissions_by_status: list[Any]
    commissions_by_promoter: list[Any]
    attention: list[Attention] = field(default_factory=list)


def build(today: datetime.date | None = None, period_days: int = DAYS) -> Overview:
    today = today or timezone.localdate()
    since = today - datetime.timedelta(days=period_days - 1)
    start = timezone.make_aware(datetime.datetime.combine(since, datetime.time.min))
    return Overview(
        queues=[(kind, queue_status(kind.model)) for kind in KINDS],
        last_tracked_at=max_of("tracked_at", (kind.model for kind in KINDS)),
        last_attempt_at=max_of("started_at", (kind.attempt_model for kind in KINDS)),
        days={
            model._meta.model_name or "": outcomes_per_day(model, since, today, start)
            for model in CHARTED
        },
        commissions_by_status=list(
            Reward.objects.filter(created_at__gte=start)
            .exclude(status=DELETED)
            .values("status", "unit", "sale__currency")
            .annotate(count=Count("pk"), amount=Sum("amount"))
            .order_by("status", "unit", "sale__currency")
        ),
        commissions_by_promoter=list(
            Reward.objects.filter(created_at__gte=start)
            .exclude(status__in=(DELETED, "denied"))
            .values("promoter_email", "unit", "sale__currency")
            .annotate(count=Count("pk"), amount=Sum("amount"))
            .order_by("-amount")[:TOP_PROMOTERS]
        ),
        attention=needs_a_person(),
    )


def max_of(name: str, models: Any) -> datetime.datetime | None:
    found = [m._default_manager.aggregate(last=Max(name))["last"] for m in models]
    return max((each for each in found if each is not None), default=None)


def outcomes_per_day(
    model: type[Sale] | type[Refund],
    since: datetime.date,
    today: datetime.date,
    start: datetime.datetime,
) -> list[Day]:
    """One ``GROUP BY`` day and outcome over the attempts since ``start``, every day of
    the period present (a quiet day is a bar of zero, not a gap)."""
    attempts: Any = model._meta.get_field("attempts").related_model
    rows = (
        attempts._default_manager.filter(started_at__gte=start)
        .annotate(day=TruncDate("started_at"))
        .values("day", "outcome")
        .annotate(count=Count("pk"))
        .order_by()
    )
    series = dict(SERIES) | {AttemptOutcome.DUPLICATE: "tracked"}
    counted: dict[datetime.date, dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(dict(SERIES).values(), 0)
    )
    for row in rows:
        counted[row["day"]][series.get(row["outcome"], "retried")] += row["count"]
    return [
        Day(day, counted[day])
        for day in (since + datetime.timedelta(days=n) for n in range((today - since).days + 1))
    ]


def needs_attention(model: type[Any]) -> Q:
    """The rows of ``model`` no sender will settle by itself: failed and duplicate
    records, and sales whose order changed after they were reported."""
    rule = Q(status__in=(DeliveryStatus.FAILED, DeliveryStatus.DUPLICATE))
    if model is Sale:
        rule |= Q(order_changed_at__isnull=False)
    return rule


def needs_a_person() -> list[Attention]:
    """What a person must settle, each with the changelist that lists it: the records
    ``needs_attention`` finds, by kind and reason, and webhook events that changed
    nothing."""
    found = []
    for kind in KINDS:
        plural = str(kind.model._meta.verbose_name_plural)
        url = f"admin:django_firstpromoter_{kind.model._meta.model_name}_changelist"
        for status in (DeliveryStatus.FAILED, DeliveryStatus.DUPLICATE):
            count = kind.model._default_manager.filter(status=status).count()
            if count:
                label = f"{plural}: {DeliveryStatus(status).label}"
                found.append(Attention(label, count, url, f"status__exact={status}"))
    changed = Sale.objects.filter(order_changed_at__isnull=False).count()
    if changed:
        found.append(
            Attention(
                "sales: the order changed after it was reported",
                changed,
                "admin:django_firstpromoter_sale_changelist",
                "order_changed=yes",
            )
        )
    unapplied = WebhookEvent.objects.filter(applied=False, commission_id__isnull=False).count()
    if unapplied:
        found.append(
            Attention(
                "webhook events not applied",
                unapplied,
                "admin:django_firstpromoter_webhookevent_changelist",
                "applied__exact=0",
            )
        )
    return found


COLOURS = {
    "tracked": "#21ba45",
    "not_referral": "#767676",
    "failed": "#db2828",
    "retried": "#b58105",
}
BAR = 20
HEIGHT = 120


def chart(label: str, days: list[Day]) -> dict[str, Any]:
    """Stacked bars, one a day, as the template draws them in SVG: a bar's parts
    bottom up in ``SERIES``' order, scaled to the busiest day."""
    top = max((day.total for day in days), default=0) or 1
    bars = []
    for n, day in enumerate(days):
        y = float(HEIGHT)
        parts = []
        for name in COLOURS:
            height = HEIGHT * day.counts.get(name, 0) / top
            y -= height
            if height:
                parts.append(
                    {"y": round(y, 2), "height": round(height, 2), "colour": COLOURS[name]}
                )
        counts = ", ".join(
            f"{name.replace('_', ' ')} {day.counts.get(name, 0)}" for name in COLOURS
        )
        bars.append(
            {"x": n * BAR + 2, "width": BAR - 4, "parts": parts, "title": f"{day.day}: {counts}"}
        )
    totals = {name: sum(day.counts.get(name, 0) for day in days) for name in COLOURS}
    return {
        "label": label,
        "width": BAR * len(days),
        "height": HEIGHT,
        "bars": bars,
        "legend": [(name.replace("_", " "), COLOURS[name], totals[name]) for name in COLOURS],
        # The axis: the bars run from the period's first day to today.
        "first": days[0].day if days else None,
        "last": days[-1].day if days else None,
        "summary": ", ".join(f"{name.replace('_', ' ')} {total}" for name, total in totals.items()),
    }
