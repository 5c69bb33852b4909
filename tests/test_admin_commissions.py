"""The admin's actions on FirstPromoter's admin API: "Refresh from FirstPromoter" on
sales, refunds and rewards; "Approve commission" and "Deny commission" on rewards,
behind a confirmation page and a permission of their own."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from django_firstpromoter.models import Reward, Sale
from django_firstpromoter.statuses import DeliveryStatus, RewardSource
from tests.conftest import firstpromoter
from tests.test_commissions import LIST, commission

pytestmark = pytest.mark.django_db
REWARDS = "/admin/django_firstpromoter/reward/"
SALES = "/admin/django_firstpromoter/sale/"


@pytest.fixture
def sale() -> Sale:
    return Sale.objects.create(
        event_id="evt-1",
        amount=Decimal(20),
        amount_minor=2000,
        api_version=2,
        status=DeliveryStatus.TRACKED,
        tracked_at=timezone.now(),
    )


@pytest.fixture
def rewards(sale: Sale) -> list[Reward]:
    return [
        Reward.objects.create(sale=sale, firstpromoter_id=id, status="pending", amount=400)
        for id in (11, 12)
    ]


def staff(*codenames: str) -> Client:
    user = User.objects.create_user("operator", password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def act(client: Client, url: str, action: str, pks: list[int], **extra: str):
    return client.post(url, {"action": action, "_selected_action": pks, **extra}, follow=True)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_refreshing_a_sale_looks_its_rewards_up_and_says_what_changed(
    admin_client, mocked, sale, rewards
):
    mocked.get(
        LIST,
        json=[
            commission(11, status="approved", is_paid=True),
            commission(12, status="pending", is_paid=False),
            commission(13),
        ],
    )
    response = act(admin_client, SALES, "refresh_from_firstpromoter", [sale.pk])
    (text,) = messages_of(response)
    assert "evt-1: commission 11: status pending → approved, paid unknown → yes" in text
    assert "commission 13: new" in text
    assert Reward.objects.get(firstpromoter_id=11).confirmed_by == RewardSource.REFRESH


def test_refreshing_rewards_asks_by_id_and_marks_the_gone_ones_deleted(
    admin_client, mocked, rewards
):
    mocked.get(LIST, json=[commission(11, status="denied")])
    response = act(admin_client, REWARDS, "refresh_from_firstpromoter", [r.pk for r in rewards])
    assert "ids%5B%5D=11&ids%5B%5D=12" in mocked.calls[0].request.url
    (text,) = messages_of(response)
    assert "commission 11: status pending → denied" in text
    assert "commission 12: status pending → deleted" in text
    page = admin_client.get(f"{REWARDS}{rewards[0].pk}/change/").content.decode()
    assert "a refresh from the admin" in page


def test_a_refresh_that_fails_says_so(admin_client, mocked, rewards):
    mocked.get(LIST, status=503)
    response = act(admin_client, REWARDS, "refresh_from_firstpromoter", [rewards[0].pk])
    assert "FirstPromoter could not be asked: HTTP 503" in messages_of(response)[0]


def test_approving_asks_for_confirmation_first_and_sends_nothing_before(
    admin_client, mocked, rewards
):
    response = act(admin_client, REWARDS, "approve_rewards", [r.pk for r in rewards])
    page = response.content.decode()
    assert "FirstPromoter will be asked to Approve these 2 commissions" in page
    assert 'name="post" value="yes"' in page
    assert not mocked.calls


@pytest.mark.parametrize(
    ("action", "status"), [("approve_rewards", "approved"), ("deny_rewards", "denied")]
)
def test_a_confirmed_action_is_sent_and_the_rewards_refreshed(
    admin_client, mocked, rewards, action, status
):
    verb = action.split("_")[0]
    mocked.post(f"{LIST}/{verb}", json={"id": 1, "status": "completed"})
    mocked.get(LIST, json=[commission(11, status=status), commission(12, status=status)])
    response = act(admin_client, REWARDS, action, [r.pk for r in rewards], post="yes")
    assert json.loads(mocked.calls[0].request.body) == {"ids": [11, 12]}
    assert "FirstPromoter did it" in messages_of(response)[0]
    assert set(Reward.objects.values_list("status", flat=True)) == {status}


def test_more_than_five_are_a_batch_firstpromoter_works_through_later(admin_client, mocked, sale):
    picked = [Reward.objects.create(sale=sale, firstpromoter_id=100 + i).pk for i in range(6)]
    mocked.post(f"{LIST}/approve", status=202, json={"id": 9, "status": "pending"})
    response = act(admin_client, REWARDS, "approve_rewards", picked, post="yes")
    assert "took the 6 commissions as a batch (pending)" in messages_of(response)[0]
    assert len(mocked.calls) == 1


def test_approving_needs_its_own_permission(mocked, rewards):
    viewer = staff("view_reward", "change_reward")
    listing = viewer.get(REWARDS).content.decode()
    assert "refresh_from_firstpromoter" in listing and "approve_rewards" not in listing
    response = act(viewer, REWARDS, "approve_rewards", [rewards[0].pk], post="yes")
    assert not mocked.calls
    assert Reward.objects.get(pk=rewards[0].pk).status == "pending"
    assert response.status_code == 200

    approver = Client()
    user = User.objects.get(username="operator")
    user.user_permissions.add(Permission.objects.get(codename="approve_reward"))
    approver.force_login(user)
    assert "approve_rewards" in approver.get(REWARDS).content.decode()


def test_without_an_account_id_nothing_is_asked(admin_client, mocked, rewards):
    with firstpromoter(API_VERSION=1, ACCOUNT_ID=""):
        response = act(admin_client, REWARDS, "refresh_from_firstpromoter", [rewards[0].pk])
    assert "needs FIRSTPROMOTER['ACCOUNT_ID']" in messages_of(response)[0]
    assert not mocked.calls
