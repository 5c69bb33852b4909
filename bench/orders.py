"""The checkout being measured: one paid order saved in its own transaction, commit
included, with each of the four integrations (a) to (d) switched on around it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import requests
from django.db import transaction
from django.db.models.signals import post_save

from bench.common import firstpromoter
from django_firstpromoter.hooks import ORDER_SAVED_UID, on_model_saved
from tests.shop.models import Order

CASES = {
    "a": "(a) bare save",
    "b": "(b) inline requests.post",
    "c": "(c) this app, worker",
    "d": "(d) this app, on_commit",
}


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


@contextmanager
def integration(case: str, base_url: str, inline_timeout: float | None = None) -> Iterator[None]:
    """Case ``a``..``d`` switched on for the ``with`` block."""
    if case in ("a", "b"):
        # The bare save has no integration at all: not even this app's receiver,
        # which otherwise looks at every save for ORDER_MODEL. It is found by its
        # dispatch_uid: by the function alone Django finds nothing to disconnect, and
        # connecting it again afterwards ran the hook twice on every later save.
        post_save.disconnect(dispatch_uid=ORDER_SAVED_UID)
        receiver = inline_receiver(base_url, inline_timeout) if case == "b" else None
        if receiver:
            post_save.connect(receiver, sender=Order, weak=False)
        try:
            yield
        finally:
            if receiver:
                post_save.disconnect(receiver, sender=Order)
            post_save.connect(on_model_saved, dispatch_uid=ORDER_SAVED_UID)
        return
    delivery = "worker" if case == "c" else "on_commit"
    with firstpromoter(ORDER_MODEL="shop.Order", DELIVERY=delivery, BASE_URL=base_url):
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
