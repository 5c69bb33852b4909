"""A record's admin page reads as a story: a summary first, times to the second, the
next attempt only while one is due, no Delete on a view-only page, no empty tables."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from django_firstpromoter.models import Reward, Sale, SaleAttempt
from django_firstpromoter.statuses import AttemptOutcome, DeliveryStatus

pytestmark = pytest.mark.django_db


def page_of(client, sale: Sale) -> str:
    return client.get(f"/admin/django_firstpromoter/sale/{sale.pk}/change/").content.decode()


def tracked_sale() -> Sale:
    when = timezone.make_aware(datetime.datetime(2026, 12, 1, 19, 23, 21))
    sale = Sale.objects.create(
        event_id="evt-1",
        amount=Decimal("49"),
        amount_minor=4900,
        api_version=2,
        status=DeliveryStatus.TRACKED,
        tracked_at=when,
        attempt_count=2,
        # Left over from the claim: no attempt is due any more.
        next_attempt_at=when + datetime.timedelta(minutes=1),
    )
    for outcome in (AttemptOutcome.RETRY, AttemptOutcome.TRACKED):
        SaleAttempt.objects.create(
            sale=sale, api_version=2, url="u", outcome=outcome, started_at=when
        )
    Reward.objects.create(
        sale=sale,
        firstpromoter_id=1,
        status="approved",
        amount=980,
        unit="cash",
        promoter_email="alice@promoters.example",
    )
    return sale


def test_a_tracked_sale_says_what_happened_in_one_sentence(admin_client):
    page = page_of(admin_client, tracked_sale())
    assert (
        "Tracked on 2026-12-01 19:23:21 after 2 attempts; alice@promoters.example earned "
        "9.80 USD (approved)."
    ) in page
    # The lease's end is no attempt to come.
    assert "2026-12-01 19:24:21" not in page


def test_a_pending_sale_shows_when_it_is_due_to_the_second(admin_client):
    due = timezone.make_aware(datetime.datetime(2026, 12, 1, 19, 30, 5))
    sale = Sale.objects.create(
        event_id="evt-2", amount=Decimal(1), amount_minor=100, api_version=2, next_attempt_at=due
    )
    page = page_of(admin_client, sale)
    assert "Waiting to be sent, due at 2026-12-01 19:30:05 (0 attempts so far)." in page
    assert page.count("2026-12-01 19:30:05") == 2  # the summary and the field


def test_a_view_only_page_has_no_delete_button_and_no_empty_tables(admin_client):
    page = page_of(admin_client, tracked_sale())
    assert "/delete/" not in page
    assert 'id="refunds-group"' not in page  # the sale has none: no table of headers
    assert 'id="attempts-group"' in page and 'id="rewards-group"' in page
    listing = admin_client.get("/admin/django_firstpromoter/sale/").content.decode()
    assert "delete_selected" in listing  # rows may still be deleted from the list


def failed_sales(n: int) -> list[Sale]:
    return [
        Sale.objects.create(
            event_id=f"evt-{i:02}",
            amount=Decimal(1),
            amount_minor=100,
            api_version=2,
            status=DeliveryStatus.FAILED,
            attempt_count=3,
        )
        for i in range(n)
    ]


def retry_all(client, sales: list[Sale]):
    return client.post(
        "/admin/django_firstpromoter/sale/",
        {"action": "retry_sales", "_selected_action": [s.pk for s in sales], "index": "0"},
        follow=True,
    )


def test_retry_now_on_many_sends_ten_and_leaves_the_rest_due_for_the_worker(admin_client, mocked):
    from tests.conftest import V2_URL, success_body

    mocked.post(V2_URL, json=success_body(2))
    sales = failed_sales(12)
    response = retry_all(admin_client, sales)
    assert len(mocked.calls) == 10
    text = response.content.decode()
    assert "10 sales sent: 10 tracked." in text
    assert "2 more are due now: the worker sends them." in text
    waiting = Sale.objects.filter(status=DeliveryStatus.PENDING)
    assert waiting.count() == 2
    assert all(sale.next_attempt_at <= timezone.now() for sale in waiting)


def test_in_task_mode_the_rest_are_queued_as_tasks(admin_client, mocked):
    from django.test import override_settings

    from django_firstpromoter.tasks import deliver_sale
    from tests.conftest import V2_URL, firstpromoter, success_body
    from tests.test_tasks import DUMMY, backend

    mocked.post(V2_URL, json=success_body(2))
    with override_settings(TASKS=backend(DUMMY)), firstpromoter(DELIVERY="task"):
        dummy: Any = deliver_sale.get_backend()
        dummy.clear()
        retry_all(admin_client, failed_sales(11))
        queued = dummy.results
    assert len(mocked.calls) == 10
    assert len(queued) == 1


def test_the_shops_order_admin_links_to_what_firstpromoter_made_of_the_order(admin_client):
    from django_firstpromoter import RefundData, track_refund
    from tests.conftest import firstpromoter
    from tests.shop.models import Order

    with firstpromoter(DELIVERY="worker"):
        order = Order.objects.create(email="b@example.com", total=Decimal("20"), paid=True)
        refund = track_refund(
            RefundData(event_id="r-1", amount=Decimal(5), email="b@example.com"), order=order
        )
    sale = Sale.objects.get()
    assert refund is not None
    page = admin_client.get(f"/admin/shop/order/{order.pk}/change/").content.decode()
    assert f'href="/admin/django_firstpromoter/sale/{sale.pk}/change/"' in page
    assert f"sale {sale.event_id}</a>: 20.00 USD, Pending" in page
    assert f'href="/admin/django_firstpromoter/refund/{refund.pk}/change/"' in page
    listing = admin_client.get("/admin/shop/order/").content.decode()
    assert f'<a href="/admin/django_firstpromoter/sale/{sale.pk}/change/">Pending</a>' in listing
    # And back: the sale's page links to the order.
    assert f"/admin/shop/order/{order.pk}/change/" in page_of(admin_client, sale)


def test_the_rewards_list_says_paid_in_words(admin_client):
    sale = tracked_sale()
    Reward.objects.create(sale=sale, firstpromoter_id=2, paid=True, amount=1, unit="cash")
    Reward.objects.create(sale=sale, firstpromoter_id=3, paid=False, amount=1, unit="cash")
    listing = admin_client.get("/admin/django_firstpromoter/reward/").content.decode()
    for words in ("not known yet", ">paid<", "not paid"):
        assert words in listing


def test_the_last_response_comes_folded_after_the_rewards_and_attempts(admin_client):
    sale = tracked_sale()
    SaleAttempt.objects.filter(sale=sale).update(response_body='{"id": 1}')
    page = page_of(admin_client, sale)
    folded = page.index('<details class="fp-last-response')
    assert page.index('id="rewards-group"') < page.index('id="attempts-group"') < folded
    assert "&quot;id&quot;: 1" in page[folded:]
