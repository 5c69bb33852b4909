"""A customer's whole life cycle over real HTTP against the sandbox, in both API
versions: signup, sale, partial refunds, cancellation; each counted once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests

from django_firstpromoter import track_cancellation, track_signup
from django_firstpromoter.models import Cancellation, Refund, Sale, Signup
from django_firstpromoter.referral import Referral
from django_firstpromoter.sandbox import Sandbox
from django_firstpromoter.statuses import DeliveryStatus
from tests.shop.models import Order

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=[2, 1], ids=["v2", "v1"])
def sandbox(request: pytest.FixtureRequest, settings: Any) -> Sandbox:
    settings.FIRSTPROMOTER = {
        **settings.FIRSTPROMOTER,
        "API_VERSION": request.param,
        "REFUND_FROM_ORDER": "tests.shop.firstpromoter.refund_from_order",
    }
    running: Sandbox = request.getfixturevalue("firstpromoter_sandbox")
    return running


def test_signup_sale_refunds_and_cancellation_each_reach_firstpromoter_once(sandbox):
    tid = requests.get(f"{sandbox.url}/click?ref=alice", timeout=5).json()["tid"]

    signup = track_signup(Referral(tid=tid), email="buyer@example.com")
    order = Order.objects.create(email="buyer@example.com", total=Decimal("50"), paid=True)
    order.refunded = Decimal("10")
    order.save()
    order.refunded = Decimal("25")
    order.save()
    order.save()
    cancellation = track_cancellation(email="buyer@example.com", event_id="sub_1")
    track_signup(Referral(tid=tid), email="buyer@example.com")  # the same customer again

    assert signup is not None
    assert Signup.objects.get().status == DeliveryStatus.TRACKED
    sale = Sale.objects.get()
    assert sale.status == DeliveryStatus.TRACKED
    refunds = list(Refund.objects.order_by("pk"))
    assert [(r.amount, r.status) for r in refunds] == [
        (Decimal("10"), DeliveryStatus.TRACKED),
        (Decimal("15"), DeliveryStatus.TRACKED),
    ]
    assert Cancellation.objects.get(pk=cancellation.pk).status == DeliveryStatus.TRACKED

    (lead,) = sandbox.leads
    assert lead.promoter == "alice" and lead.state == "cancelled"
    assert [event.event_id for event in sandbox.sales] == [sale.event_id]
    assert sorted(event.amount for event in sandbox.refunds) == [1000, 1500]
    # The commission taken back is in proportion to the money given back.
    sale_reward = sale.rewards.get(refund=None)
    taken_back = sorted(reward.amount for reward in sale.rewards.exclude(refund=None))
    assert taken_back == sorted(event.commission for event in sandbox.refunds)
    assert sum(taken_back) == -sale_reward.amount // 2
    calls = sorted(request.call for request in sandbox.requests)
    assert calls == ["cancellation", "refund", "refund", "sale", "signup"]


def test_a_signup_nobody_knows_is_not_a_referral_and_is_not_retried(sandbox):
    signup = track_signup(Referral(tid="no-such-visit"), email="stranger@example.com")
    assert signup is not None
    signup.refresh_from_db()
    assert (signup.status, signup.attempt_count) == (DeliveryStatus.NOT_REFERRAL, 1)
