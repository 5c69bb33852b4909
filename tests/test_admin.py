"""The operator's admin: real requests through /admin/ as a superuser or a view-only user."""

from __future__ import annotations

import datetime
import itertools
import json
import re
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
import responses
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.html import escape
from pytest_django.asserts import assertContains, assertNotContains

from django_firstpromoter.admin_links import change_url as admin_url
from django_firstpromoter.conf import get_config
from django_firstpromoter.models import Cancellation, Reward, Sale, SaleAttempt, WebhookEvent
from django_firstpromoter.monitoring import QueueStatus
from django_firstpromoter.statuses import AttemptOutcome, DeliveryStatus
from django_firstpromoter.worker import Worker
from tests.conftest import V2_URL, firstpromoter, success_body
from tests.factories import make_sale
from tests.shop.models import Order

pytestmark = pytest.mark.django_db

SALES = "/admin/django_firstpromoter/sale/"
REWARDS = "/admin/django_firstpromoter/reward/"
PAYLOAD = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def make_reward(sale: Sale, **fields: Any) -> Reward:
    fields.setdefault("amount", 400)
    fields.setdefault("unit", "cash")
    fields.setdefault("status", "approved")
    fields.setdefault("tier", 1)
    return Reward.objects.create(sale=sale, **fields)


def make_attempt(sale: Sale, **fields: Any) -> SaleAttempt:
    fields.setdefault("url", V2_URL)
    fields.setdefault("outcome", AttemptOutcome.REJECTED)
    attempt: SaleAttempt = sale.attempts.create(api_version=2, **fields)
    return attempt


def shown(response: Any) -> set[str]:
    """The event ids (or reward ids) on the changelist page."""
    return {str(obj) for obj in response.context["cl"].result_list}


def change_url(sale: Sale) -> str:
    return f"{SALES}{sale.pk}/change/"


# Sale changelist


def test_changelist_shows_what_an_operator_needs_per_sale(admin_client: Client) -> None:
    sale = make_sale(
        "evt-columns",
        email="buyer@example.com",
        amount="19.99",
        status=DeliveryStatus.FAILED,
        attempt_count=3,
    )
    make_reward(sale, amount=400, promoter_email="first@promoter.com")
    make_reward(sale, amount=150, tier=2, promoter_email="second@promoter.com")

    response = admin_client.get(SALES)

    assert response.status_code == 200
    assertContains(response, f'<a href="{change_url(sale)}">evt-columns</a>', html=True)
    assertContains(response, '<td class="field-customer">buyer@example.com</td>', html=True)
    assertContains(response, '<td class="field-amount_display">19.99 USD</td>', html=True)
    assert re.search(
        r'<span class="fp-status fp-status-failed" style="background:#db2828;[^"]*">Failed</span>',
        response.content.decode(),
    )
    assertContains(
        response,
        '<td class="field-commission">5.50 USD<br>first@promoter.com, second@promoter.com</td>',
        html=True,
    )


def test_changelist_falls_back_to_uid_and_dashes(admin_client: Client) -> None:
    make_sale("evt-uid", email="", uid="customer-42", status=DeliveryStatus.PENDING)

    response = admin_client.get(SALES)

    assertContains(response, '<td class="field-customer">customer-42</td>', html=True)
    assertContains(response, '<td class="field-commission">—</td>', html=True)
    assert re.search(r'class="fp-status fp-status-pending"[^>]*>Pending</span>', response.text)


def test_changelist_totals_rewards_per_unit(admin_client: Client) -> None:
    sale = make_sale("evt-units", amount="5000", currency="JPY", status=DeliveryStatus.TRACKED)
    make_reward(sale, amount=500, unit="cash")
    make_reward(sale, amount=250, unit="cash")
    make_reward(sale, amount=10, unit="points")

    response = admin_client.get(SALES)

    assertContains(response, '<td class="field-amount_display">5000 JPY</td>', html=True)
    assertContains(response, '<td class="field-commission">750 JPY, 10 points</td>', html=True)


def test_sale_amount_keeps_the_currencys_decimals(admin_client: Client) -> None:
    make_sale("evt-round", amount="20.00")
    make_sale("evt-dime", amount="19.90")

    response = admin_client.get(SALES)

    assertContains(response, '<td class="field-amount_display">20.00 USD</td>', html=True)
    assertContains(response, '<td class="field-amount_display">19.90 USD</td>', html=True)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status__exact=failed", {"evt-failed-v2"}),
        ("status__exact=pending", {"evt-pending-v1"}),
        ("status__exact=tracked", {"evt-tracked-v2"}),
        ("api_version=1", {"evt-pending-v1"}),
        ("api_version=2", {"evt-failed-v2", "evt-tracked-v2"}),
        ("status__exact=failed&api_version=1", set()),
    ],
)
def test_changelist_filters(admin_client: Client, query: str, expected: set[str]) -> None:
    make_sale("evt-failed-v2", status=DeliveryStatus.FAILED)
    make_sale("evt-pending-v1", status=DeliveryStatus.PENDING, api_version=1)
    make_sale("evt-tracked-v2", status=DeliveryStatus.TRACKED)

    response = admin_client.get(f"{SALES}?{query}")

    assert response.status_code == 200
    assert shown(response) == expected


def offered(response: Any, title: str) -> dict[str, str]:
    """The choices the filter sidebar offers under ``title``: label -> query string."""
    cl = response.context["cl"]
    (spec,) = [spec for spec in cl.filter_specs if spec.title == title]
    return {str(choice["display"]): choice["query_string"] for choice in spec.choices(cl)}


def test_changelist_offers_status_and_api_version_filters(admin_client: Client) -> None:
    make_sale("evt-failed-v2", status=DeliveryStatus.FAILED)
    make_sale("evt-pending-v1", status=DeliveryStatus.PENDING, api_version=1)

    sidebar = admin_client.get(SALES)
    by_status = offered(sidebar, "status")
    by_version = offered(sidebar, "API version")

    assert {"All", "Pending", "Failed", "Tracked", "Ignored"} <= set(by_status)
    assert set(by_version) == {"All", "1", "2"}
    assert shown(admin_client.get(SALES + by_status["Failed"])) == {"evt-failed-v2"}
    assert shown(admin_client.get(SALES + by_version["1"])) == {"evt-pending-v1"}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("evt-alpha", {"evt-alpha"}),
        ("alice@shop.example", {"evt-alpha"}),
        ("uid-of-bob", {"evt-beta"}),
        ("carol@promoter.com", {"evt-beta"}),
        ("nobody-matches-this", set()),
    ],
)
def test_changelist_search(admin_client: Client, q: str, expected: set[str]) -> None:
    make_sale("evt-alpha", email="alice@shop.example")
    beta = make_sale("evt-beta", email="", uid="uid-of-bob")
    make_reward(beta, promoter_email="carol@promoter.com")
    make_reward(beta, amount=100, tier=2, promoter_email="carol@promoter.com")

    response = admin_client.get(SALES, {"q": q})

    assert response.status_code == 200
    assert shown(response) == expected
    # A sale found through two of its rewards is listed once.
    assert len(response.context["cl"].result_list) == len(expected)


# The delivery queue above the list


def queue_summary(response: Any) -> str:
    """The summary's text, whitespace collapsed."""
    (html,) = re.findall(r'<p class="fp-queue-status".*?</p>', response.text, re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def queue() -> None:
    now = timezone.now()
    hour = datetime.timedelta(hours=1)
    make_sale("evt-due", status=DeliveryStatus.PENDING, recorded_at=now - 2 * hour)
    make_sale(
        "evt-retry",
        status=DeliveryStatus.PENDING,
        attempt_count=2,
        next_attempt_at=now + hour,
        recorded_at=now - hour,
    )
    make_sale("evt-failed", status=DeliveryStatus.FAILED, attempt_count=1)
    make_sale("evt-tracked", status=DeliveryStatus.TRACKED, recorded_at=now - 50 * hour)


def test_the_queue_summary_sits_above_the_list(admin_client: Client, queue: None) -> None:
    response = admin_client.get(SALES)

    assert queue_summary(response) == (
        "Delivery queue, all sales whatever the filters: due now: 1 overdue: 0 waiting for retry: 1"
        " sending: 0 failed: 1 oldest waiting: 2h 0m"
    )
    page = response.text
    assert page.index("fp-queue-status") < page.index('id="result_list"')


@pytest.mark.parametrize("query", ["status__exact=tracked", "q=evt-tracked", "api_version=1"])
def test_the_queue_summary_counts_every_sale_whatever_the_filters(
    admin_client: Client, queue: None, query: str
) -> None:
    response = admin_client.get(f"{SALES}?{query}")

    assert shown(response) <= {"evt-tracked"}
    assert "failed: 1" in queue_summary(response)
    assert "due now: 1" in queue_summary(response)


def test_view_only_staff_see_the_queue_too(viewer_client: Client, queue: None) -> None:
    assert "failed: 1" in queue_summary(viewer_client.get(SALES))


def test_the_queue_summary_follows_retry_now(
    admin_client: Client, mocked: responses.RequestsMock, queue: None
) -> None:
    mocked.post(V2_URL, status=204)

    response = post_action(admin_client, "retry_sales", list(Sale.objects.all()))

    assert queue_summary(response).endswith(
        "due now: 0 overdue: 0 waiting for retry: 0 sending: 0 failed: 0 oldest waiting: none"
    )


def test_the_queue_summary_costs_one_query_however_long_the_queue(
    admin_client: Client,
) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(SALES).status_code == 200
        return len(captured)

    make_sale("evt-first", status=DeliveryStatus.FAILED)
    few = queries()
    for n, status in enumerate(DeliveryStatus.values * 5):
        sale = make_sale(f"evt-{n}", status=status, attempt_count=n % 3)
        make_reward(sale)
    many = queries()
    with mock.patch(
        "django_firstpromoter.admin.queue_status", return_value=QueueStatus(0, 0, 0, 0, None)
    ):
        without_summary = queries()

    assert few == many == without_summary + 1


# Sale change page


def test_change_page_shows_rewards_and_attempts_read_only(admin_client: Client) -> None:
    sale = make_sale("evt-detail", status=DeliveryStatus.TRACKED)
    make_reward(sale, firstpromoter_id=777, promoter_email="promoter@example.com", tier=2)
    make_attempt(
        sale,
        http_status=503,
        outcome=AttemptOutcome.RETRY,
        error="HTTP 503: down for maintenance",
        response_body='{"message":"down for maintenance"}',
    )

    response = admin_client.get(change_url(sale))

    assert response.status_code == 200
    content = response.text
    # Rewards inline
    assertContains(response, "promoter@example.com")
    assertContains(response, "4.00 USD")
    assertContains(response, "777")
    # Attempts inline
    assertContains(response, "HTTP 503: down for maintenance")
    assertContains(response, "Retry later")
    # Read-only: no editable inline field, no delete box, nothing to add.
    for field in ("rewards-0-promoter_email", "rewards-0-amount", "attempts-0-error"):
        assert f'name="{field}"' not in content
    for prefix in ("rewards", "attempts"):
        assert f'name="{prefix}-0-DELETE"' not in content
        assertContains(response, f'name="{prefix}-MAX_NUM_FORMS" value="0"')
    # Nor can the sale's own fields be edited.
    for field in ("email", "amount", "status", "event_id"):
        assert f'name="{field}"' not in content


def test_change_page_shows_the_latest_response_as_indented_json(admin_client: Client) -> None:
    sale = make_sale("evt-json", status=DeliveryStatus.FAILED)
    earlier = timezone.now() - datetime.timedelta(minutes=5)
    make_attempt(sale, started_at=earlier, response_body='{"old":true}')
    make_attempt(sale, response_body='{"message":"Amount blank","code":"invalid"}')

    response = admin_client.get(change_url(sale))

    latest = json.dumps({"message": "Amount blank", "code": "invalid"}, indent=2)
    assert "\n  " in latest
    assertContains(response, f"<pre>{escape(latest)}</pre>")
    assertNotContains(response, f"<pre>{escape(json.dumps({'old': True}, indent=2))}</pre>")


def test_change_page_shows_a_non_json_response_as_is(admin_client: Client) -> None:
    sale = make_sale("evt-html", status=DeliveryStatus.PENDING)
    make_attempt(sale, outcome=AttemptOutcome.RETRY, response_body="Bad Gateway")

    response = admin_client.get(change_url(sale))

    assertContains(response, "<pre>Bad Gateway</pre>")


def test_change_page_links_to_the_order(admin_client: Client) -> None:
    order = Order.objects.create(email="buyer@example.com", total=Decimal("19.99"))
    sale = make_sale(
        "evt-order",
        order_content_type=ContentType.objects.get_for_model(Order),
        order_object_id=str(order.pk),
    )

    response = admin_client.get(change_url(sale))

    order_url = f"/admin/shop/order/{order.pk}/change/"
    assertContains(response, f'<a href="{order_url}">Order {order.pk}</a>', html=True)
    assert admin_client.get(order_url).status_code == 200


def test_change_page_names_a_deleted_order(admin_client: Client) -> None:
    order = Order.objects.create(email="buyer@example.com")
    sale = make_sale(
        "evt-gone",
        order_content_type=ContentType.objects.get_for_model(Order),
        order_object_id=str(order.pk),
    )
    order_pk = order.pk
    order.delete()

    response = admin_client.get(change_url(sale))

    assertContains(response, f"#{order_pk} (deleted)")
    assertNotContains(response, f"/admin/shop/order/{order_pk}/change/")


# Escaping what FirstPromoter (or a customer) sent


@pytest.fixture
def hostile_sale() -> Sale:
    sale = make_sale("evt-hostile", email="", uid=PAYLOAD, status=DeliveryStatus.TRACKED)
    make_reward(
        sale,
        firstpromoter_id=4242,
        promoter_email=PAYLOAD,
        lead_email=PAYLOAD,
        status=PAYLOAD,
        raw={"note": PAYLOAD},
    )
    make_attempt(
        sale,
        outcome=AttemptOutcome.TRACKED,
        http_status=200,
        error=PAYLOAD,
        response_body=json.dumps({"message": PAYLOAD}),
    )
    # The records linked to it, by the same customer and about its reward.
    Cancellation.objects.create(event_id=PAYLOAD, uid=PAYLOAD, api_version=2)
    WebhookEvent.objects.create(
        event_id=PAYLOAD, event_type=PAYLOAD, payload={}, reward=sale.rewards.get()
    )
    return sale


@pytest.mark.parametrize(
    "page",
    [
        "sale changelist",
        "sale change",
        "reward changelist",
        "reward change",
        "cancellation change",
        "webhook event change",
    ],
)
def test_firstpromoter_text_is_escaped(admin_client: Client, hostile_sale: Sale, page: str) -> None:
    reward = hostile_sale.rewards.get()
    url = {
        "sale changelist": SALES,
        "sale change": change_url(hostile_sale),
        "reward changelist": REWARDS,
        "reward change": f"{REWARDS}{reward.pk}/change/",
        "cancellation change": admin_url(Cancellation.objects.get()),
        "webhook event change": admin_url(WebhookEvent.objects.get()),
    }[page]

    response = admin_client.get(url)

    assert response.status_code == 200
    assertContains(response, ESCAPED)
    assertNotContains(response, PAYLOAD)


def test_attempt_body_and_last_response_are_escaped(
    admin_client: Client, hostile_sale: Sale
) -> None:
    response = admin_client.get(change_url(hostile_sale))

    pretty = escape(json.dumps({"message": PAYLOAD}, indent=2, ensure_ascii=False))
    assertContains(response, f"<pre>{pretty}</pre>")  # last response
    assertContains(response, f">{pretty}</pre>", count=2)  # and the attempts inline
    assertNotContains(response, "<script>alert")


# Permissions


def test_sales_cannot_be_added_by_hand(admin_client: Client) -> None:
    assert admin_client.get(f"{SALES}add/").status_code == 403
    assert admin_client.post(f"{SALES}add/", {"event_id": "typed-in"}).status_code == 403
    assertNotContains(admin_client.get(SALES), f"{SALES}add/")
    assert not Sale.objects.exists()


# Actions


def post_action(client: Client, action: str, sales: list[Sale]) -> Any:
    return client.post(
        SALES,
        {"action": action, "_selected_action": [sale.pk for sale in sales], "index": "0"},
        follow=True,
    )


def event_id_of(request: Any) -> str:
    body = request.body
    assert isinstance(body, (bytes, str))
    event_id: str = json.loads(body)["event_id"]
    return event_id


def statuses(*sales: Sale) -> list[str]:
    return [Sale.objects.get(pk=sale.pk).status for sale in sales]


def test_retry_sends_failed_and_pending_now_and_leaves_tracked_alone(
    admin_client: Client, mocked: responses.RequestsMock
) -> None:
    ids = itertools.count(900)

    def firstpromoter_answer(request: Any) -> tuple[int, dict[str, str], str]:
        # FirstPromoter's documented answer, with a commission of its own per sale.
        event_id = event_id_of(request)
        body = success_body(2)
        commission = body["commissions"][0]
        commission["id"] = next(ids)
        commission["promoter_campaign"]["promoter"]["email"] = f"promoter-of-{event_id}@x.com"
        return 200, {}, json.dumps(body)

    mocked.add_callback(responses.POST, V2_URL, callback=firstpromoter_answer)
    failed = make_sale(
        "evt-failed", status=DeliveryStatus.FAILED, attempt_count=12, last_error="HTTP 500"
    )
    later = timezone.now() + datetime.timedelta(hours=1)
    pending = make_sale("evt-later", status=DeliveryStatus.PENDING, next_attempt_at=later)
    tracked = make_sale("evt-done", status=DeliveryStatus.TRACKED, attempt_count=1)

    response = post_action(admin_client, "retry_sales", [failed, pending, tracked])

    assert response.status_code == 200
    sent = sorted(event_id_of(call.request) for call in mocked.calls)
    assert sent == ["evt-failed", "evt-later"]
    assert statuses(failed, pending, tracked) == ["tracked", "tracked", "tracked"]
    for sale in (failed, pending):
        (reward,) = Reward.objects.filter(sale=sale)
        assert (reward.amount, reward.unit) == (400, "cash")
        assert reward.promoter_email == f"promoter-of-{sale.event_id}@x.com"
    assert Sale.objects.get(pk=tracked.pk).attempt_count == 1
    assert not tracked.attempts.exists()
    assertContains(
        response,
        "2 sales sent: 2 tracked. 1 left alone: it is tracked, not a referral or being sent.",
    )


def test_retry_reports_what_came_of_each_sale(
    admin_client: Client, mocked: responses.RequestsMock
) -> None:
    mocked.post(V2_URL, status=204)
    sale = make_sale("evt-organic", status=DeliveryStatus.FAILED)

    response = post_action(admin_client, "retry_sales", [sale])

    assert statuses(sale) == [DeliveryStatus.NOT_REFERRAL]
    assertContains(response, "1 sale sent: 1 not a referral.")
    assertNotContains(response, "left alone")


def test_dont_send_ignores_pending_and_failed_but_not_tracked(
    admin_client: Client, mocked: responses.RequestsMock
) -> None:
    pending = make_sale("evt-p", status=DeliveryStatus.PENDING)
    failed = make_sale("evt-f", status=DeliveryStatus.FAILED)
    tracked = make_sale("evt-t", status=DeliveryStatus.TRACKED)

    response = post_action(admin_client, "ignore_sales", [pending, failed, tracked])

    assert statuses(pending, failed, tracked) == ["ignored", "ignored", "tracked"]
    assertContains(
        response,
        "2 sales will not be sent. 1 was left alone: it is already sent or being sent.",
    )
    assert not mocked.calls


def test_an_ignored_sale_is_not_sent_by_the_worker_but_can_be_retried(
    admin_client: Client, mocked: responses.RequestsMock
) -> None:
    mocked.post(V2_URL, status=204)
    sale = make_sale("evt-skip", status=DeliveryStatus.PENDING)
    post_action(admin_client, "ignore_sales", [sale])

    assert Worker(get_config()).run() == {}
    assert not mocked.calls

    post_action(admin_client, "retry_sales", [sale])
    assert statuses(sale) == [DeliveryStatus.NOT_REFERRAL]
    assert len(mocked.calls) == 1


@pytest.fixture
def viewer_client(client: Client) -> Client:
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="view_sale", content_type__app_label="django_firstpromoter")
    )
    client.force_login(user)
    return client


def test_view_only_staff_sees_sales_but_no_actions(viewer_client: Client) -> None:
    make_sale("evt-visible", status=DeliveryStatus.FAILED)

    response = viewer_client.get(SALES)

    assert response.status_code == 200
    assert shown(response) == {"evt-visible"}
    assertNotContains(response, "retry_sales")
    assertNotContains(response, "ignore_sales")
    assertNotContains(response, "Retry now")


@pytest.mark.parametrize("action", ["retry_sales", "ignore_sales"])
def test_view_only_staff_cannot_run_actions(
    viewer_client: Client, mocked: responses.RequestsMock, action: str
) -> None:
    mocked.post(V2_URL, json=success_body(2))
    sale = make_sale("evt-guarded", status=DeliveryStatus.FAILED, attempt_count=12)

    response = post_action(viewer_client, action, [sale])

    assert response.status_code in (200, 403)
    refreshed = Sale.objects.get(pk=sale.pk)
    assert (refreshed.status, refreshed.attempt_count) == (DeliveryStatus.FAILED, 12)
    assert not mocked.calls


# Reward admin


def test_reward_changelist_shows_promoter_amount_status_and_sale(
    admin_client: Client,
) -> None:
    sale = make_sale("evt-rewarded", status=DeliveryStatus.TRACKED)
    make_reward(sale, firstpromoter_id=13533003, promoter_email="test@promoter.com", tier=2)

    response = admin_client.get(REWARDS)

    assert response.status_code == 200
    assertContains(response, '<td class="field-promoter_email">test@promoter.com</td>', html=True)
    assertContains(response, '<td class="field-amount_display">4.00 USD</td>', html=True)
    assertContains(response, '<td class="field-status">approved</td>', html=True)
    assertContains(
        response,
        f'<td class="field-sale_link"><a href="{change_url(sale)}">evt-rewarded</a></td>',
        html=True,
    )


@pytest.mark.parametrize(
    ("amount", "unit", "currency", "shown_as"),
    [
        (400, "cash", "USD", "4.00 USD"),
        (1999, "cash", "EUR", "19.99 EUR"),
        (500, "cash", "JPY", "500 JPY"),
        (25, "points", "USD", "25 points"),
    ],
)
def test_reward_amount_is_shown_in_its_unit(
    admin_client: Client, amount: int, unit: str, currency: str, shown_as: str
) -> None:
    sale = make_sale("evt-amount", currency=currency)
    reward = make_reward(sale, amount=amount, unit=unit)

    listing = admin_client.get(REWARDS)
    detail = admin_client.get(f"{REWARDS}{reward.pk}/change/")

    assertContains(listing, f'<td class="field-amount_display">{shown_as}</td>', html=True)
    assertContains(detail, f'<div class="readonly">{shown_as}</div>', html=True)


def test_reward_detail_is_read_only_and_links_to_its_sale(admin_client: Client) -> None:
    sale = make_sale("evt-parent", status=DeliveryStatus.TRACKED)
    reward = make_reward(
        sale,
        firstpromoter_id=13533003,
        promoter_email="test@promoter.com",
        lead_email="lead@example.com",
        raw={"fraud_check": "no_suspicion"},
    )

    response = admin_client.get(f"{REWARDS}{reward.pk}/change/")

    assert response.status_code == 200
    assertContains(response, "test@promoter.com")
    assertContains(response, "lead@example.com")
    assertContains(response, "4.00 USD")
    assertContains(response, f'<a href="{change_url(sale)}">evt-parent</a>', html=True)
    assertContains(response, escape(json.dumps({"fraud_check": "no_suspicion"}, indent=2)))
    assertNotContains(response, 'name="_save"')
    assertNotContains(response, 'name="promoter_email"')
    assertNotContains(response, f"{REWARDS}{reward.pk}/delete/")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "approved"}, {"cash-approved"}),
        ({"status": "pending"}, {"points-pending"}),
        ({"unit": "points"}, {"points-pending"}),
        ({"unit": "cash"}, {"cash-approved"}),
        ({"q": "ann@promoter.com"}, {"cash-approved"}),
        ({"q": "lead-of-points@example.com"}, {"points-pending"}),
        ({"q": "evt-rewards"}, set()),
    ],
)
def test_reward_filters_and_search(
    admin_client: Client, query: dict[str, str], expected: set[str]
) -> None:
    sale = make_sale("evt-rewards", status=DeliveryStatus.TRACKED)
    rewards = {
        make_reward(
            sale,
            status="approved",
            unit="cash",
            promoter_email="ann@promoter.com",
            lead_email="lead-of-cash@example.com",
        ).pk: "cash-approved",
        make_reward(
            sale,
            status="pending",
            unit="points",
            promoter_email="ben@promoter.com",
            lead_email="lead-of-points@example.com",
        ).pk: "points-pending",
    }

    response = admin_client.get(REWARDS, query)

    assert response.status_code == 200
    assert {rewards[r.pk] for r in response.context["cl"].result_list} == expected


def test_reward_changelist_offers_status_and_unit_filters(admin_client: Client) -> None:
    sale = make_sale("evt-filters", status=DeliveryStatus.TRACKED)
    cash = make_reward(sale, status="approved", unit="cash")
    points = make_reward(sale, status="pending", unit="points")

    sidebar = admin_client.get(REWARDS)
    by_status = offered(sidebar, "status")
    by_unit = offered(sidebar, "unit")

    assert set(by_status) == {"All", "approved", "pending"}
    assert set(by_unit) == {"All", "cash", "points"}
    listed = admin_client.get(REWARDS + by_unit["points"]).context["cl"].result_list
    assert [r.pk for r in listed] == [points.pk]
    listed = admin_client.get(REWARDS + by_status["approved"]).context["cl"].result_list
    assert [r.pk for r in listed] == [cash.pk]


def test_rewards_cannot_be_added_changed_or_deleted(admin_client: Client) -> None:
    sale = make_sale("evt-locked", status=DeliveryStatus.TRACKED)
    reward = make_reward(sale, promoter_email="kept@promoter.com")

    assert admin_client.get(f"{REWARDS}add/").status_code == 403
    changed = admin_client.post(
        f"{REWARDS}{reward.pk}/change/", {"promoter_email": "changed@x.com", "amount": 1}
    )
    assert changed.status_code == 403
    assert admin_client.get(f"{REWARDS}{reward.pk}/delete/").status_code == 403
    assert admin_client.post(f"{REWARDS}{reward.pk}/delete/", {"post": "yes"}).status_code == 403
    listing = admin_client.get(REWARDS)
    assertNotContains(listing, "delete_selected")
    assertNotContains(listing, f"{REWARDS}add/")
    deleted = admin_client.post(
        REWARDS, {"action": "delete_selected", "_selected_action": [reward.pk], "post": "yes"}
    )
    assert deleted.status_code in (200, 302)
    reward.refresh_from_db()
    assert (reward.promoter_email, reward.amount) == ("kept@promoter.com", 400)


def test_retry_with_broken_settings_sends_nothing_and_says_why(admin_client, mocked):
    sale = Sale.objects.create(
        event_id="evt-broken",
        amount=Decimal("5"),
        amount_minor=500,
        email="a@example.com",
        api_version=2,
        status=DeliveryStatus.FAILED,
    )
    with firstpromoter(API_KEY=""):
        response = admin_client.post(
            "/admin/django_firstpromoter/sale/",
            {"action": "retry_sales", "_selected_action": [sale.pk]},
            follow=True,
        )
    assert "Nothing was sent" in response.content.decode()
    assert "API_KEY" in response.content.decode()
    sale.refresh_from_db()
    assert (sale.status, sale.attempt_count) == (DeliveryStatus.FAILED, 0)
    assert len(mocked.calls) == 0


def test_sale_page_is_read_only_for_an_operator_who_can_change(admin_client):
    sale = Sale.objects.create(
        event_id="evt-ro",
        amount=Decimal("5"),
        amount_minor=500,
        email="a@example.com",
        api_version=2,
    )
    page = admin_client.get(f"/admin/django_firstpromoter/sale/{sale.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    response = admin_client.post(f"/admin/django_firstpromoter/sale/{sale.pk}/change/", {})
    assert response.status_code == 403
