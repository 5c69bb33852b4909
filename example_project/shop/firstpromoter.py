"""The adapter from the README: an order becomes a sale once it is paid."""

from django_firstpromoter import SaleData
from shop.models import Order


def sale_from_order(order: Order) -> SaleData | None:
    if not order.paid:
        return None
    return SaleData(
        event_id=f"order-{order.pk}",
        amount=order.total,
        currency=order.currency,
        email=order.email,
        plan=order.plan,
        tid=order.referral_tid,
        ref_id=order.referral_ref_id,
    )
