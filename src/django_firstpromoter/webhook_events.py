"""FirstPromoter's webhook events once received: each stored once, and a commission's
change applied to its reward, in order (an old event arriving late undoes nothing).

The view (``webhooks``) reads and authorizes a delivery; ``lookups`` applies the
events that came before their commission's reward existed.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from django_firstpromoter import signals
from django_firstpromoter.models import Reward, WebhookEvent
from django_firstpromoter.notify import send_robust
from django_firstpromoter.statuses import RewardSource
from django_firstpromoter.storable import MAX_BIGINT, storable_moment

#: Those whose ``data`` is the commission as it now is. ``commission.deleted`` is kept
#: but not applied: its ``data`` is the commission as it was before it went.
COMMISSION_EVENTS = (
    "commission.created",
    "commission.updated",
    # Added by FirstPromoter in June 2026: a status change, with the commission.
    "commission.approved",
    "commission.pending",
    "commission.denied",
)


def store(event: WebhookEvent) -> str:
    """Record the event and apply it in one transaction: ``"applied"``, ``"stored"``
    (kept, nothing to apply) or ``"duplicate"`` (this event id came before)."""
    try:
        with transaction.atomic():
            if WebhookEvent.objects.filter(event_id=event.event_id).exists():
                event.note = "already received"
                return "duplicate"
            if event.event_type in COMMISSION_EVENTS:
                apply_commission(event)
            else:
                event.note = "not a commission change: stored only"
            event.save(force_insert=True)
    except IntegrityError:
        # The event id is the only unique value written here: the same event, delivered
        # twice at once, was stored by the other request between our check and insert.
        event.note = "already received"
        return "duplicate"
    return "applied" if event.applied else "stored"


def apply_waiting(commission_ids: Iterable[int | None]) -> int:
    """Apply the stored events of these commissions, oldest first, now that their
    rewards exist (they came before the app knew the commission); how many applied.
    An event older than what the reward holds is noted and left, as ever."""
    ids = [each for each in commission_ids if each is not None]
    if not ids:
        return 0
    waiting = WebhookEvent.objects.filter(
        commission_id__in=ids, applied=False, reward__isnull=True, event_type__in=COMMISSION_EVENTS
    ).order_by("received_at", "pk")
    applied = 0
    for event in waiting:
        with transaction.atomic():
            apply_commission(event)
            event.save(update_fields=["reward", "applied", "note"])
        applied += event.applied
    return applied


def apply_commission(event: WebhookEvent) -> None:
    """Bring the matching reward to the commission's status and paid state, unless the
    reward already holds a later event's (FirstPromoter retries a failed delivery for
    hours, so an old event can arrive after a newer one)."""
    data = event.payload.get("data")
    if not isinstance(data, dict):
        event.note = "no commission object in 'data'"
        return
    commission_id = data.get("id")
    if isinstance(commission_id, bool) or not isinstance(commission_id, int):
        event.note = "no commission id in 'data'"
        return
    if not 0 < commission_id <= MAX_BIGINT:
        event.note = f"commission id {commission_id} is out of range"
        return
    event.commission_id = commission_id
    status = data.get("status")
    if status is not None and not (isinstance(status, str) and 0 < len(status) <= 64):
        event.note = "the commission's status is not a short string"
        return
    # ``is_paid`` as in the commissions of FirstPromoter's v2 /sale answer (its tracking
    # spec); the webhook docs' example commission shows no paid state at all.
    paid = data.get("is_paid") if isinstance(data.get("is_paid"), bool) else None
    if status is None and paid is None:
        event.note = "the commission has neither a status nor a paid state"
        return
    reward = Reward.objects.select_for_update().filter(firstpromoter_id=commission_id).first()
    if reward is None:
        event.note = f"no reward has FirstPromoter id {commission_id}"
        return
    event.reward = reward
    happened_at = event_time(event.payload.get("timestamp"))
    last = reward.firstpromoter_updated_at
    if happened_at is not None and last is not None and happened_at < last:
        event.note = f"older than the event that updated the reward at {last.isoformat()}"
        return
    previous_status, previous_paid = reward.status, reward.paid
    reward.status = previous_status if status is None else status
    reward.paid = previous_paid if paid is None else paid
    reward.firstpromoter_updated_at = happened_at or last
    reward.confirmed_at, reward.confirmed_by = timezone.now(), RewardSource.WEBHOOK
    reward.save(
        update_fields=["status", "paid", "firstpromoter_updated_at", "confirmed_at", "confirmed_by"]
    )
    event.applied = True
    changes = [
        f"{name} {old} → {new}"
        for name, old, new in (
            ("status", previous_status, reward.status),
            ("paid", previous_paid, reward.paid),
        )
        if old != new
    ]
    event.note = ", ".join(changes) or "no change"
    if changes:
        # Committed already when sent: a host receiver's bug must not turn into a
        # failed delivery, which FirstPromoter would retry for nothing.
        transaction.on_commit(
            partial(
                send_robust,
                signals.reward_updated,
                "reward_updated",
                Reward,
                reward=reward,
                previous_status=previous_status,
                previous_paid=previous_paid,
            )
        )


def event_time(value: Any) -> datetime.datetime | None:
    """An event's ``timestamp`` in UTC; None when it is none (the event is applied
    unordered). The view refused every delivery whose time cannot be stored."""
    try:
        return storable_moment(value)
    except ValueError:
        return None
