"""What a shop tells us about a sale: plain data, importable before the app registry."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class SaleData:
    """One paid sale, in the shop's terms: ``amount`` and ``mrr`` in major units.

    Checked by :func:`django_firstpromoter.track_sale`, not here, so that a bad
    value is reported as a ``ValidationError`` naming the field instead of a
    ``TypeError`` at construction.
    """

    event_id: str
    amount: Decimal | int
    currency: str = "USD"
    email: str = ""
    uid: str = ""
    quantity: int | None = None
    plan: str = ""
    mrr: Decimal | int | None = None
    promo_code: str = ""
    tid: str = ""
    ref_id: str = ""
    skip_email_notification: bool = False
    created_at: datetime.datetime | None = None
    # Extras that only the v1 API declares; v2 does not send them.
    subscription_id: str = ""
    start_recurring_reward_in: int | None = None
    recurring_reward_frequency: int | None = None
    max_recurring: int | None = None
    ecom_sale: bool | None = None
