"""The rewards FirstPromoter reported for a sale or a refund, kept as ``Reward`` rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django_firstpromoter.models import Reward
from django_firstpromoter.protocol import RewardData


def store_rewards(found: Iterable[RewardData], **links: Any) -> None:
    """Keep the rewards an answer reports, linked to the sale and refund in ``links``."""
    rewards = [Reward(**links, **reward.model_fields()) for reward in found]
    # One row per FirstPromoter id, the last listed winning: an upsert may not touch
    # a row twice, and an answer may list a commission twice.
    known = list(
        {r.firstpromoter_id: r for r in rewards if r.firstpromoter_id is not None}.values()
    )
    if known:
        # One upsert for them all. FirstPromoter's id is unique: the same commission
        # reported again (a retry after a lost answer) updates its row.
        Reward.objects.bulk_create(
            known,
            update_conflicts=True,
            unique_fields=["firstpromoter_id"],
            update_fields=[
                field.name
                for field in Reward._meta.concrete_fields
                if field.name
                not in ("id", "firstpromoter_id", "recorded_at", *Reward.webhook_fields)
            ],
        )
    Reward.objects.bulk_create([reward for reward in rewards if reward.firstpromoter_id is None])
