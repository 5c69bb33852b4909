"""Rewards looked up by event id when the tracking answer did not say them: a 409 after
a lost answer, or a 200 whose commissions are unreadable. Never in the buyer's
request: by the worker when it goes idle, or by the task that settled the record."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings

from django_firstpromoter import RefundData, SaleData, track_refund, track_sale
from django_firstpromoter.conf import get_config
from django_firstpromoter.delivery import deliver
from django_firstpromoter.models import Refund, Reward, Sale
from django_firstpromoter.statuses import DeliveryStatus, RewardSource
from django_firstpromoter.worker import Worker
from tests.conftest import V1_URL, V2_URL, firstpromoter, success_body
from tests.test_commissions import LIST, commission

pytestmark = pytest.mark.django_db
REFUND_V2 = "https://api.firstpromoter.com/api/v2/track/refund"


def counted_before(url: str) -> Sale:
    """A sale whose first answer was lost: FirstPromoter counted it, and answers the
    retry 409."""
    sale = track_sale(SaleData(event_id="evt-1", amount=Decimal("20"), email="b@example.com"))
    assert sale is not None
    Sale.objects.filter(pk=sale.pk).update(attempt_count=1)  # the lost one
    return sale


def admin_calls(mocked: Any) -> list[str]:
    return [call.request.url for call in mocked.calls if "/company/" in call.request.url]


@pytest.mark.parametrize("url", [V2_URL, V1_URL], ids=["v2", "v1"])
def test_a_409_after_a_lost_answer_gets_its_rewards_from_the_worker(mocked, url):
    mocked.post(url, status=409, json={"message": "exists"})
    mocked.get(LIST, json=[commission(11, status="approved", is_paid=True), commission(12)])
    with firstpromoter(DELIVERY="worker", API_VERSION=2 if url == V2_URL else 1):
        sale = counted_before(url)
        Worker(get_config()).run()
    sale.refresh_from_db()
    assert sale.status == DeliveryStatus.TRACKED and not sale.rewards_unknown
    rewards = {r.firstpromoter_id: r for r in sale.rewards.all()}
    assert set(rewards) == {11, 12}
    assert (rewards[11].status, rewards[11].paid) == ("approved", True)
    assert rewards[11].confirmed_by == RewardSource.LOOKUP
    assert rewards[11].confirmed_at is not None
    assert len(admin_calls(mocked)) == 1


def test_on_commit_the_lookup_waits_for_a_worker_not_the_buyers_request(
    mocked, django_capture_on_commit_callbacks
):
    mocked.post(V2_URL, status=409, json={"message": "exists"})
    with django_capture_on_commit_callbacks(execute=True):
        sale = counted_before(V2_URL)
    sale.refresh_from_db()
    # The send after the commit ran in the buyer's request: it made the one call.
    assert sale.status == DeliveryStatus.TRACKED and sale.rewards_unknown
    assert not admin_calls(mocked)
    mocked.get(LIST, json=[commission(11)])
    Worker(get_config()).run()
    assert Reward.objects.get().sale == sale


@pytest.mark.parametrize(
    "body",
    [{"commissions": "oops"}, {"commissions": [{"id": 1, "amount": 5}, "oops"]}],
)
def test_a_200_with_unreadable_commissions_is_looked_up_too(mocked, body):
    mocked.post(V2_URL, json=body)
    with firstpromoter(DELIVERY="worker"):
        sale = track_sale(SaleData(event_id="evt-1", amount=Decimal("20"), email="b@example.com"))
        assert sale is not None and deliver(Sale, sale.pk) == DeliveryStatus.TRACKED
    assert Sale.objects.get().rewards_unknown


def test_a_200_that_says_its_rewards_needs_no_lookup(mocked):
    mocked.post(V2_URL, json=success_body(2))
    with firstpromoter(DELIVERY="worker"):
        sale = track_sale(SaleData(event_id="evt-1", amount=Decimal("20"), email="b@example.com"))
        Worker(get_config()).run()
    assert sale is not None and not Sale.objects.get().rewards_unknown
    assert not admin_calls(mocked)
    assert Reward.objects.get().confirmed_by == RewardSource.ANSWER


def test_a_refund_counted_before_gets_its_negative_reward(mocked):
    mocked.post(REFUND_V2, status=409, json={})
    mocked.get(LIST, json=[commission(21, event_id="evt-1-refund", amount=-400)])
    with firstpromoter(DELIVERY="worker"):
        refund = track_refund(
            RefundData(event_id="evt-1-refund", amount=Decimal(2), email="b@example.com")
        )
        assert refund is not None
        Refund.objects.filter(pk=refund.pk).update(attempt_count=1)
        Worker(get_config()).run()
    reward = Reward.objects.get()
    assert (reward.refund_id, reward.amount) == (refund.pk, -400)


def test_an_admin_api_failure_leaves_it_to_look_up_later(mocked, caplog):
    mocked.post(V2_URL, status=409, json={})
    mocked.get(LIST, status=503)
    with firstpromoter(DELIVERY="worker"), caplog.at_level(logging.WARNING):
        sale = counted_before(V2_URL)
        Worker(get_config()).run()
    sale.refresh_from_db()
    assert sale.status == DeliveryStatus.TRACKED and sale.rewards_unknown
    assert "rewards could not be looked up (HTTP 503); tried again in 60 s or later" in (
        caplog.text
    )
    mocked.replace("GET", LIST, json=[commission(11)])
    with firstpromoter(DELIVERY="worker"):
        Worker(get_config()).run()
    assert Reward.objects.get().sale == sale


def test_a_v1_account_without_an_account_id_looks_nothing_up(mocked):
    mocked.post(V1_URL, status=409, json={})
    with firstpromoter(DELIVERY="worker", API_VERSION=1, ACCOUNT_ID=""):
        sale = counted_before(V1_URL)
        Worker(get_config()).run()
    sale.refresh_from_db()
    assert sale.status == DeliveryStatus.TRACKED and sale.rewards_unknown
    assert not admin_calls(mocked)


def test_the_task_that_settles_it_looks_its_rewards_up(mocked):
    from django_firstpromoter.tasks import deliver_sale
    from tests.test_tasks import IMMEDIATE, backend

    mocked.post(V2_URL, status=409, json={})
    mocked.get(LIST, json=[commission(11)])
    with firstpromoter(DELIVERY="worker"):
        sale = counted_before(V2_URL)
    with override_settings(TASKS=backend(IMMEDIATE)), firstpromoter(DELIVERY="task"):
        deliver_sale.enqueue(sale.pk)
    assert Reward.objects.get().sale == sale
    assert not Sale.objects.get().rewards_unknown


# A webhook for a commission the app has no reward for


def webhook_for(client: Any, commission_id: int, status: str = "approved", **kw: Any) -> Any:
    from tests.test_webhooks import commission_event, post

    event = commission_event(status, id=commission_id)
    event["entity_id"] = commission_id
    return post(client, event, **kw)


def test_a_webhook_for_an_unknown_commission_fetches_it_and_applies_the_event(client, mocked):
    sale = counted_before(V2_URL)
    mocked.get(LIST, json=[commission(31, status="pending", status_updated_at=None)])
    response = webhook_for(client, 31, "approved")
    assert response.json()["result"] == "applied"
    reward = Reward.objects.get()
    assert (reward.sale, reward.firstpromoter_id, reward.status) == (sale, 31, "approved")
    (call,) = mocked.calls
    assert "ids%5B%5D=31" in call.request.url


def test_an_event_older_than_what_the_admin_api_says_is_not_applied(client, mocked):
    counted_before(V2_URL)
    # Approved at FirstPromoter after the event (2025-01-21): the event is history.
    mocked.get(
        LIST, json=[commission(31, status="denied", status_updated_at="2025-02-01T00:00:00Z")]
    )
    response = webhook_for(client, 31, "approved")
    assert response.json()["result"] == "stored"
    assert Reward.objects.get().status == "denied"


def test_a_commission_not_for_our_events_is_asked_once_and_left(client, mocked):
    mocked.get(LIST, json=[commission(41, event_id="another-integration-7")])
    assert webhook_for(client, 41).json()["result"] == "stored"
    assert not Reward.objects.exists()
    with firstpromoter(DELIVERY="worker"):
        Worker(get_config()).run()
    assert len(admin_calls(mocked)) == 1  # the worker's pass does not ask again


def test_a_failed_lookup_is_retried_by_the_worker(client, mocked, caplog):
    sale = counted_before(V2_URL)
    Sale.objects.filter(pk=sale.pk).update(status=DeliveryStatus.TRACKED)
    mocked.get(LIST, status=500)
    with caplog.at_level(logging.WARNING):
        assert webhook_for(client, 31).status_code == 200  # FirstPromoter need not retry
    assert "commission 31 could not be looked up" in caplog.text
    mocked.replace("GET", LIST, json=[commission(31, status="pending", status_updated_at=None)])
    with firstpromoter(DELIVERY="worker"):
        Worker(get_config()).run()
    assert Reward.objects.get().status == "approved"


def test_after_a_429_the_pass_waits_for_retry_after_at_least_the_backoff(mocked):
    from django_firstpromoter.lookups import follow_up

    mocked.post(V2_URL, status=409, json={})
    with firstpromoter(DELIVERY="worker"):
        sale = counted_before(V2_URL)
        deliver(Sale, sale.pk)
    for retry_after, wait in (("300", 300.0), ("1", 60.0)):
        mocked.upsert("GET", LIST, status=429, headers={"Retry-After": retry_after})
        assert follow_up(get_config()) == wait
    mocked.upsert("GET", LIST, json=[])
    assert follow_up(get_config()) == 0.0
