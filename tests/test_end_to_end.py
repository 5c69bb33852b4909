"""The issue's promise: a test shop's paid order reaches FirstPromoter once, and the
admin shows it tracked with its reward."""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from openapi_core.contrib.requests import RequestsOpenAPIRequest

from django_firstpromoter import __version__
from django_firstpromoter.models import Sale
from tests.conftest import success_body
from tests.shop.models import Order

pytestmark = pytest.mark.django_db(transaction=True)


def test_paid_order_is_sent_once_valid_and_shown_tracked(
    api_version, sale_url, mocked, specs, admin_client
):
    mocked.post(sale_url, json=success_body(api_version))
    order = Order.objects.create(
        email="buyer@example.com", total=Decimal("49.95"), referral_tid="t1"
    )
    order.paid = True
    order.save()
    order.save()

    assert len(mocked.calls) == 1
    request = mocked.calls[0].request
    specs[api_version].validate_request(RequestsOpenAPIRequest(request))
    assert request.headers["User-Agent"] == f"django-firstpromoter/{__version__}"
    if api_version == 2:
        assert request.headers["Authorization"] == "Bearer test-api-key"
        assert request.headers["ACCOUNT-ID"] == "acc_test"
        sent = json.loads(request.body)
        assert sent["amount"] == 4995
    else:
        assert request.headers["X-API-KEY"] == "test-api-key"
        sent = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        assert sent["amount"] == "4995"
    assert sent["event_id"] == f"order-{order.pk}"
    assert sent["tid"] == "t1"

    sale = Sale.objects.get()
    page = admin_client.get(f"/admin/django_firstpromoter/sale/{sale.pk}/change/").content.decode()
    assert "fp-status-tracked" in page
    reward = sale.rewards.get()
    assert reward.promoter_email in page
    assert f"{reward.amount / 100:.2f} USD" in page
    listing = admin_client.get("/admin/django_firstpromoter/sale/").content.decode()
    assert f"order-{order.pk}" in listing and "fp-status-tracked" in listing
