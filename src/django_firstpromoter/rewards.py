"""The rewards FirstPromoter reported for a sale or a refund, kept as ``Reward`` rows:
from a tracking answer, or from the admin API's commissions (``lookups``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from django.utils import timezone

from django_firstpromoter.conf import Config
from django_firstpromoter.kinds import kind_of
from django_firstpromoter.models import MoneyEvent, Refund, Reward, Sale
from django_firstpromoter.protocol import Commission
from django_firstpromoter.statuses import RewardSource


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


def record_for(config: Config, commission: Commission) -> MoneyEvent | None:
    """Our sale or refund a commission is for, by its ``event_id`` (sent behind
    ``EVENT_ID_PREFIX``); None for another integration's, or an event not recorded here."""
    prefix = config.event_id_prefix
    if not commission.event_id or not commission.event_id.startswith(prefix):
        return None
    event_id = commission.event_id[len(prefix) :]
    # A refund's commission is negative, and its event id is the refund's.
    return (
        Refund.objects.filter(event_id=event_id).first()
        or Sale.objects.filter(event_id=event_id).first()
    )


def links_of(record: MoneyEvent) -> dict[str, Any]:
    """Where the rewards of a sale or a refund belong (``Kind.reward_links``)."""
    links = kind_of(record).reward_links
    assert links is not None  # sales and refunds have rewards
    return links(record)


def store_rewards_of(record: MoneyEvent, found: Iterable[Reported], source: str) -> None:
    store_rewards(found, source, **links_of(record))


def keep(config: Config, found: Iterable[Commission], source: str) -> list[Commission]:
    """Store each commission that is for one of our events, as its reward; the others
    (not ours), returned."""
    others = []
    for commission in found:
        record = record_for(config, commission)
        if record is None:
            others.append(commission)
        else:
            store_rewards_of(record, [commission], source)
    return others
