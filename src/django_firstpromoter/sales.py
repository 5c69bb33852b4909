"""``track_sale``: a paid sale checked, recorded once in the caller's transaction, and
sent or queued after its commit."""

from __future__ import annotations

from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import models

from django_firstpromoter.conf import get_config
from django_firstpromoter.data import SaleData
from django_firstpromoter.models import Sale
from django_firstpromoter.quick_checks import vouched_values
from django_firstpromoter.recording import (
    Errors,
    Inserted,
    check_money,
    full_clean,
    insert_values,
    money_event_fields,
    new_record,
    order_fields,
    record_once,
    schedule,
    wants_id,
)
from django_firstpromoter.referral import referral_for, remember_referral
from django_firstpromoter.revisions import apply_later_answer

STRING_FIELDS = ("email", "uid", "plan", "promo_code", "tid", "ref_id", "subscription_id")


ORDER_LINK = frozenset({"order_content_type_id"})
"""The app's own value, the order's content type as Django found it: its quick test
knows only None, and the full checks would ask the database whether it exists."""


def track_sale(data: SaleData, *, order: models.Model | None = None) -> Sale | None:
    """Record ``data`` once per ``event_id`` and schedule its delivery.

    Returns None, recording nothing, for a sale worth zero. Raises
    ``ValidationError`` (keyed by field) before writing anything when the data
    is bad, and ``ImproperlyConfigured`` when the settings are.
    """
    recorded = record_sale(data, order=order, with_id=True)
    if isinstance(recorded, Inserted):
        return cast(Sale, recorded.record())
    return recorded


def record_sale(
    data: SaleData, *, order: models.Model | None = None, with_id: bool = False
) -> Sale | Inserted | None:
    """What ``track_sale`` does, but a sale this call inserted is given back as its
    values (``Inserted``), for the order hook, which has no use for the record: its
    id is read back only ``with_id`` or when the delivery mode or a receiver wants it."""
    config = get_config()
    fields = clean_sale_data(data)
    if fields is None:
        return None
    referral_wanted = not (fields["tid"] or fields["ref_id"])
    if order is not None and referral_wanted and not vouched_values(Sale, fields):
        # Before the referral is looked up or kept: nothing is written for a bad sale.
        full_clean(new_record(Sale, fields))
    fields.update(order_fields(order))
    if order is not None and referral_wanted:
        # Checked already (referral.clean_value): safe ids that fit their columns.
        referral = referral_for(order) or remember_referral(None, order)
        fields["tid"], fields["ref_id"] = referral.tid, referral.ref_id
    fields["api_version"] = config.api_version
    inserted = insert_values(
        Sale, fields, trusted=ORDER_LINK, with_id=with_id or wants_id(Sale, config)
    )
    if inserted is None:
        # What is wrong, field by field; the order's link is the app's own.
        full_clean(new_record(Sale, {k: v for k, v in fields.items() if k not in ORDER_LINK}))
        sale = new_record(Sale, fields)
        recorded, created = record_once(sale)
        if created:
            schedule(recorded, config)
            return recorded
        return apply_later_answer(recorded, sale)
    if not inserted.created:
        stored = Sale.objects.using(inserted.using).get(event_id=fields["event_id"])
        return apply_later_answer(stored, cast(Sale, inserted.record()))
    schedule(inserted, config)
    return inserted


def clean_sale_data(data: SaleData) -> dict[str, Any] | None:
    """The ``Sale`` fields for ``data`` as far as they depend on each other (the
    amounts in the currency's minor units), or None for a zero sale; ValidationError
    otherwise. ``full_clean`` checks the rest."""
    errors: Errors = {}
    fields = money_event_fields(data, STRING_FIELDS, errors)
    fields["mrr_minor"] = (
        None if data.mrr is None else check_money("mrr", data.mrr, fields["currency"], errors)
    )
    if errors:
        raise ValidationError(errors)
    if fields["amount_minor"] == 0:
        return None
    return fields
