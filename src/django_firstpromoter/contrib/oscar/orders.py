"""What an Oscar order tells FirstPromoter: its sale and its refunds, as data.

Event ids are built from the order number, which Oscar shows the customer and the
shop's staff; ``EVENT_ID_PREFIX`` (in the core) keeps two shops, or staging and
production, apart when their numbers repeat.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.text import slugify

from django_firstpromoter.contrib.oscar.amounts import refund_share, sale_amount
from django_firstpromoter.data import RefundData, SaleData


def sale_event_id(order: Any) -> str:
    return f"oscar-{order.number}"


def payment_refund_event_id(order: Any, payment_event: Any) -> str:
    return f"{sale_event_id(order)}-refund-{payment_event.pk}"


def status_refund_event_id(order: Any, status: str) -> str:
    return f"{sale_event_id(order)}-{slugify(status)}"


def promo_code(order: Any) -> str:
    """The first voucher code that discounted the order, in the order Oscar applied
    them; "" without one.

    One code, not several joined: FirstPromoter matches ``promo_code`` whole against
    one promoter's code, so "ALICE10,SUMMER" would credit nobody, while the first
    code credits its promoter. A voucher in the basket that gave no discount has no
    ``OrderDiscount`` and is not sent: the customer did not buy with it.
    """
    codes = order.discounts.exclude(voucher_code="").order_by("pk")
    return next(iter(codes.values_list("voucher_code", flat=True)), "") or ""


def customer(order: Any) -> tuple[str, str]:
    """The order's email (the user's, or the guest's) and uid (the user's pk, "" for a
    guest), as FirstPromoter identifies the lead."""
    user = order.user
    return order.email or "", "" if user is None else str(user.pk)


def sale_data(order: Any) -> SaleData:
    email, uid = customer(order)
    return SaleData(
        event_id=sale_event_id(order),
        amount=sale_amount(order),
        currency=order.currency,
        email=email,
        uid=uid,
        promo_code=promo_code(order),
        created_at=order.date_placed,
    )


def refund_data(order: Any, event_id: str, amount: Decimal) -> RefundData:
    email, uid = customer(order)
    return RefundData(
        event_id=event_id, amount=amount, currency=order.currency, email=email, uid=uid
    )


def payment_event_refund(
    order: Any, payment_event: Any, sale_amount: Decimal, left: Decimal
) -> RefundData:
    """The refund for an Oscar "refunded" payment event: its share of the sale
    (``amounts.refund_share``), never more than ``left`` of it."""
    amount = min(refund_share(payment_event.amount, sale_amount, order), left)
    return refund_data(order, payment_refund_event_id(order, payment_event), amount)


def status_refund(order: Any, status: str, left: Decimal) -> RefundData:
    """The refund for a change to a refund status: all that is ``left`` of the sale."""
    return refund_data(order, status_refund_event_id(order, status), left)
