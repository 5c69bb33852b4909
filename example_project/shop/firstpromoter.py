"""The shop's adapters, the README's: an order becomes a sale once it is paid, and a
refund each time more of it is refunded.

The one copy: the README and the docs show these functions, and the tests run them on
orders of their own (tests/test_readme_adapters.py), so what they show is what works.
The ``--8<--`` lines mark the sections the docs include; they are comments to Python.
"""

from django_firstpromoter import RefundData, SaleData
from django_firstpromoter.models import Refund


# --8<-- [start:sale]
def sale_from_order(order):
    if not order.paid:
        return None
    return SaleData(
        event_id=f"order-{order.pk}",  # unique per sale: FirstPromoter refuses a second one
        amount=order.total,  # Decimal, major units: 19.99 is sent as 1999
        currency=order.currency,  # ISO 4217, default "USD"
        email=order.email,  # or uid=...
        tid=order.referral_tid,  # the visitor's referral, kept by copy_referral
        ref_id=order.referral_ref_id,  # (see "Referral capture")
    )


# --8<-- [end:sale]
# --8<-- [start:refund]
def refund_from_order(order):
    # Run on every save of the order, the checkout's too: asked nothing, it answers
    # without a query.
    if not order.refunded:
        return None
    # What this save refunds beyond what FirstPromoter already knows of: each refund of
    # an order is one event, with its own event_id; a partial refund is that amount.
    already = sum(refund.amount for refund in Refund.objects.for_order(order))
    if order.refunded <= already:
        return None
    return RefundData(
        event_id=f"order-{order.pk}-refunded-{order.refunded}",
        amount=order.refunded - already,  # positive: FirstPromoter makes it negative
        currency=order.currency,
        email=order.email,
        sale_event_id=f"order-{order.pk}",  # optional for an order with one sale
    )


# --8<-- [end:refund]
