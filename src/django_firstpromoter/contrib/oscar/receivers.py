"""Oscar's signals to sales and refunds: placed orders (``post_checkout``), "refunded"
payment events (their ``post_save``) and refund statuses (``order_status_changed``).

Whatever goes wrong is logged at ERROR with its traceback and swallowed, as in the
core's hooks: an exception out of ``post_checkout`` would reach Oscar's
``submit``, which shows the customer an error for an order that was placed. Each
receiver works in a savepoint of its own, so a failed write of ours cannot break
the transaction of a shop that runs its views in one (``ATOMIC_REQUESTS``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.http import HttpRequest

from django_firstpromoter.conf import raw_settings
from django_firstpromoter.contrib.oscar import orders
from django_firstpromoter.models import Refund, Sale

logger = logging.getLogger("django_firstpromoter")

REFUND_STATUSES_SETTING = "OSCAR_REFUND_STATUSES"
REFUND_EVENT_TYPES_SETTING = "OSCAR_REFUND_EVENT_TYPES"


def report_order(order: Any, request: HttpRequest | None) -> Sale | None:
    """The placed ``order``'s sale, with the referral of the ``request`` that placed it.

    The referral is kept in a savepoint of its own: a sale that cannot be recorded
    (a broken amount rule) leaves it linked to the order, for a later report.
    """
    from django_firstpromoter.referral import remember_referral
    from django_firstpromoter.sales import track_sale

    if request is not None:
        try:
            with transaction.atomic():
                remember_referral(request, order)
        except Exception:
            logger.exception("could not keep the referral of Oscar order %s", order.number)
    with transaction.atomic():
        return track_sale(orders.sale_data(order), order=order)


def order_sale(order: Any) -> Sale | None:
    """The one sale recorded for ``order``; None when there is none (the order was
    placed before the app was installed, or was worth nothing), or several, which
    this integration never makes: which one a refund belongs to would be a guess."""
    sales = list(Sale.objects.for_order(order)[:2])
    return sales[0] if len(sales) == 1 else None


def _refund(order: Any, make: Any, why: str) -> Refund | None:
    from django_firstpromoter import refundable
    from django_firstpromoter.refunds import track_refund

    sale = order_sale(order)
    if sale is None:
        logger.info("Oscar order %s: no sale is recorded for it, so %s is not", order.number, why)
        return None
    left = refundable(sale)
    if left <= 0:
        return None
    with transaction.atomic():
        return track_refund(make(sale, left), order=order)


def refund_payment_event(payment_event: Any) -> Refund | None:
    order = payment_event.order
    return _refund(
        order,
        lambda sale, left: orders.payment_event_refund(order, payment_event, sale.amount, left),
        f"payment event {payment_event.pk}",
    )


def refund_status(order: Any, status: str) -> Refund | None:
    return _refund(
        order, lambda sale, left: orders.status_refund(order, status, left), f"status {status!r}"
    )


def is_refund_event_type(event_type: Any) -> bool:
    """Matched on Oscar's ``code`` (the slug of the name) or the name itself, so
    ``"refunded"`` and ``"Refunded"`` both find Oscar's usual "Refunded" type."""
    names = raw_settings()[REFUND_EVENT_TYPES_SETTING]
    return event_type.code in names or event_type.name in names


def on_post_checkout(
    sender: Any, order: Any, request: HttpRequest | None = None, **kwargs: Any
) -> None:
    try:
        report_order(order, request)
    except Exception:
        logger.exception("could not record a FirstPromoter sale for Oscar order %s", order.number)


def on_payment_event_saved(
    sender: Any, instance: Any, created: bool = False, **kwargs: Any
) -> None:
    if not created or kwargs.get("raw"):
        return
    try:
        if is_refund_event_type(instance.event_type):
            refund_payment_event(instance)
    except Exception:
        logger.exception(
            "could not record a FirstPromoter refund for Oscar payment event %s", instance.pk
        )


def on_order_status_changed(sender: Any, order: Any, new_status: str = "", **kwargs: Any) -> None:
    try:
        if new_status in raw_settings()[REFUND_STATUSES_SETTING]:
            refund_status(order, new_status)
    except Exception:
        logger.exception(
            "could not record a FirstPromoter refund for Oscar order %s (status %r)",
            order.number,
            new_status,
        )
