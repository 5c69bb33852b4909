"""Refunds made in Oscar's dashboard: a "refunded" payment event is the sale's share of
what was paid back; a refund status refunds what is left of the sale."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from oscar.core.loading import get_model

from django_firstpromoter.models import Refund, Sale
from django_firstpromoter.statuses import DeliveryStatus
from tests_oscar.checkout import place_order, visit

pytestmark = pytest.mark.django_db(transaction=True)


def dashboard(client: Any, order: Any, **data: Any) -> None:
    url = reverse("dashboard:order-detail", kwargs={"number": order.number})
    response = client.post(url, data)
    assert response.status_code == 302
    page = client.get(response.url).content.decode()
    assert "alert-danger" not in page, page


def refund_lines(client: Any, order: Any, amount: str, quantity: int = 1) -> Any:
    """The dashboard's payment event for some of the order's lines."""
    line = order.lines.get()
    dashboard(
        client,
        order,
        line_action="create_payment_event",
        selected_line=[line.pk],
        **{f"selected_line_qty_{line.pk}": quantity},
        payment_event_type="refunded",
        amount=amount,
    )
    return order.payment_events.latest("pk")


def set_status(client: Any, order: Any, status: str) -> None:
    dashboard(client, order, order_action="change_order_status", new_status=status)
    order.refresh_from_db()
    assert order.status == status


@pytest.fixture
def referred_order(client: Any, product: Any, sandbox: Any) -> Any:
    visit(client, "alice")
    order = place_order(client, product)  # 20.00 before tax, 30.00 paid.
    assert Sale.objects.get().status == DeliveryStatus.TRACKED
    client.cookies.clear()
    return order


def test_a_partial_refund_is_the_sales_share_of_what_was_paid_back(
    referred_order, staff_client, sandbox, api_version
):
    event = refund_lines(staff_client, referred_order, "12.00")

    # 12.00 of the 30.00 paid, tax and shipping in: 12.00 * 20.00 / 30.00 of the sale.
    refund = Refund.objects.get()
    sale = Sale.objects.get()
    assert (refund.event_id, refund.amount, refund.currency) == (
        f"oscar-{referred_order.number}-refund-{event.pk}",
        Decimal("8.00"),
        "GBP",
    )
    assert (refund.sale, refund.sale_event_id) == (sale, sale.event_id)
    assert refund.status == DeliveryStatus.TRACKED
    [sent] = sandbox.refunds
    assert (sent.amount, sent.sale_event_id, sent.promoter) == (800, sale.event_id, "alice")


def test_the_whole_orders_payment_event_refunds_it_all(referred_order, staff_client, sandbox):
    dashboard(
        staff_client,
        referred_order,
        order_action="create_order_payment_event",
        payment_event_type="refunded",
        amount="30.00",
    )

    assert Refund.objects.get().amount == Decimal("20.00")
    assert [sent.amount for sent in sandbox.refunds] == [2000]


def test_another_payment_event_type_is_not_a_refund(referred_order, staff_client, sandbox):
    get_model("order", "PaymentEventType").objects.create(name="Paid")

    refund_lines_data = {"payment_event_type": "paid", "amount": "30.00"}
    dashboard(
        staff_client, referred_order, order_action="create_order_payment_event", **refund_lines_data
    )

    assert Refund.objects.count() == 0


def test_a_refund_status_refunds_what_is_left(referred_order, staff_client, sandbox, api_version):
    refund_lines(staff_client, referred_order, "12.00")
    set_status(staff_client, referred_order, "Being processed")
    assert Refund.objects.count() == 1

    set_status(staff_client, referred_order, "Refunded")

    refunds = list(Refund.objects.order_by("pk"))
    assert [(r.event_id, r.amount) for r in refunds] == [
        (refunds[0].event_id, Decimal("8.00")),
        (f"oscar-{referred_order.number}-refunded", Decimal("12.00")),
    ]
    assert all(r.status == DeliveryStatus.TRACKED for r in refunds)
    assert [sent.amount for sent in sandbox.refunds] == [800, 1200]


def test_nothing_is_refunded_twice(referred_order, staff_client, sandbox):
    set_status(staff_client, referred_order, "Being processed")
    set_status(staff_client, referred_order, "Refunded")

    # Paid back after the status said it all was: nothing of the sale is left.
    refund_lines(staff_client, referred_order, "12.00")

    assert [r.amount for r in Refund.objects.all()] == [Decimal("20.00")]
    assert [sent.amount for sent in sandbox.refunds] == [2000]


def test_cancelling_an_order_refunds_it(referred_order, staff_client, sandbox):
    set_status(staff_client, referred_order, "Cancelled")

    refund = Refund.objects.get()
    assert (refund.event_id, refund.amount) == (
        f"oscar-{referred_order.number}-cancelled",
        Decimal("20.00"),
    )


def test_an_order_without_a_sale_is_not_refunded(
    client, product, firstpromoter_sandbox, staff_client, caplog
):
    order = place_order(client, product, quantity=1)
    Sale.objects.all().delete()

    with caplog.at_level(logging.INFO, logger="django_firstpromoter"):
        set_status(staff_client, order, "Cancelled")

    assert Refund.objects.count() == 0
    assert f"Oscar order {order.number}: no sale is recorded for it" in caplog.text


def test_the_admins_sale_page_links_to_the_dashboards_order_page(referred_order, admin_client):
    sale = Sale.objects.get()

    page = admin_client.get(
        reverse("admin:django_firstpromoter_sale_change", args=[sale.pk])
    ).content.decode()

    url = reverse("dashboard:order-detail", kwargs={"number": referred_order.number})
    assert f'<a href="{url}">' in page
