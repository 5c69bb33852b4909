"""The adapters the README shows: an order becomes SaleData once it is paid, and
RefundData when more of it is refunded."""

from django_firstpromoter import RefundData, SaleData
from django_firstpromoter.models import Refund
from tests.shop.models import Checkout, Order


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


def refund_from_order(order: Order) -> RefundData | None:
    """Each save that refunds more is one refund: of the difference, with the total
    refunded so far in its event id, so a save that refunds nothing more is no refund."""
    already = sum(refund.amount for refund in Refund.objects.for_order(order))
    if order.refunded <= already:
        return None
    return RefundData(
        event_id=f"order-{order.pk}-refunded-{order.refunded}",
        amount=order.refunded - already,
        currency=order.currency,
        email=order.email,
    )


def data_given_to(checkout: Checkout) -> SaleData | RefundData | None:
    """Whatever the test gave the checkout to say: an adapter that hands the app
    anything a shop's adapter could."""
    given: SaleData | RefundData | None = getattr(checkout, "given", None)
    return given
