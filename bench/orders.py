"""The checkout being measured: one paid order saved in its own transaction, commit
included, with each integration, (a) to (f′), switched on around it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import requests
from django.db import connection, transaction
from django.db.models.constants import OnConflict
from django.db.models.signals import post_save

from bench.common import firstpromoter
from django_firstpromoter.hooks import ORDER_SAVED_UID, on_model_saved
from django_firstpromoter.models import Sale
from django_firstpromoter.money import to_minor_units
from example_project.shop.firstpromoter import sale_from_order
from tests.shop.models import Order

CASES = {
    "a": "(a) bare save",
    "f": "(f) floor: bare save + one row",
    "f2": "(f′) floor + the adapter, a known id skipped",
    "b": "(b) inline requests.post",
    "c": "(c) this app, worker",
    "c2": "(c′) this app, worker, README's configuration",
    "d": "(d) this app, on_commit",
}
# The README's adapters (example_project/shop/firstpromoter.py), the sale's one being
# the test settings' SALE_FROM_ORDER already.
README_REFUND_FROM_ORDER = "example_project.shop.firstpromoter.refund_from_order"


def pay() -> None:
    with transaction.atomic():
        order = Order(email="buyer@example.com", total=Decimal("49.00"), referral_ref_id="alice")
        order.paid = True
        order.save()


def inline_receiver(url: str, timeout: float | None) -> Callable[..., None]:
    """What the other clients do: call FirstPromoter from the order's post_save,
    inside the checkout's transaction, and let whatever happens happen."""

    def send(sender: Any, instance: Order, **kwargs: Any) -> None:
        if instance.paid:
            requests.post(
                f"{url}/sale",
                json={"event_id": f"order-{instance.pk}", "amount": 4900, "email": instance.email},
                headers={"Authorization": "Bearer bench-api-key", "Account-ID": "bench-account"},
                timeout=timeout,
            )

    return send


def floor_receiver(*, adapted: bool = False) -> Callable[..., None]:
    """The least any integration that records the sale with the order can do: one
    hand-written ``INSERT`` of a row as wide as a sale's (into the sales' own table,
    with its indexes), in the order's transaction, its SQL and values made once. No
    check, no adapter, no id read back: what is left of (c) above it is the app's.

    ``adapted`` (f′): also what no recording of the shop's sale can leave out, so
    that what is left of (c) above it is the checks and the hook's own work: the
    README's adapter asked for the sale, whose values go in the row unchecked, and
    the database told to skip a known ``event_id`` rather than fail on it (and so
    abort the order's transaction), as the app's ``INSERT`` is."""
    sale = Sale(
        event_id="floor",
        amount=Decimal("49.00"),
        amount_minor=4900,
        email="buyer@example.com",
        ref_id="alice",
        api_version=2,
    )
    fields = [field for field in Sale._meta.concrete_fields if not field.primary_key]
    values = [field.get_db_prep_save(field.pre_save(sale, True), connection) for field in fields]
    at = {field.attname: index for index, field in enumerate(fields)}
    quote = connection.ops.quote_name
    conflict = OnConflict.IGNORE if adapted else None
    sql = "{} {} ({}) VALUES ({}) {}".format(
        connection.ops.insert_statement(on_conflict=conflict),
        quote(Sale._meta.db_table),
        ", ".join(quote(str(field.column)) for field in fields),
        ", ".join(["%s"] * len(fields)),
        connection.ops.on_conflict_suffix_sql(fields, conflict, None, None),
    )

    def insert(sender: Any, instance: Order, **kwargs: Any) -> None:
        if adapted:
            data = sale_from_order(instance)
            if data is None:
                return
            values[at["event_id"]] = data.event_id
            values[at["amount"]] = data.amount
            values[at["amount_minor"]] = to_minor_units(data.amount, data.currency)
            values[at["currency"]] = data.currency
            values[at["email"]] = data.email
            values[at["tid"]] = data.tid
            values[at["ref_id"]] = data.ref_id
        else:
            values[at["event_id"]] = f"floor-{instance.pk}"
        with connection.cursor() as cursor:
            cursor.execute(sql, values)

    return insert


@contextmanager
def integration(case: str, base_url: str, inline_timeout: float | None = None) -> Iterator[None]:
    """Case ``a``..``f2`` switched on for the ``with`` block."""
    if case in ("a", "b", "f", "f2"):
        # The bare save has no integration at all: not even this app's receiver,
        # which otherwise looks at every save for ORDER_MODEL. It is found by its
        # dispatch_uid: by the function alone Django finds nothing to disconnect, and
        # connecting it again afterwards ran the hook twice on every later save.
        post_save.disconnect(dispatch_uid=ORDER_SAVED_UID)
        receiver = None
        if case == "b":
            receiver = inline_receiver(base_url, inline_timeout)
        elif case in ("f", "f2"):
            receiver = floor_receiver(adapted=case == "f2")
        if receiver:
            post_save.connect(receiver, sender=Order, weak=False)
        try:
            yield
        finally:
            if receiver:
                post_save.disconnect(receiver, sender=Order)
            post_save.connect(on_model_saved, dispatch_uid=ORDER_SAVED_UID)
        return
    delivery = "on_commit" if case == "d" else "worker"
    refunds = {"REFUND_FROM_ORDER": README_REFUND_FROM_ORDER} if case == "c2" else {}
    with firstpromoter(ORDER_MODEL="shop.Order", DELIVERY=delivery, BASE_URL=base_url, **refunds):
        yield


def time_saves(count: int, warm_up: int = 10) -> list[float]:
    """Seconds each of ``count`` checkouts took, after ``warm_up`` untimed ones."""
    for _ in range(warm_up):
        pay()
    durations = []
    for _ in range(count):
        started = time.perf_counter()
        pay()
        durations.append(time.perf_counter() - started)
    return durations
