"""``firstpromoter_reconcile``: every commission FirstPromoter created in a period,
page by page, compared with the ``Reward`` rows, and the rows brought up to date.

Webhooks are not a ledger (FirstPromoter drops a delivery after about 17 hours of
retries, and its commission webhook carries no paid flag), so this is how a shop's
rewards stay true: run daily from cron, it is idempotent (a second run changes
nothing), each page is committed as it is read (a run stopped midway has kept what
it did, and ``start_page`` goes on from there), and every call takes a slot of the
account's rate limit.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from django_firstpromoter import commissions
from django_firstpromoter.conf import Config
from django_firstpromoter.models import DELETED, Refund, Reward, Sale
from django_firstpromoter.protocol import Commission
from django_firstpromoter.rewards import links_of, record_for, store_rewards_of
from django_firstpromoter.statuses import DeliveryStatus, RewardSource
from django_firstpromoter.webhook_events import apply_waiting

COMPARED = ("status", "amount", "paid", "status_updated_at", "sale_id", "refund_id")
"""What FirstPromoter may have changed of a commission behind the app's back."""


@dataclass
class Summary:
    updated: int = 0
    created: int = 0
    deleted: int = 0
    """Rewards whose commission FirstPromoter no longer lists: marked ``deleted``."""
    unknown: int = 0
    """Commissions for event ids this shop never sent: another integration's."""
    missing: list[str] = field(default_factory=list)
    """Our events tracked as referrals in the period with no commission at FirstPromoter."""
    pages: int = 0

    @property
    def drift_left(self) -> bool:
        """Whether something was found that reconciling could not fix."""
        return bool(self.missing)

    def lines(self) -> list[str]:
        lines = [
            f"{self.updated} rewards updated, {self.created} created, {self.deleted} deleted, "
            f"{self.unknown} commissions not for our events ({self.pages} pages read)"
        ]
        if self.missing:
            lines.append(
                f"{len(self.missing)} tracked without a commission at FirstPromoter: "
                + ", ".join(self.missing[:20])
                + (" …" if len(self.missing) > 20 else "")
            )
        return lines


def reconcile(
    config: Config,
    since: datetime.date,
    until: datetime.date,
    *,
    start_page: int = 1,
    on_page: Callable[[int], None] | None = None,
) -> Summary:
    """Reconcile the commissions created from ``since`` to ``until`` (both days in);
    raises ``commissions.AdminError`` when FirstPromoter fails (what was done stays,
    and ``on_page`` was told the last page done)."""
    summary = Summary()
    seen: set[str] = set()
    seen_ids: set[int] = set()
    # FirstPromoter reads the dates in the account's time zone, this app in UTC: a day
    # more on each side, so that no commission of the period (in UTC) goes unlisted
    # and its reward is never taken for deleted.
    day = datetime.timedelta(days=1)
    listed = commissions.created_between(config, since - day, until + day, start_page)
    for page, found in listed:
        with transaction.atomic():
            seen |= reconcile_page(config, found, summary)
        seen_ids |= {each.reward.firstpromoter_id for each in found if each.reward.firstpromoter_id}
        summary.pages += 1
        if on_page is not None:
            on_page(page)
    # What no page listed is known only once every page was read in this run.
    if start_page == 1:
        summary.deleted = mark_deleted(since, until, seen_ids)
        summary.missing = missing(config, since, until, seen)
    return summary


def reconcile_page(config: Config, found: tuple[Commission, ...], summary: Summary) -> set[str]:
    """One page's commissions kept as rewards, counted in ``summary``; the event ids
    they are for."""
    ids = [each.reward.firstpromoter_id for each in found if each.reward.firstpromoter_id]
    known = {
        reward.firstpromoter_id: reward
        for reward in Reward.objects.select_for_update().filter(firstpromoter_id__in=ids)
    }
    for commission in found:
        record = record_for(config, commission)
        if record is None:
            summary.unknown += 1
            continue
        before = known.get(commission.reward.firstpromoter_id)
        after = Reward(**links_of(record), **commission.model_fields())
        if before is None:
            summary.created += 1
        elif any(getattr(before, name) != getattr(after, name) for name in COMPARED):
            summary.updated += 1
        store_rewards_of(record, [commission], RewardSource.RECONCILE)
    apply_waiting(ids)
    return {each.event_id for each in found}


def mark_deleted(since: datetime.date, until: datetime.date, seen_ids: set[int]) -> int:
    """Mark ``deleted`` the rewards made in the period whose commission FirstPromoter
    no longer lists; how many."""
    start, end = day_range(since, until)
    gone = (
        Reward.objects.filter(created_at__range=(start, end), firstpromoter_id__isnull=False)
        .exclude(firstpromoter_id__in=seen_ids)
        .exclude(status=DELETED)
    )
    return gone.update(
        status=DELETED, confirmed_at=timezone.now(), confirmed_by=RewardSource.RECONCILE
    )


def day_range(
    since: datetime.date, until: datetime.date
) -> tuple[datetime.datetime, datetime.datetime]:
    return (
        datetime.datetime.combine(since, datetime.time.min, tzinfo=datetime.timezone.utc),
        datetime.datetime.combine(until, datetime.time.max, tzinfo=datetime.timezone.utc),
    )


def missing(
    config: Config, since: datetime.date, until: datetime.date, seen: set[str]
) -> list[str]:
    """Our sales and refunds tracked as referrals in the period whose event id no
    commission listed: FirstPromoter deleted it, or never made one."""
    start, end = day_range(since, until)
    found = []
    for model in (Sale, Refund):
        tracked = model.objects.filter(
            Q(status=DeliveryStatus.TRACKED) & Q(tracked_at__range=(start, end))
        ).values_list("event_id", flat=True)
        found += [each for each in tracked if f"{config.event_id_prefix}{each}" not in seen]
    return found


def default_period(today: datetime.date | None = None) -> tuple[datetime.date, datetime.date]:
    """The last 30 days, today included: what a daily run covers with room for a
    missed day or a commission changed weeks after its sale."""
    today = today or timezone.localdate()
    return today - datetime.timedelta(days=30), today
