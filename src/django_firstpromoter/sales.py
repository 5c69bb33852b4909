"""``track_sale``: a paid sale checked, recorded once in the caller's transaction, and
sent or queued after its commit."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from django_firstpromoter.conf import get_config
from django_firstpromoter.data import SaleData
from django_firstpromoter.models import Sale
from django_firstpromoter.quick_checks import vouched_values
from django_firstpromoter.recording import (
    Errors,
    check_money,
    full_clean,
    money_event_fields,
    new_record,
    order_fields,
    record_once,
    schedule,
)
from django_firstpromoter.referral import referral_for, remember_referral
from django_firstpromoter.revisions import apply_later_answer

STRING_FIELDS = ("email", "uid", "plan", "promo_code", "tid", "ref_id", "subscription_id")


def track_sale(data: SaleData, *, order: models.Model | None = None) -> Sale | None:
    """Record ``data`` once per ``event_id`` and schedule its delivery.

    Returns None, recording nothing, for a sale worth zero. Raises
    ``ValidationError`` (keyed by field) before writing anything when the data
    is bad, and ``ImproperlyConfigured`` when the settings are.
    """
    config = get_config()
    fields = clean_sale_data(data)
    if fields is None:
        return None
    if not vouched_values(Sale, fields):
        full_clean(new_record(Sale, fields))  # what is wrong, field by field
    fields.update(order_fields(order))
    if order is not None and not (fields["tid"] or fields["ref_id"]):
        # Checked already (referral.clean_value): safe ids that fit their columns.
        referral = referral_for(order) or remember_referral(None, order)
        fields["tid"], fields["ref_id"] = referral.tid, referral.ref_id
    sale = new_record(Sale, {**fields, "api_version": config.api_version})
    recorded, created = record_once(sale)
    if created:
        schedule(recorded, config)
        return recorded
    return apply_later_answer(recorded, sale)


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
