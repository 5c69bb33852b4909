"""Whatever FirstPromoter answers, the call ends in a recorded attempt, the sale in a
documented status within MAX_ATTEMPTS, and its admin pages answer 200.

An answer the database cannot store (a NUL in a body or a JSON string, a commission
of 2**64, a date no time zone can show, a lone surrogate) used to make ``settle``
raise: no attempt, the sale left ``sending`` and re-sent every lease for ever. On
SQLite and PostgreSQL (DATABASE_URL) alike.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import responses
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings

from django_firstpromoter import delivery, lookups, rewards
from django_firstpromoter.conf import get_config
from django_firstpromoter.models import Reward, Sale
from django_firstpromoter.statuses import DeliveryStatus
from django_firstpromoter.storable import parse_json
from tests.conftest import V2_URL, firstpromoter
from tests.hostile import any_body, any_headers, any_status, rolled_back
from tests.test_commissions import LIST

pytestmark = pytest.mark.django_db
examples = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MAX_ATTEMPTS = 3


@pytest.fixture
def admin(django_user_model: Any) -> Client:
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def new_sale() -> Sale:
    return Sale.objects.create(
        event_id="evt-1", amount=Decimal(10), amount_minor=1000, uid="c", api_version=2
    )


def answer_with(mocked: responses.RequestsMock, status: int, body: bytes, headers: Any) -> None:
    mocked.reset()
    mocked.add(responses.POST, V2_URL, status=status, body=body, headers=headers)


def send_until_settled(sale: Sale) -> Sale:
    """Send the sale as a worker would, each retry as soon as it is due, until it is
    neither pending nor sending, or MAX_ATTEMPTS calls were made."""
    config = get_config()
    for _ in range(MAX_ATTEMPTS):
        Sale.objects.filter(pk=sale.pk).update(next_attempt_at=timezone.now())
        delivery.deliver(Sale, sale.pk, config)
        sale.refresh_from_db()
        if sale.status not in (DeliveryStatus.PENDING, DeliveryStatus.SENDING):
            break
    return sale


def assert_pages_answer(admin: Client, sale: Sale) -> None:
    for url in (
        reverse("admin:django_firstpromoter_sale_changelist"),
        reverse("admin:django_firstpromoter_sale_change", args=[sale.pk]),
        reverse("admin:django_firstpromoter_reward_changelist"),
        *(
            reverse("admin:django_firstpromoter_reward_change", args=[pk])
            for pk in Reward.objects.values_list("pk", flat=True)
        ),
    ):
        assert admin.get(url).status_code == 200, url


@pytest.mark.slow
@examples
@given(status=any_status, body=any_body, headers=any_headers)
def test_any_answer_ends_in_an_attempt_and_a_documented_status(
    status: int, body: bytes, headers: dict[str, str], mocked: responses.RequestsMock, admin: Client
) -> None:
    answer_with(mocked, status, body, headers)
    with firstpromoter(MAX_ATTEMPTS=MAX_ATTEMPTS, RETRY_BACKOFF=60), rolled_back():
        sale = send_until_settled(new_sale())
        attempts = list(sale.attempts.all())
        assert len(attempts) == sale.attempt_count
        assert 1 <= len(attempts) <= MAX_ATTEMPTS
        assert sale.status in (
            DeliveryStatus.TRACKED,
            DeliveryStatus.NOT_REFERRAL,
            DeliveryStatus.FAILED,
            DeliveryStatus.DUPLICATE,
        )
        assert_pages_answer(admin, sale)


def commission(**fields: Any) -> dict[str, Any]:
    return {
        "id": 7,
        "status": "pending",
        "amount": 200,
        "unit": "cash",
        "created_at": "2026-01-01T00:00:00Z",
        "promoter_campaign": {"promoter": {"id": 1, "email": "alice@example.com"}},
        **fields,
    }


UNSTORABLE_ANSWERS = {
    "a NUL in a 5xx body": (500, b"oops\x00", "retry"),
    "a NUL in a JSON string": (
        200,
        json.dumps({"commissions": [commission(status="a\x00")]}).encode(),
        "tracked",
    ),
    "a NUL in a JSON key": (
        200,
        json.dumps({"commissions": [{**commission(), "\x00": 1}]}).encode(),
        "tracked",
    ),
    "a commission of 2**64": (
        200,
        json.dumps({"commissions": [commission(amount=2**64)]}).encode(),
        "tracked",
    ),
    "an id of 2**64": (
        200,
        json.dumps({"commissions": [commission(id=2**64)]}).encode(),
        "tracked",
    ),
    "a date in year 9999 at -10:00": (
        200,
        json.dumps({"commissions": [commission(created_at="9999-12-31T23:59:59-10:00")]}).encode(),
        "tracked",
    ),
    "a date at -23:59, which PostgreSQL takes in UTC only": (
        200,
        json.dumps({"commissions": [commission(created_at="2026-01-01T00:00:00-23:59")]}).encode(),
        "tracked",
    ),
    "a lone surrogate in a promoter email": (
        200,
        b'{"commissions": [{"id": 7, "amount": 1, '
        b'"promoter_campaign": {"promoter": {"email": "\\ud800@x"}}}]}',
        "tracked",
    ),
    "NaN and Infinity": (
        200,
        b'{"commissions": [{"id": 7, "amount": NaN, "x": Infinity, "y": 1e999}]}',
        "tracked",
    ),
    "a body nested 920 deep": (
        200,
        b'{"commissions": [{"id": 7, "x": ' + b'{"a": ' * 920 + b"1" + b"}" * 922 + b"]}",
        # Past what Python's parser can read: retried, and the resend's 409 tracks it.
        "retry",
    ),
    "a commission listed twice": (
        200,
        json.dumps({"commissions": [commission(), commission(status="approved")]}).encode(),
        "tracked",
    ),
    "a v1 reward with a NUL": (
        200,
        json.dumps({"reward": {"id": 8, "status": "\x00"}, "lead": {"email": "\x00"}}).encode(),
        "tracked",
    ),
}


@pytest.mark.parametrize(
    "status,body,expected", UNSTORABLE_ANSWERS.values(), ids=UNSTORABLE_ANSWERS
)
def test_an_answer_no_column_holds_is_stored_cleaned(
    status: int, body: bytes, expected: str, mocked: responses.RequestsMock, admin: Client
) -> None:
    answer_with(mocked, status, body, {})
    with firstpromoter(MAX_ATTEMPTS=1):
        sale = send_until_settled(new_sale())
    assert sale.status == (
        DeliveryStatus.TRACKED if expected == "tracked" else DeliveryStatus.FAILED
    )
    [attempt] = sale.attempts.all()
    assert "\x00" not in attempt.response_body
    assert_pages_answer(admin, sale)


def test_a_far_date_is_left_out_and_the_rest_kept(mocked: responses.RequestsMock) -> None:
    body = {"commissions": [commission(created_at="9999-12-31T23:59:59-10:00", amount=2**64)]}
    answer_with(mocked, 200, json.dumps(body).encode(), {})
    sale = send_until_settled(new_sale())
    [reward] = sale.rewards.all()
    assert (reward.firstpromoter_id, reward.created_at, reward.amount) == (7, None, 0)
    assert reward.raw["amount"] == 2**64  # as received, for a person to read


@pytest.mark.parametrize(
    "retry_after", ["0", "-30", "nan", "Wed, 21 Oct 2015 07:28:00 GMT", "garbage"]
)
def test_a_retry_is_never_sooner_than_the_first_backoff(
    retry_after: str, mocked: responses.RequestsMock
) -> None:
    answer_with(mocked, 429, b"slow down", {"Retry-After": retry_after})
    sale = new_sale()
    with firstpromoter(RETRY_BACKOFF=60):
        before = timezone.now()
        delivery.deliver(Sale, sale.pk)
    sale.refresh_from_db()
    assert sale.status == DeliveryStatus.PENDING
    assert sale.next_attempt_at >= before + datetime.timedelta(seconds=60 * 0.8)


def test_an_answer_a_database_still_refuses_is_settled_without_it(
    mocked: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last line: should a database refuse what the cleaning let through, the
    call still counts (FirstPromoter has the sale) and the attempt says so."""
    from django.db import DataError

    answer_with(mocked, 200, json.dumps({"commissions": [commission()]}).encode(), {})

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise DataError("value out of range")

    monkeypatch.setattr(rewards, "store_rewards", refuse)
    sale = send_until_settled(new_sale())
    assert sale.status == DeliveryStatus.TRACKED
    [attempt] = sale.attempts.all()
    assert "could not be stored (DataError)" in attempt.error
    assert attempt.response_body == ""


# The admin API's answers, to a look-up by event id


def unknown_rewards_sale() -> Sale:
    sale = new_sale()
    Sale.objects.filter(pk=sale.pk).update(
        status=DeliveryStatus.TRACKED, tracked_at=timezone.now(), rewards_unknown=True
    )
    return sale


def answer_list_with(
    mocked: responses.RequestsMock, status: int, body: bytes, headers: Any
) -> None:
    mocked.reset()
    mocked.add(responses.GET, LIST, status=status, body=body, headers=headers)


@pytest.mark.slow
@examples
@given(status=any_status, body=any_body, headers=any_headers)
def test_any_admin_answer_to_a_look_up_is_kept_or_left_for_later(
    status: int, body: bytes, headers: dict[str, str], mocked: responses.RequestsMock, admin: Client
) -> None:
    answer_list_with(mocked, status, body, headers)
    with firstpromoter(RETRY_BACKOFF=60), rolled_back():
        sale = unknown_rewards_sale()
        wait = lookups.follow_up(get_config())
        sale.refresh_from_db()
        # Looked up (whatever it found), or left to look up after a wait.
        assert (wait == 0.0) != sale.rewards_unknown
        assert wait == 0.0 or wait >= 60
        assert_pages_answer(admin, sale)


@pytest.mark.parametrize(
    "status,body,expected", UNSTORABLE_ANSWERS.values(), ids=UNSTORABLE_ANSWERS
)
def test_a_commission_no_column_holds_is_stored_cleaned(
    status: int, body: bytes, expected: str, mocked: responses.RequestsMock, admin: Client
) -> None:
    parsed = parse_json(body)
    if not isinstance(parsed, dict) or not isinstance(parsed.get("commissions"), list):
        pytest.skip("not a list of commissions")
    listed = [
        {**item, "event_id": "evt-1"} for item in parsed["commissions"] if isinstance(item, dict)
    ]
    # Re-encoded with what made it unstorable kept: NaN stays NaN, a NUL stays a NUL.
    answer_list_with(mocked, 200, json.dumps(listed, allow_nan=True).encode(), {})
    sale = unknown_rewards_sale()
    assert lookups.follow_up(get_config()) == 0.0
    sale.refresh_from_db()
    assert not sale.rewards_unknown
    for reward in Reward.objects.all():
        assert "\x00" not in reward.status + reward.promoter_email
    assert_pages_answer(admin, sale)
