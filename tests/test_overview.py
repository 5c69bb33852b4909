"""The admin's FirstPromoter overview: is tracking healthy, at a glance, in a constant
number of queries; linked from the app's index; for staff who may view sales."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_firstpromoter.models import Reward, Sale, SaleAttempt, WebhookEvent
from django_firstpromoter.statuses import AttemptOutcome, DeliveryStatus

pytestmark = pytest.mark.django_db
URL = "/admin/django_firstpromoter/overview/"


def sale(event_id: str, status: str = DeliveryStatus.TRACKED, **fields) -> Sale:
    return Sale.objects.create(
        event_id=event_id,
        amount=Decimal(20),
        amount_minor=2000,
        api_version=2,
        status=status,
        tracked_at=timezone.now() if status == DeliveryStatus.TRACKED else None,
        **fields,
    )


def attempt(record: Sale, outcome: str, days_ago: int = 0) -> None:
    SaleAttempt.objects.create(
        sale=record,
        started_at=timezone.now() - datetime.timedelta(days=days_ago),
        api_version=2,
        url="https://api.firstpromoter.com/api/v2/track/sale",
        outcome=outcome,
    )


def shop(n: int) -> None:
    for i in range(n):
        tracked = sale(f"t{i}")
        attempt(tracked, AttemptOutcome.RETRY, days_ago=i % 5)
        attempt(tracked, AttemptOutcome.TRACKED, days_ago=i % 5)
        Reward.objects.create(
            sale=tracked,
            firstpromoter_id=i + 1,
            status="approved",
            amount=400,
            unit="cash",
            promoter_email="alice@promoters.example",
            created_at=timezone.now(),
        )


def test_the_contracts_url_name():
    assert reverse("admin:django_firstpromoter_overview") == URL


def test_it_says_what_needs_a_person_with_links_to_the_filtered_lists(admin_client):
    shop(3)
    sale("f1", DeliveryStatus.FAILED)
    sale("d1", DeliveryStatus.DUPLICATE)
    sale("c1", order_changed_at=timezone.now(), order_changes="amount: 20.00 USD → 50.00 USD")
    WebhookEvent.objects.create(event_id="w1", commission_id=99, note="no reward")
    page = admin_client.get(URL).content.decode()
    assert "/admin/django_firstpromoter/sale/?status__exact=failed" in page
    assert "/admin/django_firstpromoter/sale/?status__exact=duplicate" in page
    assert "the order changed after it was reported: <strong>1</strong>" in page
    assert "webhook events not applied: <strong>1</strong>" in page
    # Each link lists exactly what it counted.
    for link, shown in (
        ("/admin/django_firstpromoter/sale/?status__exact=failed", "f1"),
        ("/admin/django_firstpromoter/sale/?status__exact=duplicate", "d1"),
        ("/admin/django_firstpromoter/sale/?order_changed=yes", "c1"),
        ("/admin/django_firstpromoter/webhookevent/?applied__exact=0", "w1"),
    ):
        assert link in page
        listing = admin_client.get(link)
        assert listing.status_code == 200, link
        assert list(listing.context["cl"].result_list) == [
            type(listing.context["cl"].result_list[0])._default_manager.get(event_id=shown)
        ]
    assert "12.00 USD" in page  # alice's three approved commissions
    assert "<svg" in page and "tracked 3" in page and "retried 3" in page


def test_all_well_says_so(admin_client):
    shop(1)
    assert "Nothing: no record failed" in admin_client.get(URL).content.decode()


def test_the_queries_do_not_grow_with_the_sales(admin_client):
    shop(2)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(URL).status_code == 200
    shop_more = 40
    for i in range(shop_more):
        attempt(sale(f"x{i}"), AttemptOutcome.TRACKED, days_ago=i % 30)
    with CaptureQueriesContext(connection) as many:
        admin_client.get(URL)
    assert len(many) == len(few)


def test_it_is_linked_from_the_apps_index(admin_client):
    index = admin_client.get("/admin/django_firstpromoter/").content.decode()
    assert f'href="{URL}"' in index


def test_only_staff_who_may_view_sales_see_it():
    user = User.objects.create_user("op", password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    assert client.get(URL).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_sale"))
    assert client.get(URL).status_code == 200


def test_every_changelist_links_to_it(admin_client):
    for model in ("sale", "refund", "cancellation", "signup", "reward", "webhookevent"):
        page = admin_client.get(f"/admin/django_firstpromoter/{model}/").content.decode()
        assert f'<a href="{URL}">FirstPromoter overview</a>' in page, model


def test_the_needs_attention_filter_lists_what_the_overview_counts(admin_client):
    sale("ok")
    sale("bad", status=DeliveryStatus.FAILED)
    sale("dup", status=DeliveryStatus.DUPLICATE)
    sale("changed", order_changed_at=timezone.now())
    listing = admin_client.get("/admin/django_firstpromoter/sale/?attention=yes")
    assert sorted(each.event_id for each in listing.context["cl"].result_list) == [
        "bad",
        "changed",
        "dup",
    ]


def test_outcomes_are_counted_per_day_over_thirty_days_quiet_days_included():
    from django_firstpromoter import overview

    record = sale("t")
    for outcome, days_ago in [
        (AttemptOutcome.TRACKED, 0),
        (AttemptOutcome.DUPLICATE, 0),  # FirstPromoter had it: tracked
        (AttemptOutcome.RETRY, 2),
        (AttemptOutcome.REJECTED, 2),
        (AttemptOutcome.NOT_REFERRAL, 29),
        (AttemptOutcome.TRACKED, 30),  # a day before the period
    ]:
        attempt(record, outcome, days_ago=days_ago)
    found = overview.build().days["sale"]
    today = timezone.localdate()
    assert len(found) == overview.DAYS
    assert (found[0].day, found[-1].day) == (today - datetime.timedelta(days=29), today)
    by_day = {each.day: each.counts for each in found if each.total}
    assert by_day == {
        today: {"tracked": 2, "not_referral": 0, "failed": 0, "retried": 0},
        today - datetime.timedelta(days=2): {
            "tracked": 0, "not_referral": 0, "failed": 1, "retried": 1,
        },
        today - datetime.timedelta(days=29): {
            "tracked": 0, "not_referral": 1, "failed": 0, "retried": 0,
        },
    }  # fmt: skip
    drawn = overview.chart("Sales", found)
    assert drawn["summary"] == "tracked 2, not referral 1, failed 1, retried 1"
    assert (drawn["first"], drawn["last"]) == (found[0].day, today)
    # The busiest day fills the chart's height; its parts stack bottom up.
    (busiest,) = [bar for bar in drawn["bars"] if bar["parts"] and bar["x"] == 29 * 20 + 2]
    assert busiest["parts"] == [{"y": 0.0, "height": 120.0, "colour": "#21ba45"}]


@pytest.mark.parametrize("asked,days", [("7", 7), ("90", 90), ("", 30), ("1000", 30), ("x", 30)])
def test_the_period_is_a_week_a_month_or_a_quarter(admin_client, asked, days):
    record = sale("t")
    Reward.objects.create(
        sale=record, firstpromoter_id=1, status="approved", amount=100, unit="cash",
        promoter_email="alice@promoters.example",
        created_at=timezone.now() - datetime.timedelta(days=10),
    )  # fmt: skip
    response = admin_client.get(URL, {"days": asked})
    assert response.status_code == 200
    assert response.context["days"] == days
    assert len(response.context["charts"][0]["bars"]) == days
    listed = [row["promoter_email"] for row in response.context["commissions_by_promoter"]]
    assert listed == ([] if days == 7 else ["alice@promoters.example"])
    assert f'<strong aria-current="page">{days} days</strong>' in response.content.decode()
