"""``track_sale``: what it checks, what it records, and when it sends."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import connection, transaction
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext

from django_firstpromoter import SaleData, track_sale
from django_firstpromoter.models import Sale
from django_firstpromoter.statuses import DeliveryStatus
from tests.conftest import V1_URL, V2_URL, firstpromoter, success_body
from tests.shop.models import Order

pytestmark = pytest.mark.django_db


def sale(**overrides) -> SaleData:
    fields = {"event_id": "evt-1", "amount": Decimal("19.99"), "email": "buyer@example.com"}
    return SaleData(**{**fields, **overrides})


def test_records_sale_with_minor_units_and_schedules_send(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        recorded = track_sale(sale(mrr=Decimal("9.99"), currency="eur"))
    assert recorded is not None
    recorded.refresh_from_db()
    assert recorded.amount == Decimal("19.99")
    assert recorded.amount_minor == 1999
    assert recorded.mrr_minor == 999
    assert recorded.currency == "EUR"
    assert recorded.status == DeliveryStatus.PENDING
    assert recorded.api_version == 2
    assert len(callbacks) == 1


def test_same_event_id_gives_the_one_sale(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        first = track_sale(sale())
        second = track_sale(sale(amount=Decimal("5")))
    assert first == second
    # Not sent yet: the later answer is the order as it now is (tests/test_revisions.py).
    assert second is not None and second.amount == Decimal("5")
    # The caller's transaction is still usable: on PostgreSQL a failed statement
    # would have aborted it.
    assert Sale.objects.count() == 1
    assert len(callbacks) == 1


def test_a_new_sale_is_one_insert_and_comes_back_as_stored():
    with CaptureQueriesContext(connection) as queries:
        recorded = track_sale(sale(mrr=Decimal("9.99")))
    assert recorded is not None
    assert [query["sql"].split()[0] for query in queries.captured_queries] == ["INSERT"]
    assert model_to_dict(recorded) == model_to_dict(Sale.objects.get())
    assert not recorded._state.adding


@pytest.mark.skipif(
    connection.vendor != "sqlite",
    reason="MySQL's way is played on SQLite; psycopg cannot insert without RETURNING",
)
def test_without_insert_returning_it_still_records_once(
    monkeypatch, django_capture_on_commit_callbacks
):
    # MySQL cannot return the id from an INSERT; get_or_create stands in.
    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    with django_capture_on_commit_callbacks() as callbacks:
        first = track_sale(sale())
        second = track_sale(sale(amount=Decimal("5")))
    assert first == second == Sale.objects.get()
    assert len(callbacks) == 1


@pytest.mark.parametrize("amount", [0, Decimal("0"), Decimal("0.00"), Decimal("0.004")])
def test_zero_amount_is_not_a_sale(amount, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        assert track_sale(sale(amount=amount)) is None
    assert not Sale.objects.exists()
    assert callbacks == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": Decimal("-1")}, "amount"),
        ({"amount": Decimal("NaN")}, "amount"),
        ({"amount": Decimal("Infinity")}, "amount"),
        ({"amount": 19.99}, "amount"),
        ({"amount": "19.99"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": Decimal("1e20")}, "amount"),
        ({"mrr": 9.99}, "mrr"),
        ({"mrr": Decimal("-5")}, "mrr"),
        ({"email": "", "uid": ""}, "email"),
        ({"email": None, "uid": None}, "uid"),
        ({"event_id": ""}, "event_id"),
        ({"event_id": "   "}, "event_id"),
        ({"event_id": None}, "event_id"),
        ({"event_id": "e" * 256}, "event_id"),
        ({"currency": "US"}, "currency"),
        ({"currency": "US1"}, "currency"),
        ({"currency": None}, "currency"),
        ({"email": "b" * 250 + "@x.io"}, "email"),
        ({"plan": "p" * 256}, "plan"),
        ({"tid": "t" * 256}, "tid"),
        ({"uid": "u" * 256}, "uid"),
        ({"quantity": -2}, "quantity"),
        ({"max_recurring": -1}, "max_recurring"),
    ],
)
def test_bad_data_names_the_field_and_writes_nothing(overrides, field):
    with pytest.raises(ValidationError) as caught:
        track_sale(sale(**overrides))
    assert field in caught.value.message_dict
    assert not Sale.objects.exists()


def test_uid_alone_is_enough():
    recorded = track_sale(sale(email="", uid="cus_42"))
    assert recorded is not None and recorded.uid == "cus_42"


def test_rolled_back_transaction_records_and_sends_nothing(mocked):
    mocked.post(V2_URL, json=success_body(2))
    with pytest.raises(RuntimeError), transaction.atomic():
        track_sale(sale())
        raise RuntimeError("checkout failed")
    assert not Sale.objects.exists()
    assert len(mocked.calls) == 0


def test_sends_after_commit(mocked, django_capture_on_commit_callbacks):
    mocked.post(V2_URL, json=success_body(2))
    with django_capture_on_commit_callbacks(execute=True):
        recorded = track_sale(sale())
        assert len(mocked.calls) == 0
    assert len(mocked.calls) == 1
    assert recorded is not None
    recorded.refresh_from_db()
    assert recorded.status == DeliveryStatus.TRACKED


def test_worker_mode_leaves_sending_to_the_worker(django_capture_on_commit_callbacks):
    with firstpromoter(DELIVERY="worker"), django_capture_on_commit_callbacks() as callbacks:
        recorded = track_sale(sale())
    assert callbacks == []
    assert recorded is not None and recorded.status == DeliveryStatus.PENDING


def test_records_api_version_and_order_link():
    order = Order.objects.create(email="buyer@example.com", total=Decimal("5"))
    with firstpromoter(API_VERSION=1):
        recorded = track_sale(sale(), order=order)
    assert recorded is not None
    assert recorded.api_version == 1
    assert recorded.order == order


def test_an_order_page_finds_its_own_sales_only():
    first, second = (
        Order.objects.create(email="buyer@example.com", total=Decimal("5")) for _ in range(2)
    )
    mine = track_sale(sale(event_id="order-a"), order=first)
    track_sale(sale(event_id="order-b"), order=second)
    track_sale(sale(event_id="no-order"))

    assert list(Sale.objects.for_order(first)) == [mine]
    assert not Sale.objects.for_order(Order(pk=999)).exists()


def test_configuration_error_is_raised_not_swallowed():
    with firstpromoter(API_KEY=""), pytest.raises(ImproperlyConfigured):
        track_sale(sale())
    assert not Sale.objects.exists()


def test_send_after_commit_never_raises(mocked, caplog, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        recorded = track_sale(sale())
    with firstpromoter(API_KEY=""):
        callbacks[0]()
    assert recorded is not None
    assert "could not be sent after commit" in caplog.text
    assert "test-api-key" not in caplog.text
    recorded.refresh_from_db()
    assert (recorded.status, recorded.attempt_count) == (DeliveryStatus.PENDING, 0)
    assert len(mocked.calls) == 0


def test_v1_sends_every_spec_parameter(mocked, specs, django_capture_on_commit_callbacks):
    from openapi_core.contrib.requests import RequestsOpenAPIRequest

    mocked.post(V1_URL, json=success_body(1))
    data = sale(
        quantity=2,
        plan="pro",
        mrr=Decimal("10"),
        promo_code="ALICE10",
        tid="tid-1",
        ref_id="alice",
        skip_email_notification=True,
        created_at=datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        subscription_id="sub_1",
        start_recurring_reward_in=30,
        recurring_reward_frequency=30,
        max_recurring=12,
        ecom_sale=False,
    )
    with firstpromoter(API_VERSION=1), django_capture_on_commit_callbacks(execute=True):
        track_sale(data)
    request = mocked.calls[0].request
    specs[1].validate_request(RequestsOpenAPIRequest(request))
    for part in (
        "amount=1999",
        "mrr=1000",
        "quantity=2",
        "skip_email_notification=true",
        "ecom_sale=false",
        "max_recurring=12",
        "created_at=2026-01-02T03%3A04%3A05%2B00%3A00",
        "promo_code=ALICE10",
    ):
        assert part in request.url


def test_v2_sends_spec_types(mocked, specs, django_capture_on_commit_callbacks):
    import json

    from openapi_core.contrib.requests import RequestsOpenAPIRequest

    mocked.post(V2_URL, json=success_body(2))
    data = sale(quantity=3, mrr=Decimal("10"), skip_email_notification=True, subscription_id="s")
    with django_capture_on_commit_callbacks(execute=True):
        track_sale(data)
    request = mocked.calls[0].request
    specs[2].validate_request(RequestsOpenAPIRequest(request))
    body = json.loads(request.body)
    assert body["amount"] == 1999 and body["quantity"] == 3 and body["mrr"] == "1000"
    assert body["skip_email_notification"] is True
    assert "subscription_id" not in body
