"""``track_sale``: check a sale, record it in the caller's transaction, send or queue it
after commit."""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from functools import partial
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connections, models, router, transaction
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery

from django_firstpromoter import delivery
from django_firstpromoter.conf import get_config
from django_firstpromoter.models import Sale
from django_firstpromoter.money import to_minor_units
from django_firstpromoter.sale_data import SaleData

logger = logging.getLogger("django_firstpromoter")

CURRENCY = re.compile(r"^[A-Za-z]{3}$")
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
    if order is not None and order.pk is not None:
        fields["order_content_type"] = ContentType.objects.get_for_model(order)
        fields["order_object_id"] = str(order.pk)
    sale, created = record_once(Sale(**fields, api_version=config.api_version))
    if created and config.delivery == "on_commit":
        transaction.on_commit(partial(send_after_commit, sale.pk))
    elif created and config.delivery == "task":
        transaction.on_commit(partial(enqueue_after_commit, sale.pk))
    return sale


def record_once(sale: Sale) -> tuple[Sale, bool]:
    """``sale`` inserted, or the sale already recorded with its ``event_id``; and
    whether this call inserted it.

    This is the checkout's one write: ``INSERT … ON CONFLICT DO NOTHING RETURNING id``,
    one round trip, where ``get_or_create`` takes four (a ``SELECT``, a savepoint,
    the ``INSERT``, the savepoint's release). No savepoint is needed: the conflict is
    not an error, and ``clean_sale_data`` has checked every other constraint, so the
    statement cannot abort the host's transaction. Django builds the statement, as
    ``bulk_create(ignore_conflicts=True)`` does, but asks for the id back, which
    ``bulk_create`` does not when it ignores conflicts. A database that cannot return
    the id from an ``INSERT`` (MySQL) takes ``get_or_create``'s way.
    """
    using = router.db_for_write(Sale)
    connection = connections[using]
    sales = Sale.objects.using(using)
    if not connection.features.can_return_columns_from_insert:
        defaults = {field.attname: getattr(sale, field.attname) for field in _insert_fields()}
        return sales.get_or_create(event_id=sale.event_id, defaults=defaults)
    query = InsertQuery(Sale, on_conflict=OnConflict.IGNORE)
    query.insert_values(_insert_fields(), [sale])
    compiler = query.get_compiler(using=using)
    compiler.returning_fields = [Sale._meta.pk]
    [(sql, params)] = compiler.as_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return sales.get(event_id=sale.event_id), False
    sale.pk = row[0]
    sale._state.adding = False
    sale._state.db = using
    return sale, True


def _insert_fields() -> list[models.Field[Any, Any]]:
    return [field for field in Sale._meta.concrete_fields if not field.primary_key]


def send_after_commit(pk: int) -> None:
    # Runs after the host's transaction has committed, inside its request: an
    # exception here would reach the host's view, so everything is logged instead.
    # The sale is saved and stays due, so the worker or a retry will send it.
    try:
        delivery.deliver(Sale, pk)
    except Exception:
        logger.exception("sale %s could not be sent after commit; it stays pending", pk)


def enqueue_after_commit(pk: int) -> None:
    # As above: nothing may reach the host's view. A sale whose task could not be
    # queued (the framework missing, the queue down) stays due for firstpromoter_deliver.
    try:
        from django_firstpromoter.tasks import deliver_sale  # only with DELIVERY "task"

        deliver_sale.enqueue(pk)
    except Exception:
        logger.exception("sale %s could not be queued after commit; it stays pending", pk)


def clean_sale_data(data: SaleData) -> dict[str, Any] | None:
    """The ``Sale`` fields for ``data``, or None for a zero sale; ValidationError otherwise."""
    errors: dict[str, list[str]] = {}
    fields: dict[str, Any] = {name: getattr(data, name) for name in SaleData.__dataclass_fields__}
    for name in STRING_FIELDS:
        fields[name] = fields[name] or ""

    event_id = data.event_id
    if not isinstance(event_id, str) or not event_id.strip():
        errors["event_id"] = ["event_id must be a non-blank string."]

    currency = data.currency
    if not isinstance(currency, str) or not CURRENCY.match(currency):
        errors["currency"] = ["currency must be a three-letter ISO 4217 code, e.g. 'USD'."]
        currency = "USD"
    fields["currency"] = currency.upper()

    for name, required in (("amount", True), ("mrr", False)):
        value = getattr(data, name)
        if value is None and not required:
            fields[f"{name}_minor"] = None
            continue
        problem = _money_problem(value)
        if problem:
            errors[name] = [f"{name} {problem}"]
        else:
            fields[f"{name}_minor"] = to_minor_units(value, fields["currency"])

    if not fields["email"] and not fields["uid"]:
        message = "Give the customer's email or uid: FirstPromoter needs one of them."
        errors["email"] = [message]
        errors["uid"] = [message]

    if errors:
        raise ValidationError(errors)
    if fields["amount_minor"] == 0:
        return None

    sale = Sale(api_version=2, **fields)
    try:
        sale.full_clean(validate_unique=False, exclude=["api_version"])
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from None
    return fields


def _money_problem(value: Any) -> str | None:
    if isinstance(value, float):
        return "must be a Decimal or an int, not a float: floats lose cents."
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        return f"must be a Decimal or an int, not {type(value).__name__}."
    if isinstance(value, Decimal) and not value.is_finite():
        return "must be a finite number."
    if value < 0:
        return "must not be negative."
    return None
