"""``track_refund``: a refund checked like a sale and against its sale, recorded once,
linked to its sale."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, router, transaction
from django.db.models import Sum

from django_firstpromoter.conf import get_config
from django_firstpromoter.data import RefundData
from django_firstpromoter.models import Refund, Sale
from django_firstpromoter.money import format_money, minor_unit_factor
from django_firstpromoter.recording import (
    Errors,
    full_clean,
    money_event_fields,
    order_fields,
    record_and_schedule,
)
from django_firstpromoter.statuses import DeliveryStatus

STRING_FIELDS = ("email", "uid", "sale_event_id")

NOT_COUNTED = (DeliveryStatus.IGNORED, DeliveryStatus.DUPLICATE)
"""Refunds that take nothing off their sale: set aside by a person, or never sent
because FirstPromoter's sale under that id is not the shop's."""


def track_refund(data: RefundData, *, order: models.Model | None = None) -> Refund | None:
    """Record ``data`` once per ``event_id`` and schedule its delivery, as ``track_sale``
    does; None, recording nothing, for a refund of zero.

    The refund is linked to its sale when that sale is recorded here, and is not sent
    while that sale still waits to be: FirstPromoter would have nothing to refund.
    Against a sale recorded here it is checked too (``check_against_sale``); a sale
    older than the app is FirstPromoter's to know, and its refunds go through.
    """
    config = get_config()
    fields = clean_refund_data(data)
    if fields is None:
        return None
    fields.update(order_fields(order))
    if not fields["sale_event_id"] and order is not None and order.pk is not None:
        sales = list(Sale.objects.for_order(order).values_list("event_id", flat=True)[:2])
        if len(sales) == 1:
            fields["sale_event_id"] = sales[0]
    record = Refund(**fields, api_version=config.api_version)
    if not fields["sale_event_id"]:
        return record_and_schedule(record, config)
    # The sale's row is locked until the refund is written, so that two refunds of it
    # at once cannot each pass the check with the other unseen (PostgreSQL; SQLite
    # writes one at a time anyway). The savepoint leaves the host's transaction as
    # it was should the lock fail.
    with transaction.atomic(using=router.db_for_write(Refund)):
        sale = Sale.objects.select_for_update().filter(event_id=fields["sale_event_id"]).first()
        if sale is not None:
            check_against_sale(record, sale)
        record.sale = sale
        return record_and_schedule(record, config)


def check_against_sale(refund: Refund, sale: Sale) -> None:
    """ValidationError when ``refund`` cannot be of ``sale``: another currency, all
    the refunds of the sale together past its amount, or a sale FirstPromoter has
    under another's name (``duplicate``).

    A refund already recorded with this ``event_id`` is left out of the sum, so the
    same refund sent again (a repeated webhook, a second save) is not refused.
    """
    if sale.status == DeliveryStatus.DUPLICATE:
        raise ValidationError(
            {
                "sale_event_id": [
                    f"Sale {sale.event_id} is a duplicate event id: FirstPromoter's sale "
                    "under it is not this shop's, so it cannot be refunded."
                ]
            }
        )
    if refund.currency != sale.currency:
        raise ValidationError(
            {
                "currency": [
                    f"The refund is in {refund.currency}, its sale {sale.event_id} in "
                    f"{sale.currency}."
                ]
            }
        )
    left = left_minor(sale, excluding=refund.event_id)
    if refund.amount_minor > left:
        raise ValidationError(
            {
                "amount": [
                    f"The refund of {format_money(refund.amount, refund.currency)} is more "
                    f"than the {format_money(as_major(left, sale), sale.currency)} left to "
                    f"refund of sale {sale.event_id}."
                ]
            }
        )


def refundable(sale: Sale) -> Decimal:
    """What is left to refund of ``sale``, in its currency's unit: its amount less
    every refund recorded against it (less those set aside or never sent); for an
    adapter that refunds "the rest", or checks a partial refund before sending it."""
    return as_major(left_minor(sale), sale)


def left_minor(sale: Sale, *, excluding: str = "") -> int:
    """``refundable`` in minor units, as the sale was sent, the refund ``excluding``
    left out of the sum."""
    refunded = (
        Refund.objects.filter(sale=sale)
        .exclude(status__in=NOT_COUNTED)
        .exclude(event_id=excluding)
        .aggregate(total=Sum("amount_minor"))["total"]
        or 0
    )
    return max(sale.amount_minor - refunded, 0)


def as_major(minor: int, sale: Sale) -> Decimal:
    return Decimal(minor) / minor_unit_factor(sale.currency)


def clean_refund_data(data: RefundData) -> dict[str, Any] | None:
    """The ``Refund`` fields for ``data``, or None for a zero refund; ValidationError
    (keyed by field) otherwise."""
    errors: Errors = {}
    fields = money_event_fields(data, STRING_FIELDS, errors)
    if errors:
        raise ValidationError(errors)
    if fields["amount_minor"] == 0:
        return None
    full_clean(Refund(**fields))
    return fields
