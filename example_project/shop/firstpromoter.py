"""The adapters from the README: an order becomes a sale once it is paid, and a refund
each time more of it is refunded."""

from django_firstpromoter import RefundData, SaleData
from django_firstpromoter.models import Refund
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


def refund_from_order(order: Order) -> RefundData | None:
    """The refund this save of the order adds, if any: what is refunded beyond what
    FirstPromoter was already told, with the running total in its event id, so each
    refund is one event and a save that refunds nothing more is none."""
    already = sum(refund.amount for refund in Refund.objects.for_order(order))
    if order.refunded <= already:
        return None
    return RefundData(
        event_id=f"order-{order.pk}-refunded-{order.refunded}",
        amount=order.refunded - already,
        currency=order.currency,
        email=order.email,
        sale_event_id=f"order-{order.pk}",
    )
