"""``track_refund``: a refund checked like a sale, recorded once, linked to its sale."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from django_firstpromoter.conf import get_config
from django_firstpromoter.data import RefundData
from django_firstpromoter.models import Refund, Sale
from django_firstpromoter.recording import (
    Errors,
    full_clean,
    money_event_fields,
    order_fields,
    record_and_schedule,
)

STRING_FIELDS = ("email", "uid", "sale_event_id")


def track_refund(data: RefundData, *, order: models.Model | None = None) -> Refund | None:
    """Record ``data`` once per ``event_id`` and schedule its delivery, as ``track_sale``
    does; None, recording nothing, for a refund of zero.

    The refund is linked to its sale when that sale is recorded here, and is not sent
    while that sale still waits to be: FirstPromoter would have nothing to refund.
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
    if fields["sale_event_id"]:
        fields["sale"] = Sale.objects.filter(event_id=fields["sale_event_id"]).first()
    return record_and_schedule(Refund(**fields, api_version=config.api_version), config)


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
