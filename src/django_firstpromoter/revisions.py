"""An order built in steps: what a later answer of the adapter does to its sale.

Shops save an order more than once before it is complete (Oscar saves it before
its lines, discounts and payment exist). While the sale has not been sent, a later
answer that differs replaces what was recorded; once it has been, FirstPromoter
has counted the first answer, so a difference is only logged and shown on the
sale's admin page for a person to settle.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.utils import timezone

from django_firstpromoter.models import Sale
from django_firstpromoter.money import format_money
from django_firstpromoter.statuses import DeliveryStatus

logger = logging.getLogger("django_firstpromoter")

COMPARED = (
    "amount",
    "amount_minor",
    "currency",
    "email",
    "uid",
    "quantity",
    "plan",
    "mrr",
    "mrr_minor",
    "promo_code",
    "tid",
    "ref_id",
    "subscription_id",
    "start_recurring_reward_in",
    "recurring_reward_frequency",
    "max_recurring",
    "ecom_sale",
)
"""What the adapter says of a sale; not when it was made, which a shop may give as
the time of each save."""


DERIVED = ("amount_minor", "mrr_minor")
"""Compared, since they are what was sent, but told as the amounts they come from."""


def shown(value: object, currency: str) -> str:
    """A value as a person reads it in the admin: 20.00 USD, 'SUMMER', None."""
    if isinstance(value, Decimal):
        return format_money(value, currency)
    return repr(value)


def apply_later_answer(stored: Sale, answer: Sale) -> Sale:
    """``stored`` brought up to ``answer`` while it is unsent (pending, never
    attempted); otherwise ``stored`` as it is, the difference logged at WARNING and
    kept on the row (``order_changes``).

    The update is conditional on the row being unsent, so it cannot race a sender:
    a sender that claimed the row first makes it match nothing.
    """
    changed = {
        name: (getattr(stored, name), getattr(answer, name))
        for name in COMPARED
        if getattr(stored, name) != getattr(answer, name)
    }
    if not changed:
        return stored
    now = timezone.now()
    rows = Sale.objects.filter(pk=stored.pk)
    unsent = rows.filter(status=DeliveryStatus.PENDING, attempt_count=0)
    if unsent.update(updated_at=now, **{name: new for name, (_, new) in changed.items()}):
        for name, (_, new) in changed.items():
            setattr(stored, name, new)
        return stored
    text = "; ".join(
        f"{name}: {shown(old, stored.currency)} → {shown(new, answer.currency)}"
        for name, (old, new) in changed.items()
        if name not in DERIVED
    )
    rows.update(order_changed_at=now, order_changes=text)
    stored.order_changed_at, stored.order_changes = now, text
    logger.warning(
        "sale %s: the order changed after it was reported (%s); FirstPromoter keeps what was sent",
        stored.event_id,
        text,
    )
    return stored
