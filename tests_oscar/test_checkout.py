"""A real Oscar checkout, reported to the sandbox over loopback HTTP: what is sent, for
a referral, a voucher, a zero-decimal currency and nobody's order, and during an outage."""

from __future__ import annotations

import io
import logging
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from django_firstpromoter.models import OrderReferral, Sale
from django_firstpromoter.statuses import DeliveryStatus
from tests.ports import free_port
from tests_oscar.checkout import place_order, visit
from tests_oscar.conftest import PROMO_CODE

UNDERLINED = ' style="text-decoration:underline"'
"""A link among words: underlined (admin_links.link_in_text)."""
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_referred_order_is_reported_before_tax_without_shipping(
    client, product, sandbox, api_version
):
    visit(client, "alice")

    order = place_order(client, product)

    # 2 * 10.00 before tax; 24.00 with it, and 6.00 of shipping: 30.00 paid.
    assert order.total_incl_tax == Decimal("30.00")
    sale = Sale.objects.get()
    assert (sale.event_id, sale.amount, sale.currency) == (
        f"oscar-{order.number}",
        Decimal("20.00"),
        "GBP",
    )
    assert (sale.status, sale.ref_id, sale.promo_code) == (DeliveryStatus.TRACKED, "alice", "")
    assert sale.order == order
    assert OrderReferral.objects.get().ref_id == "alice"
    [sent] = sandbox.sales
    assert (sent.event_id, sent.amount, sent.currency, sent.email) == (
        f"oscar-{order.number}",
        2000,
        "GBP",
        "buyer@example.com",
    )
    assert (sent.promoter, sent.api_version) == ("alice", api_version)
    assert sandbox.requests[0].params["ref_id"] == "alice"


def test_the_event_id_prefix_is_put_before_it_on_the_wire(client, product, sandbox, settings):
    settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, "EVENT_ID_PREFIX": "shop1-"}
    visit(client, "bob")

    order = place_order(client, product, quantity=1)

    assert Sale.objects.get().event_id == f"oscar-{order.number}"
    assert [sent.event_id for sent in sandbox.sales] == [f"shop1-oscar-{order.number}"]


def test_a_voucher_code_credits_its_promoter(client, product, voucher, sandbox, api_version):
    order = place_order(client, product, voucher=PROMO_CODE)

    # The voucher's 20 % comes off before tax: 16.00 of the 20.00.
    assert order.basket_total_excl_tax == Decimal("16.00")
    sale = Sale.objects.get()
    assert (sale.promo_code, sale.ref_id, sale.tid) == (PROMO_CODE, "", "")
    assert sale.status == DeliveryStatus.TRACKED
    [sent] = sandbox.sales
    assert (sent.amount, sent.promoter) == (1600, "alice")
    assert sandbox.requests[0].params["promo_code"] == PROMO_CODE


def test_a_zero_decimal_currency_is_sent_in_whole_yen(client, yen_product, sandbox, api_version):
    visit(client, "alice")

    order = place_order(client, yen_product)

    assert order.currency == "JPY"
    sale = Sale.objects.get()
    assert (sale.amount, sale.amount_minor, sale.currency) == (Decimal(3000), 3000, "JPY")
    [sent] = sandbox.sales
    assert (sent.amount, sent.currency) == (3000, "JPY")


def test_an_order_nobody_referred_is_not_a_referral(client, product, sandbox, api_version):
    place_order(client, product)

    sale = Sale.objects.get()
    assert sale.status == DeliveryStatus.NOT_REFERRAL
    assert (sale.tid, sale.ref_id, sale.promo_code) == ("", "", "")
    assert sandbox.sales == []
    assert OrderReferral.objects.count() == 0


@pytest.mark.parametrize("outage", ["500", "down"])
def test_an_outage_never_stops_the_checkout_and_the_sale_is_sent_later(
    client, product, sandbox, settings, outage
):
    visit(client, "alice")
    reachable = settings.FIRSTPROMOTER
    if outage == "500":
        sandbox.faults.error_rate = 1.0
    else:
        settings.FIRSTPROMOTER = {**reachable, "BASE_URL": f"http://127.0.0.1:{free_port()}/"}

    order = place_order(client, product)  # The thank-you page, as ever.

    sale = Sale.objects.get()
    assert sale.status == DeliveryStatus.PENDING
    assert sale.event_id == f"oscar-{order.number}"
    sandbox.faults.error_rate = 0
    settings.FIRSTPROMOTER = reachable
    Sale.objects.update(next_attempt_at=timezone.now())
    out = io.StringIO()
    call_command("firstpromoter_deliver", stdout=out)

    assert "1 tracked" in out.getvalue()
    sale.refresh_from_db()
    assert sale.status == DeliveryStatus.TRACKED
    assert [sent.event_id for sent in sandbox.sales] == [f"oscar-{order.number}"]


def test_a_broken_amount_rule_is_logged_and_the_order_placed(
    client, product, sandbox, settings, caplog
):
    settings.FIRSTPROMOTER = {
        **settings.FIRSTPROMOTER,
        "OSCAR_AMOUNT": "tests_oscar.rules.broken",
    }
    visit(client, "alice")

    with caplog.at_level(logging.ERROR, logger="django_firstpromoter"):
        order = place_order(client, product)

    assert Sale.objects.count() == 0
    assert f"could not record a FirstPromoter sale for Oscar order {order.number}" in caplog.text
    # The referral is kept for the order all the same.
    assert OrderReferral.objects.get().ref_id == "alice"
    assert sandbox.sales == []


@pytest.fixture
def atomic_requests(monkeypatch):
    """The shop runs each view in a transaction (``ATOMIC_REQUESTS``)."""
    from django.db import connection

    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)


def test_in_an_atomic_request_the_sale_is_sent_after_the_commit(
    atomic_requests, client, product, sandbox
):
    visit(client, "alice")

    order = place_order(client, product)

    assert Sale.objects.get().status == DeliveryStatus.TRACKED
    assert [sent.event_id for sent in sandbox.sales] == [f"oscar-{order.number}"]


def test_a_failed_write_of_ours_leaves_the_shops_transaction_usable(
    atomic_requests, client, product, sandbox, monkeypatch, caplog
):
    from django.db import connection

    from django_firstpromoter import sales

    def failing_write(data, order=None):
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO no_such_table VALUES (1)")

    monkeypatch.setattr(sales, "track_sale", failing_write)
    visit(client, "alice")

    order = place_order(client, product)  # Committed, with its lines, all the same.

    assert order.lines.count() == 1
    assert Sale.objects.count() == 0
    assert OrderReferral.objects.get().ref_id == "alice"
    assert "no_such_table" in caplog.text


def test_a_customer_with_an_account_is_sent_with_their_uid(
    client, product, sandbox, django_user_model
):
    user = django_user_model.objects.create_user("grace", "grace@example.com", "password")
    client.force_login(user)
    visit(client, "bob")

    place_order(client, product, guest=False)

    sale = Sale.objects.get()
    assert (sale.email, sale.uid) == ("grace@example.com", str(user.pk))
    [sent] = sandbox.sales
    assert (sent.email, sent.uid, sent.promoter) == ("grace@example.com", str(user.pk), "bob")


def test_oscars_order_in_djangos_admin_links_to_its_sale(
    client, admin_client, product, sandbox, api_version
):
    from django.contrib import admin
    from oscar.apps.order.admin import OrderAdmin

    from django_firstpromoter.order_admin import FirstPromoterOrderAdminMixin

    visit(client, "alice")
    order = place_order(client, product)
    sale = Sale.objects.get()

    # Oscar's own admin of the order, kept, with the mixin before it.
    registered = admin.site._registry[type(order)]
    assert isinstance(registered, FirstPromoterOrderAdminMixin)
    assert isinstance(registered, OrderAdmin)
    page = admin_client.get(f"/admin/order/order/{order.pk}/change/").content.decode()
    assert (
        f'Sale <a href="/admin/django_firstpromoter/sale/{sale.pk}/change/"{UNDERLINED}>'
        f"oscar-{order.number}</a>: 20.00 GBP, Tracked" in page
    )
