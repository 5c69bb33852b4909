"""What a shop tells us about a sale or a refund: plain data, importable before the app
registry (the ``track_*`` functions check it)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class MoneyData:
    """What a sale and a refund both tell: money, in major units, and the customer."""

    event_id: str
    amount: Decimal | int
    currency: str = "USD"
    email: str = ""
    uid: str = ""
    quantity: int | None = None


@dataclass(frozen=True)
class SaleData(MoneyData):
    """One paid sale, in the shop's terms: ``amount`` and ``mrr`` in major units.

    Checked by :func:`django_firstpromoter.track_sale`, not here, so that a bad
    value is reported as a ``ValidationError`` naming the field instead of a
    ``TypeError`` at construction.
    """

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


@dataclass(frozen=True)
class RefundData(MoneyData):
    """Money given back, in the shop's terms: ``amount`` in major units, positive (what
    was given back; FirstPromoter makes it negative).

    ``sale_event_id`` names the refunded sale; left empty for a refund of an order whose
    one sale is recorded here, that sale's is used. A partial refund is a refund of
    that amount, and each refund of one order needs its own ``event_id``.
    Checked by :func:`django_firstpromoter.track_refund`, not here.
    """

    sale_event_id: str = ""
    skip_email_notification: bool = False
    created_at: datetime.datetime | None = None
