"""What a shop tells us about a refund: plain data, importable before the app registry."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class RefundData:
    """Money given back, in the shop's terms: ``amount`` in major units, positive (what
    was given back; FirstPromoter makes it negative).

    ``sale_event_id`` names the refunded sale; left empty for a refund of an order whose
    one sale is recorded here, that sale's is used. A partial refund is a refund of
    that amount, and each refund of one order needs its own ``event_id``.
    Checked by :func:`django_firstpromoter.track_refund`, not here.
    """

    event_id: str
    amount: Decimal | int
    currency: str = "USD"
    email: str = ""
    uid: str = ""
    quantity: int | None = None
    sale_event_id: str = ""
    skip_email_notification: bool = False
    created_at: datetime.datetime | None = None
