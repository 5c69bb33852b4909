"""Refunds, cancellations and signups in the admin: the same list, queue, page and
actions as sales, and a refund shown on its sale."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
import responses
from django.test import Client
from django.utils.html import escape
from pytest_django.asserts import assertContains

from django_firstpromoter.models import Cancellation, Refund, Reward, Signup, TrackedEvent
from django_firstpromoter.statuses import DeliveryStatus
from tests.conftest import success_body
from tests.test_admin import ESCAPED, PAYLOAD, make_sale

pytestmark = pytest.mark.django_db

ADMIN = "/admin/django_firstpromoter"


def make_refund(event_id: str = "evt-refund", **fields: Any) -> Refund:
    fields.setdefault("email", "buyer@example.com")
    return Refund.objects.create(
        event_id=event_id, amount=Decimal("5"), amount_minor=500, api_version=2, **fields
    )


def make_cancellation(event_id: str = "sub_1", **fields: Any) -> Cancellation:
    fields.setdefault("email", "buyer@example.com")
    return Cancellation.objects.create(event_id=event_id, api_version=2, **fields)


def make_signup(event_id: str = "email:new@example.com", **fields: Any) -> Signup:
    fields.setdefault("email", "new@example.com")
    return Signup.objects.create(event_id=event_id, ref_id="alice", api_version=2, **fields)


KINDS = {
    "refund": (make_refund, "https://api.firstpromoter.com/api/v2/track/refund"),
    "cancellation": (make_cancellation, "https://api.firstpromoter.com/api/v2/track/cancellation"),
    "signup": (make_signup, "https://api.firstpromoter.com/api/v2/track/signup"),
}


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_has_a_list_with_its_queue_and_a_read_only_page(
    admin_client: Client, kind: str
) -> None:
    make, _ = KINDS[kind]
    record: TrackedEvent = make(status=DeliveryStatus.FAILED, attempt_count=2)

    listing = admin_client.get(f"{ADMIN}/{kind}/")
    page = admin_client.get(f"{ADMIN}/{kind}/{record.pk}/change/")

    assert listing.status_code == page.status_code == 200
    assert str(record) in listing.text
    assert re.search(
        r"Delivery queue, all \w+ whatever the filters:.*failed: <strong>1", listing.text, re.S
    )
    assert "fp-status-failed" in listing.text and "fp-status-failed" in page.text
    assert 'name="_save"' not in page.text


@pytest.mark.parametrize("kind", KINDS)
def test_retry_now_and_dont_send_work_on_each_kind(
    admin_client: Client, mocked: responses.RequestsMock, kind: str
) -> None:
    make, url = KINDS[kind]
    mocked.post(url, json=success_body(2, kind))
    failed = make(f"{kind}-failed", status=DeliveryStatus.FAILED, email="a@example.com")
    pending = make(f"{kind}-pending", email="b@example.com")

    def act(action: str, record: TrackedEvent) -> Any:
        return admin_client.post(
            f"{ADMIN}/{kind}/",
            {"action": action, "_selected_action": [record.pk], "index": "0"},
            follow=True,
        )

    retried = act(f"retry_{kind}s", failed)
    ignored = act(f"ignore_{kind}s", pending)

    failed.refresh_from_db()
    pending.refresh_from_db()
    assert (failed.status, pending.status) == (DeliveryStatus.TRACKED, DeliveryStatus.IGNORED)
    assert len(mocked.calls) == 1
    assertContains(retried, f"1 {kind} sent: 1 tracked.")
    assertContains(ignored, f"1 {kind} will not be sent.")


def test_a_sales_page_lists_its_refunds_and_a_refund_links_to_its_sale(
    admin_client: Client,
) -> None:
    sale = make_sale("evt-1")
    refund = make_refund("evt-1-refund", sale=sale, sale_event_id="evt-1")

    sale_page = admin_client.get(f"{ADMIN}/sale/{sale.pk}/change/")
    refund_page = admin_client.get(f"{ADMIN}/refund/{refund.pk}/change/")

    assertContains(
        sale_page, f'<a href="{ADMIN}/refund/{refund.pk}/change/">evt-1-refund</a>', html=True
    )
    assertContains(refund_page, f'<a href="{ADMIN}/sale/{sale.pk}/change/">evt-1</a>', html=True)


def test_a_refunds_negative_reward_is_shown_with_the_refund(admin_client: Client) -> None:
    sale = make_sale("evt-1")
    refund = make_refund("evt-1-refund", sale=sale, sale_event_id="evt-1")
    Reward.objects.create(
        sale=sale, refund=refund, amount=-200, unit="cash", promoter_email=PAYLOAD
    )

    listing = admin_client.get(f"{ADMIN}/refund/")
    rewards = admin_client.get(f"{ADMIN}/reward/")

    assertContains(
        listing, f'<td class="field-commission">-2.00 USD<br>{escape(PAYLOAD)}</td>', html=True
    )
    assertContains(
        rewards, f'<a href="{ADMIN}/refund/{refund.pk}/change/">evt-1-refund</a>', html=True
    )
    assert ESCAPED in rewards.text and PAYLOAD not in rewards.text


def test_a_refund_of_a_sale_unknown_here_names_it(admin_client: Client) -> None:
    make_refund(sale_event_id="sold-elsewhere")
    assertContains(
        admin_client.get(f"{ADMIN}/refund/"),
        '<td class="field-sale_link">sold-elsewhere</td>',
        html=True,
    )
