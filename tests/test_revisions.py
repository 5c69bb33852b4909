"""Orders built in steps and referrals with no field on the order: a sale is what its
order was when it was sent, and the app keeps the visitor's referral itself."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import transaction
from django.test import Client, RequestFactory

from django_firstpromoter import SaleData, track_sale
from django_firstpromoter.delivery import deliver
from django_firstpromoter.models import OrderReferral, Sale
from django_firstpromoter.referral import Referral, referral_for, remember_referral
from django_firstpromoter.signals import order_paid
from django_firstpromoter.statuses import DeliveryStatus
from tests.conftest import V2_URL, firstpromoter, success_body
from tests.shop.models import Order

MIDDLEWARE = "django_firstpromoter.middleware.ReferralMiddleware"


@pytest.fixture
def with_middleware(settings: Any) -> None:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, MIDDLEWARE]


def sent(call: Any, api_version: int) -> dict[str, Any]:
    request = call.request
    if api_version == 2:
        return dict(json.loads(request.body))
    return {key: value[0] for key, value in parse_qs(urlsplit(request.url).query).items()}


@pytest.mark.django_db(transaction=True)
def test_an_order_built_in_steps_is_reported_as_it_was_at_commit_with_its_referral(
    with_middleware, mocked, api_version, sale_url
):
    mocked.post(sale_url, json=success_body(api_version))
    client = Client()
    client.cookies["_fprom_ref"] = "alice"
    response = client.post(
        "/checkout-in-steps/",
        {"email": "buyer@example.com", "line": ["10.00", "15.50"], "currency": "EUR"},
    )
    assert response.status_code == 201
    order = Order.objects.get(pk=int(response.content))
    assert (order.referral_tid, order.referral_ref_id) == ("", "")  # no field was written

    (call,) = mocked.calls
    params = sent(call, api_version)
    assert str(params["amount"]) == "2550"
    assert params["currency"] == "EUR"
    assert params["ref_id"] == "alice"
    sale = Sale.objects.get()
    assert (sale.order, sale.amount, sale.ref_id) == (order, Decimal("25.50"), "alice")
    assert sale.status == DeliveryStatus.TRACKED
    assert sale.order_changed_at is None
    assert referral_for(order) == Referral(ref_id="alice")


@pytest.mark.django_db(transaction=True)
def test_an_order_nobody_referred_keeps_no_referral(with_middleware, mocked, sale_url):
    mocked.post(sale_url, status=204)
    response = Client().post("/checkout-in-steps/", {"email": "b@example.com", "line": ["5"]})
    assert response.status_code == 201
    assert not OrderReferral.objects.exists()
    assert Sale.objects.get().status == DeliveryStatus.NOT_REFERRAL


pytestmark = pytest.mark.django_db


def paid_order(**fields: Any) -> Order:
    return Order.objects.create(email="buyer@example.com", total=Decimal("20"), paid=True, **fields)


def test_order_paid_with_the_request_keeps_its_referral_for_the_sale():
    order = Order.objects.create(email="buyer@example.com", total=Decimal("20"))
    Order.objects.filter(pk=order.pk).update(paid=True)
    order.refresh_from_db()
    request = RequestFactory().get("/thanks/?fpr=bob")
    with firstpromoter(ORDER_MODEL=None, DELIVERY="worker"):
        order_paid.send(sender=Order, order=order, request=request)
    assert Sale.objects.get().ref_id == "bob"
    assert referral_for(order) == Referral(ref_id="bob")


def test_the_first_referral_kept_for_an_order_stays():
    order = paid_order()
    OrderReferral.objects.all().delete()
    remember_referral(RequestFactory().get("/?fpr=alice"), order)
    remember_referral(RequestFactory().get("/?fpr=bob"), order)
    assert referral_for(order) == Referral(ref_id="alice")
    assert OrderReferral.objects.count() == 1


def test_the_orders_own_referral_wins_over_the_kept_one():
    order = Order(email="buyer@example.com", total=Decimal("20"), referral_ref_id="carol")
    with firstpromoter(DELIVERY="worker"):
        order.save()
        remember_referral(RequestFactory().get("/?fpr=alice"), order)
        order.paid = True
        order.save()
    assert Sale.objects.get().ref_id == "carol"


def test_nothing_is_kept_without_a_referral_or_for_an_unsaved_order():
    assert not remember_referral(RequestFactory().get("/"), paid_order())
    remember_referral(RequestFactory().get("/?fpr=alice"), Order())
    assert not OrderReferral.objects.exists()
    assert referral_for(None) == Referral() == referral_for(Order())


def test_a_later_answer_updates_a_sale_not_sent_yet():
    with firstpromoter(DELIVERY="worker"):
        order = paid_order()
        order.total = Decimal("35.00")
        order.referral_tid = "t-9"
        order.save()
    sale = Sale.objects.get()
    assert (sale.amount, sale.amount_minor, sale.tid) == (Decimal("35.00"), 3500, "t-9")
    assert sale.status == DeliveryStatus.PENDING and sale.order_changed_at is None


def test_an_order_changed_after_it_was_reported_is_logged_and_shown(mocked, caplog, admin_client):
    mocked.post(V2_URL, json=success_body(2))
    with firstpromoter(DELIVERY="worker"):
        order = paid_order()
        sale = Sale.objects.get()
        assert deliver(Sale, sale.pk) == DeliveryStatus.TRACKED
        order.total = Decimal("50.00")
        with caplog.at_level(logging.WARNING, logger="django_firstpromoter"):
            order.save()
    sale.refresh_from_db()
    assert (sale.amount, sale.status) == (Decimal("20.00"), DeliveryStatus.TRACKED)
    assert sale.order_changed_at is not None
    assert sale.order_changes == "amount: 20.00 USD → 50.00 USD"
    assert "the order changed after it was reported" in caplog.text
    assert len(mocked.calls) == 1

    page = admin_client.get(f"/admin/django_firstpromoter/sale/{sale.pk}/change/")
    assert "The order changed after it was reported" in page.content.decode()
    assert "amount: 20.00 USD → 50.00 USD" in page.content.decode()


def test_a_sale_a_sender_has_claimed_is_not_changed_under_it(caplog):
    with firstpromoter(DELIVERY="worker"):
        order = paid_order()
        Sale.objects.update(status=DeliveryStatus.SENDING, attempt_count=1)
        order.total = Decimal("21")
        order.save()
    sale = Sale.objects.get()
    assert sale.amount == Decimal("20") and sale.order_changed_at is not None


def test_the_same_answer_again_changes_nothing():
    with firstpromoter(DELIVERY="worker"):
        order = paid_order()
        before = Sale.objects.get()
        order.save()
    after = Sale.objects.get()
    assert after.updated_at == before.updated_at and after.order_changed_at is None


def test_only_what_the_adapter_says_of_the_sale_is_compared():
    # The time of each save is no change of the order.
    first = track_sale(SaleData(event_id="e", amount=Decimal(3), email="a@example.com"))
    later = SaleData(event_id="e", amount=Decimal(3), email="a@example.com")
    with transaction.atomic():
        again = track_sale(later)
    assert first is not None and again is not None and again.order_changes == ""
