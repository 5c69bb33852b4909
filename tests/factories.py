"""Rows the tests make again and again, made one way."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django_firstpromoter.models import Sale
from django_firstpromoter.money import to_minor_units


def make_sale(
    event_id: str = "evt-1",
    *,
    amount: Decimal | int | str = "19.99",
    currency: str = "USD",
    **fields: Any,
) -> Sale:
    """A recorded v2 sale, due now unless ``next_attempt_at`` says otherwise.

    ``amount`` is in major units, as a shop gives it; its minor units follow from the
    currency. The buyer is ``<event_id>@example.com`` unless ``email`` or ``uid`` is
    given. Any other field of ``Sale`` may be given.
    """
    amount = Decimal(amount)
    if "email" not in fields and "uid" not in fields:
        fields["email"] = f"{event_id}@example.com"
    fields.setdefault("api_version", 2)
    return Sale.objects.create(
        event_id=event_id,
        amount=amount,
        amount_minor=to_minor_units(amount, currency),
        currency=currency,
        **fields,
    )


def make_sales(count: int, **fields: Any) -> list[Sale]:
    """``count`` sales as ``make_sale`` makes them, ``evt-000`` on, each with ``fields``."""
    return [make_sale(f"evt-{n:03}", **fields) for n in range(count)]
