"""The adapter the README shows: an order becomes SaleData once it is paid."""

from django_firstpromoter import SaleData
from tests.shop.models import Order


def sale_from_order(order: Order) -> SaleData | None:
    if not order.paid:
        return None
    return SaleData(
        event_id=f"order-{order.pk}",
        amount=order.total,
        currency=order.currency,
        email=order.email,
        tid=order.referral_tid,
        ref_id=order.referral_ref_id,
    )
