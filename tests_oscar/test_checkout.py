"""A real Oscar checkout, reported to the sandbox over loopback HTTP."""

from __future__ import annotations

from decimal import Decimal

import pytest

from django_firstpromoter.models import OrderReferral, Sale
from django_firstpromoter.statuses import DeliveryStatus
from tests_oscar.checkout import place_order, visit


@pytest.mark.django_db(transaction=True)
def test_a_referred_order_is_reported_before_tax_without_shipping(client, product, sandbox, api_version):
    visit(client, "alice")

    order = place_order(client, product)

    # 2 × 10.00 before tax; 24.00 with it, and 6.00 of shipping: 30.00 paid.
    assert order.total_incl_tax == Decimal("30.00")
    sale = Sale.objects.get()
    assert (sale.event_id, sale.amount, sale.currency) == (f"oscar-{order.number}", Decimal("20.00"), "GBP")
    assert sale.status == DeliveryStatus.TRACKED
    assert sale.order == order
    assert OrderReferral.objects.get().ref_id == "alice"
    [sent] = sandbox.sales
    assert (sent.event_id, sent.amount, sent.currency, sent.email) == (
        f"oscar-{order.number}", 2000, "GBP", "buyer@example.com"
    )
    assert sent.promoter == "alice"
    assert sent.api_version == api_version
