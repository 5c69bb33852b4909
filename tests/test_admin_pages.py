"""A record's admin page reads as a story: a summary first, times to the second, the
next attempt only while one is due, no Delete on a view-only page, no empty tables."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from django_firstpromoter.models import Reward, Sale, SaleAttempt
from django_firstpromoter.statuses import AttemptOutcome, DeliveryStatus

UNDERLINED = ' style="text-decoration:underline"'
"""A link among words: underlined (admin_links.link_in_text)."""
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
    assert (
        f'Sale <a href="/admin/django_firstpromoter/sale/{sale.pk}/change/"{UNDERLINED}>'
        f"{sale.event_id}</a>: 20.00 USD, Pending" in page
    )
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


def test_the_last_request_is_folded_beside_the_last_response(admin_client):
    sale = tracked_sale()
    SaleAttempt.objects.filter(sale=sale).update(request_params={"event_id": "evt-1"})
    page = page_of(admin_client, sale)
    folded = page.index('<details class="fp-last-request')
    assert folded < page.index('<details class="fp-last-response')
    assert "&quot;event_id&quot;: &quot;evt-1&quot;" in page[folded:]


def customer_records(uid: str = "cus_1") -> tuple[Sale, Any]:
    from django_firstpromoter.models import Cancellation

    sale = tracked_sale()
    Sale.objects.filter(pk=sale.pk).update(uid=uid, email="b@example.com")
    sale.refresh_from_db()
    cancellation = Cancellation.objects.create(
        event_id="sub-1", uid=uid, email="other@example.com", api_version=2
    )
    return sale, cancellation


def test_a_sale_and_its_customers_cancellation_link_to_each_other(admin_client):
    sale, cancellation = customer_records()
    # Someone else's, by the same email but another uid: not theirs.
    Sale.objects.create(
        event_id="evt-other",
        amount=1,
        amount_minor=100,
        uid="cus_2",
        email="b@example.com",
        api_version=2,
    )
    assert (
        f'<a href="/admin/django_firstpromoter/cancellation/{cancellation.pk}/change/"{UNDERLINED}>'
        "sub-1</a>" in page_of(admin_client, sale)
    )
    page = admin_client.get(
        f"/admin/django_firstpromoter/cancellation/{cancellation.pk}/change/"
    ).content.decode()
    assert (
        f'<a href="/admin/django_firstpromoter/sale/{sale.pk}/change/"{UNDERLINED}>evt-1</a>'
        in page
    )
    assert "evt-other" not in page


def test_a_customer_without_uid_is_matched_by_email(admin_client):
    from django_firstpromoter.models import Cancellation

    sale = Sale.objects.create(
        event_id="evt-1", amount=1, amount_minor=100, email="b@example.com", api_version=2
    )
    Cancellation.objects.create(event_id="sub-1", email="b@example.com", api_version=2)
    Cancellation.objects.create(event_id="sub-2", email="c@example.com", api_version=2)
    page = page_of(admin_client, sale)
    assert ">sub-1</a>" in page
    assert "sub-2" not in page


def test_past_five_linked_records_the_rest_is_one_link_to_the_filtered_list(admin_client):
    from django_firstpromoter.models import Cancellation

    sale, _ = customer_records()
    for n in range(2, 7):
        Cancellation.objects.create(event_id=f"sub-{n}", uid="cus_1", api_version=2)
    page = page_of(admin_client, sale)
    assert len(re.findall(r"/cancellation/\d+/change/", page)) == 5
    assert (
        f'<a href="/admin/django_firstpromoter/cancellation/?q=cus_1"{UNDERLINED}>all of them</a>'
        in page
    )
    listing = admin_client.get("/admin/django_firstpromoter/cancellation/?q=cus_1")
    assert listing.context["cl"].result_count == 6


def test_rewards_and_webhook_events_link_both_ways(admin_client):
    from django_firstpromoter.models import WebhookEvent

    sale = tracked_sale()
    reward = Reward.objects.get()
    event = WebhookEvent.objects.create(
        event_id="wh-1",
        event_type="reward_approved",
        payload={},
        commission_id=1,
        reward=reward,
        applied=True,
    )
    WebhookEvent.objects.create(event_id="wh-2", event_type="reward_approved", payload={})
    event_link = (
        f'<a href="/admin/django_firstpromoter/webhookevent/{event.pk}/change/"{UNDERLINED}>'
    )
    sale_page = page_of(admin_client, sale)
    # The sale's rewards link to their pages, and the events about them are listed.
    assert f'<a href="/admin/django_firstpromoter/reward/{reward.pk}/change/">1</a>' in sale_page
    assert event_link + "reward_approved (wh-1)</a>" in sale_page
    reward_page = admin_client.get(
        f"/admin/django_firstpromoter/reward/{reward.pk}/change/"
    ).content.decode()
    assert event_link in reward_page
    event_page = admin_client.get(
        f"/admin/django_firstpromoter/webhookevent/{event.pk}/change/"
    ).content.decode()
    assert f'<a href="/admin/django_firstpromoter/sale/{sale.pk}/change/">evt-1</a>' in event_page
    # The filtered list the sale's "all of them" link opens.
    listing = admin_client.get(
        f"/admin/django_firstpromoter/webhookevent/?reward__sale__id__exact={sale.pk}"
    )
    assert listing.status_code == 200
    assert [each.event_id for each in listing.context["cl"].result_list] == ["wh-1"]


def test_the_order_admin_lists_the_customers_cancellation(admin_client):
    from django_firstpromoter.models import Cancellation
    from tests.conftest import firstpromoter
    from tests.shop.models import Order

    with firstpromoter(DELIVERY="worker"):
        order = Order.objects.create(email="b@example.com", total=Decimal("20"), paid=True)
    cancellation = Cancellation.objects.create(
        event_id="sub-1", email="b@example.com", api_version=2
    )
    page = admin_client.get(f"/admin/shop/order/{order.pk}/change/").content.decode()
    assert (
        f'Cancellation <a href="/admin/django_firstpromoter/cancellation/'
        f'{cancellation.pk}/change/"{UNDERLINED}>sub-1</a>: Pending' in page
    )


def test_a_refunds_reward_reads_as_what_it_took_back(admin_client):
    from django_firstpromoter.models import Refund

    sale = tracked_sale()
    refund = Refund.objects.create(
        event_id="r-1", sale=sale, amount=Decimal(10), amount_minor=1000, api_version=2
    )
    Reward.objects.create(
        sale=sale, refund=refund, firstpromoter_id=2, status="approved", amount=-200, unit="cash",
        promoter_email="alice@promoters.example",
    )  # fmt: skip
    page = admin_client.get(f"/admin/django_firstpromoter/refund/{refund.pk}/change/")
    assert "alice@promoters.example gave back 2.00 USD (approved)." in page.content.decode()


def test_a_signups_page_says_what_happened_in_one_sentence(admin_client):
    from django_firstpromoter.models import Signup

    when = timezone.make_aware(datetime.datetime(2026, 12, 1, 19, 23, 21))
    signup = Signup.objects.create(
        event_id="email:b@example.com", email="b@example.com", ref_id="alice", api_version=2,
        status=DeliveryStatus.TRACKED, tracked_at=when, attempt_count=1,
    )  # fmt: skip
    page = admin_client.get(f"/admin/django_firstpromoter/signup/{signup.pk}/change/")
    assert "Tracked on 2026-12-01 19:23:21 after 1 attempt." in page.content.decode()
