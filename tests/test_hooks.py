"""The order receivers: a paid order is recorded once, and the host's save never breaks."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from django.db import transaction

from django_firstpromoter.hooks import track_order
from django_firstpromoter.models import Sale
from django_firstpromoter.signals import order_paid
from django_firstpromoter.statuses import DeliveryStatus
from tests.conftest import V2_URL, firstpromoter, success_body
from tests.shop.models import Order

pytestmark = pytest.mark.django_db


def test_unpaid_order_records_nothing():
    order = Order.objects.create(email="a@example.com", total=Decimal("10"))
    assert not Sale.objects.exists()
    order.paid = True
    order.save()  # and the same save, paid, does
    assert Sale.objects.for_order(order).exists()


def test_paid_order_is_recorded_once_however_often_it_is_saved(
    mocked, django_capture_on_commit_callbacks
):
    mocked.post(V2_URL, json=success_body(2))
    order = Order.objects.create(email="a@example.com", total=Decimal("10"))
    with django_capture_on_commit_callbacks(execute=True):
        order.paid = True
        order.save()
    # The save recorded and sent it, before any signal was sent.
    assert Sale.objects.get().status == DeliveryStatus.TRACKED
    with django_capture_on_commit_callbacks(execute=True):
        order.save()
        order_paid.send(sender=Order, order=order)
    sale = Sale.objects.get()
    assert sale.event_id == f"order-{order.pk}"
    assert sale.order == order
    assert sale.status == DeliveryStatus.TRACKED
    assert len(mocked.calls) == 1


def test_order_paid_signal_records_the_sale(django_capture_on_commit_callbacks):
    order = Order.objects.create(email="a@example.com", total=Decimal("10"))
    Order.objects.filter(pk=order.pk).update(paid=True)  # no post_save: a webhook-style update
    order.refresh_from_db()
    with firstpromoter(ORDER_MODEL=None, DELIVERY="worker"):
        order_paid.send(sender=Order, order=order)
    assert Sale.objects.get().amount_minor == 1000


def test_without_order_model_saves_are_not_watched():
    with firstpromoter(ORDER_MODEL=None):
        order = Order.objects.create(email="a@example.com", total=Decimal("10"), paid=True)
    assert not Sale.objects.exists()
    order.save()  # with ORDER_MODEL, the same save is
    assert Sale.objects.for_order(order).exists()


def test_fixture_loading_is_ignored():
    order = Order(email="a@example.com", total=Decimal("10"), paid=True)
    order.save_base(raw=True)
    assert not Sale.objects.exists()
    order.save()  # a save that is not a fixture's is watched
    assert Sale.objects.for_order(order).exists()


def broken_adapter(order):
    raise RuntimeError("adapter bug")


def bad_data_adapter(order):
    from django_firstpromoter import SaleData

    return SaleData(event_id=f"order-{order.pk}", amount=19.99, email=order.email)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("adapter", "logged"),
    [
        ("tests.test_hooks.broken_adapter", "adapter bug"),
        ("tests.test_hooks.bad_data_adapter", "floats lose cents"),
        ("tests.test_hooks.missing", "missing"),
    ],
)
def test_host_save_survives_our_errors_and_they_are_logged(adapter, logged, caplog):
    caplog.set_level(logging.ERROR, logger="django_firstpromoter")
    with firstpromoter(SALE_FROM_ORDER=adapter), transaction.atomic():
        order = Order.objects.create(email="a@example.com", total=Decimal("10"), paid=True)
        order_paid.send(sender=Order, order=order)
        # The host's transaction is still usable after our failure.
        Order.objects.create(email="b@example.com")
    assert Order.objects.count() == 2
    assert not Sale.objects.exists()
    records = [r for r in caplog.records if r.name == "django_firstpromoter"]
    # One error from the receiver of each of the two saves, one from the signal's.
    assert len(records) == 3
    assert all(r.levelno == logging.ERROR and r.exc_info for r in records)
    assert logged in caplog.text


def test_missing_adapter_setting_is_logged(caplog):
    order = Order.objects.create(email="a@example.com", total=Decimal("10"))
    with firstpromoter(SALE_FROM_ORDER=None):
        assert track_order(order) is None
    assert "SALE_FROM_ORDER" in caplog.text


def test_unreadable_settings_do_not_break_saves(caplog):
    from django.test import override_settings

    with override_settings(FIRSTPROMOTER="not a dict"):
        Order.objects.create(email="a@example.com", total=Decimal("10"), paid=True)
    assert "unreadable" in caplog.text
    assert Order.objects.count() == 1
