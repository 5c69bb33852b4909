"""Rewards FirstPromoter did not tell the app of, asked of its admin API: a tracked
sale or refund whose answer did not say its rewards (a 409 after a lost answer,
commissions unreadable), and a commission a webhook names that has no reward here.

Never in a buyer's request: the worker runs these when it goes idle, a task after it
settles its record, the webhook view for its own event.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from django_firstpromoter import commissions, webhook_events
from django_firstpromoter.conf import Config
from django_firstpromoter.models import DELETED, MoneyEvent, Refund, Reward, Sale, WebhookEvent
from django_firstpromoter.protocol import PER_PAGE
from django_firstpromoter.rewards import keep, store_rewards_of
from django_firstpromoter.statuses import DeliveryStatus, RewardSource

logger = logging.getLogger("django_firstpromoter")

LOOKUPS_PER_PASS = 20
"""Records a follow-up pass looks up at most: each is a call of the account's budget."""


def look_up(config: Config, record: MoneyEvent, source: str = RewardSource.LOOKUP) -> int:
    """Store the commissions FirstPromoter has for ``record``'s event id; how many.
    Raises ``commissions.AdminError`` when the admin API fails."""
    found = commissions.for_event(config, record.event_id)
    store_rewards_of(record, found, source)
    type(record)._default_manager.filter(pk=record.pk).update(rewards_unknown=False)
    record.rewards_unknown = False
    webhook_events.apply_waiting([each.reward.firstpromoter_id for each in found])
    return len(found)


def look_up_unknown(config: Config, limit: int = LOOKUPS_PER_PASS) -> int:
    """Look up the rewards of up to ``limit`` tracked sales and refunds whose answer
    did not say them; how many were looked up. Raises ``commissions.AdminError`` at
    the first failure, the rest left for the next pass. Nothing is done for an
    account that cannot use the admin API (no ``ACCOUNT_ID``)."""
    if not commissions.available(config):
        return 0
    done = 0
    for model in (Sale, Refund):
        for record in unknown(model).order_by("tracked_at", "pk")[: limit - done]:
            found = look_up(config, record)
            logger.info(
                "%s %s: %d rewards found by its event id",
                record._meta.verbose_name,
                record.event_id,
                found,
            )
            done += 1
    return done


def look_up_if_unknown(config: Config, model: type[MoneyEvent], pk: int) -> None:
    """What a task that just settled one record does: look up its rewards if its
    answer did not say them."""
    record = unknown(model).filter(pk=pk).first()
    if record is not None:
        try_look_up(config, record)


def unknown(model: type[MoneyEvent]) -> Any:
    return model._default_manager.filter(status=DeliveryStatus.TRACKED, rewards_unknown=True)


def try_look_up(config: Config, record: MoneyEvent) -> bool:
    """``look_up``, logged; False when it could not be done now (no admin API for
    the account, or it failed), the record left to look up later."""
    if not commissions.available(config):
        return False
    try:
        found = look_up(config, record)
    except commissions.AdminError as exc:
        logger.warning(
            "%s %s: its rewards could not be looked up (%s); tried again later",
            record._meta.verbose_name,
            record.event_id,
            exc,
        )
        return False
    logger.info(
        "%s %s: %d rewards found by its event id", record._meta.verbose_name, record.event_id, found
    )
    return True


def orphans() -> Any:
    """Stored commission events whose commission has no reward here, not looked up yet."""
    return WebhookEvent.objects.filter(
        event_type__in=webhook_events.COMMISSION_EVENTS,
        applied=False,
        reward__isnull=True,
        commission_id__isnull=False,
        looked_up_at__isnull=True,
    )


def adopt_commissions(config: Config, ids: list[int] | None = None) -> int:
    """Rewards for the commissions webhook events named before the app knew them
    (``ids``, or a page of any waiting): each asked of the admin API by id, kept when
    it is for one of our events (by ``event_id``), and its stored events applied then,
    oldest first. How many rewards were made; raises ``commissions.AdminError``.

    One not ours (another integration's) is asked once: its events keep their note.
    """
    waiting = orphans() if ids is None else orphans().filter(commission_id__in=ids)
    wanted = sorted(set(waiting.values_list("commission_id", flat=True)[:PER_PAGE]))
    if not wanted or not commissions.available(config):
        return 0
    found = commissions.by_ids(config, wanted)
    others = {each.reward.firstpromoter_id for each in keep(config, found, RewardSource.LOOKUP)}
    orphans().filter(commission_id__in=wanted).update(looked_up_at=timezone.now())
    made = [each.reward.firstpromoter_id for each in found]
    adopted = [id for id in made if id not in others]
    webhook_events.apply_waiting(adopted)
    return len(adopted)


def follow_up(config: Config) -> float:
    """The worker's pass when it goes idle: rewards to look up, then commissions to
    adopt; the seconds to wait before the next pass. A failure of the admin API is
    logged and what is left waits: after a 429 for FirstPromoter's ``Retry-After``,
    and never less than ``RETRY_BACKOFF``, as a failed tracking call would."""
    try:
        look_up_unknown(config)
        adopt_commissions(config)
    except commissions.AdminError as exc:
        wait = max(exc.answer.retry_after or 0.0, config.retry_backoff)
        logger.warning(
            "rewards could not be looked up (%s); tried again in %d s or later", exc, wait
        )
        return wait
    return 0.0


REFRESH_AT_MOST = 20
"""Sales or refunds one "Refresh from FirstPromoter" looks up (a call each): the
admin's request must not wait on dozens of calls."""


def snapshot(rewards: Any) -> dict[int, tuple[str, bool | None, int]]:
    return {
        reward.firstpromoter_id: (reward.status, reward.paid, reward.amount)
        for reward in rewards
        if reward.firstpromoter_id is not None
    }


def changes(
    before: dict[int, tuple[str, bool | None, int]], after: dict[int, tuple[str, bool | None, int]]
) -> list[str]:
    """What a refresh changed, as a person reads it: "commission 11: status pending →
    approved, paid no → yes"; "commission 12: new"."""
    said = []
    for id, now in sorted(after.items()):
        was = before.get(id)
        if was is None:
            said.append(f"commission {id}: new")
            continue
        parts = [
            f"{name} {shown(old)} → {shown(new)}"
            for name, old, new in zip(("status", "paid", "amount"), was, now, strict=True)
            if old != new
        ]
        if parts:
            said.append(f"commission {id}: " + ", ".join(parts))
    return said


def shown(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def refresh_records(config: Config, records: list[MoneyEvent]) -> list[str]:
    """Look up the rewards of each sale or refund now; what changed. Raises
    ``commissions.AdminError``, what was done before it kept."""
    said = []
    for record in records:
        rewards = record.rewards.all()  # type: ignore[attr-defined]
        before = snapshot(rewards)
        look_up(config, record, RewardSource.REFRESH)
        said += [f"{record.event_id}: {line}" for line in changes(before, snapshot(rewards.all()))]
    return said


def refresh_rewards(config: Config, rewards: Any) -> list[str]:
    """Ask FirstPromoter for these rewards' commissions by id now; what changed."""
    before = snapshot(rewards)
    found = commissions.by_ids(config, sorted(before))
    keep(config, found, RewardSource.REFRESH)
    listed = {each.reward.firstpromoter_id for each in found}
    # Not listed by its own id: FirstPromoter deleted it.
    Reward.objects.filter(firstpromoter_id__in=set(before) - listed).update(
        status=DELETED, confirmed_at=timezone.now(), confirmed_by=RewardSource.REFRESH
    )
    webhook_events.apply_waiting(list(before))
    return changes(before, snapshot(Reward.objects.filter(firstpromoter_id__in=list(before))))
