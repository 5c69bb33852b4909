"""The rewards FirstPromoter reported for a sale or a refund, kept as ``Reward`` rows:
from the tracking answer, or looked up by event id in the admin API when the answer
did not say (a 409 after a lost answer)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol

from django.utils import timezone

from django_firstpromoter import commissions
from django_firstpromoter.conf import Config
from django_firstpromoter.kinds import kind_of
from django_firstpromoter.models import MoneyEvent, Refund, Reward, Sale
from django_firstpromoter.statuses import DeliveryStatus, RewardSource

logger = logging.getLogger("django_firstpromoter")

LOOKUPS_PER_PASS = 20
"""Records a follow-up pass looks up at most: each is a call of the account's budget."""


class Reported(Protocol):
    """A reward as some answer reports it: ``protocol.RewardData`` (a tracking answer)
    or ``protocol.Commission`` (the admin API, which also says paid and when)."""

    def model_fields(self) -> dict[str, Any]: ...


def store_rewards(
    found: Iterable[Reported], source: str = RewardSource.ANSWER, **links: Any
) -> None:
    """Keep the rewards an answer reports, linked to the sale and refund in ``links``,
    as confirmed now by ``source``."""
    now = timezone.now()
    rows = [
        (Reward(**links, **each.model_fields(), confirmed_at=now, confirmed_by=source), each)
        for each in found
    ]
    # One row per FirstPromoter id, the last listed winning: an upsert may not touch
    # a row twice, and an answer may list a commission twice.
    known = {r.firstpromoter_id: (r, each) for r, each in rows if r.firstpromoter_id is not None}
    if known:
        said = set(next(iter(known.values()))[1].model_fields())
        linked = {Reward._meta.get_field(name).name for name in links}
        # One upsert for them all. FirstPromoter's id is unique: the same commission
        # reported again (a retry after a lost answer) updates its row, with what this
        # answer says; what it does not (a tracking answer has no paid flag) stays.
        Reward.objects.bulk_create(
            [r for r, _ in known.values()],
            update_conflicts=True,
            unique_fields=["firstpromoter_id"],
            update_fields=sorted(
                (said | linked | {"confirmed_at", "confirmed_by"}) - {"firstpromoter_id"}
            ),
        )
    Reward.objects.bulk_create([r for r, _ in rows if r.firstpromoter_id is None])


def look_up(config: Config, record: MoneyEvent, source: str = RewardSource.LOOKUP) -> int:
    """Store the commissions FirstPromoter has for ``record``'s event id; how many.
    Raises ``commissions.AdminError`` when the admin API fails."""
    found = commissions.for_event(config, record.event_id)
    links = kind_of(record).reward_links
    assert links is not None  # sales and refunds have rewards
    store_rewards(found, source, **links(record))
    type(record)._default_manager.filter(pk=record.pk).update(rewards_unknown=False)
    record.rewards_unknown = False
    return len(found)


def look_up_unknown(config: Config, limit: int = LOOKUPS_PER_PASS) -> int:
    """The follow-up pass: look up the rewards of up to ``limit`` tracked sales and
    refunds whose answer did not say them; how many were looked up.

    Run by senders that are not in a buyer's request (the worker, a task). A failure
    of the admin API stops the pass, logged: the records stay to look up next time.
    Nothing is done for an account that cannot use the admin API (no ``ACCOUNT_ID``).
    """
    done = 0
    for model in (Sale, Refund):
        for record in unknown(model).order_by("tracked_at", "pk")[: limit - done]:
            if not try_look_up(config, record):
                return done
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
