"""Refunds: checked like sales, recorded once, linked to their sale, sent after it, and
FirstPromoter's negative reward kept."""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from openapi_core.contrib.requests import RequestsOpenAPIRequest

from django_firstpromoter import RefundData, refundable, track_refund, track_sale
from django_firstpromoter.delivery import deliver, due
from django_firstpromoter.models import Refund, Reward, Sale
from django_firstpromoter.signals import order_refunded, refund_duplicate
from django_firstpromoter.statuses import DeliveryStatus
from tests.conftest import firstpromoter, success_body
from tests.shop.models import Order
from tests.test_track_sale import sale

pytestmark = pytest.mark.django_db

REFUND_V2 = "https://api.firstpromoter.com/api/v2/track/refund"
REFUND_V1 = "https://firstpromoter.com/api/v1/track/refund"


def refund(**overrides) -> RefundData:
    fields = {
        "event_id": "evt-1-refund",
        "amount": Decimal("5.00"),
        "email": "buyer@example.com",
        "sale_event_id": "evt-1",
    }
    return RefundData(**{**fields, **overrides})


@pytest.fixture
def refund_url(api_version: int) -> str:
    return REFUND_V2 if api_version == 2 else REFUND_V1


def test_records_the_refund_in_minor_units_linked_to_its_sale(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        refunded_sale = track_sale(sale(currency="eur"))
        recorded = track_refund(refund(currency="eur"))
    assert recorded is not None
    recorded.refresh_from_db()
    assert (recorded.amount, recorded.amount_minor, recorded.currency) == (
        Decimal("5.00"),
        500,
        "EUR",
    )
    assert recorded.sale == refunded_sale
    assert recorded.status == DeliveryStatus.PENDING
    assert len(callbacks) == 2


def test_same_event_id_is_one_refund_and_two_event_ids_are_two(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        first = track_refund(refund())
        again = track_refund(refund(amount=Decimal("7")))
        second = track_refund(refund(event_id="evt-1-refund-2", amount=Decimal("3")))
    assert first == again
    assert again is not None and again.amount == Decimal("5.00")
    assert second != first
    assert Refund.objects.count() == 2
    assert len(callbacks) == 2


def test_a_refund_of_zero_is_not_recorded():
    assert track_refund(refund(amount=Decimal("0.00"))) is None
    assert not Refund.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": 5.0}, "amount"),
        ({"amount": Decimal("-5")}, "amount"),
        ({"amount": "5"}, "amount"),
        ({"currency": "euro"}, "currency"),
        ({"event_id": " "}, "event_id"),
        ({"email": "", "uid": ""}, "email"),
        ({"email": "b" * 250 + "@x.io"}, "email"),
        ({"sale_event_id": "x" * 256}, "sale_event_id"),
        ({"quantity": -1}, "quantity"),
    ],
)
def test_bad_data_names_the_field_and_writes_nothing(overrides, field):
    with pytest.raises(ValidationError) as raised:
        track_refund(refund(**overrides))
    assert field in raised.value.message_dict
    assert not Refund.objects.exists()


def test_a_refund_of_an_order_refunds_that_orders_sale():
    order = Order.objects.create(email="buyer@example.com", total=Decimal("20"), paid=True)
    (order_sale,) = Sale.objects.for_order(order)
    recorded = track_refund(refund(sale_event_id=""), order=order)
    assert recorded is not None
    assert (recorded.sale, recorded.sale_event_id) == (order_sale, order_sale.event_id)
    assert list(Refund.objects.for_order(order)) == [recorded]


def test_a_refund_of_a_sale_unknown_here_keeps_its_id_only():
    recorded = track_refund(refund(sale_event_id="sold-elsewhere"))
    assert recorded is not None
    assert (recorded.sale, recorded.sale_event_id) == (None, "sold-elsewhere")


def test_a_refund_waits_while_its_sale_is_still_to_be_sent(mocked, refund_url):
    mocked.post(refund_url, json=success_body(1, "refund"))
    waiting_sale = track_sale(sale())
    recorded = track_refund(refund())
    assert waiting_sale is not None and recorded is not None
    assert recorded not in due(Refund)
    assert deliver(Refund, recorded.pk) is None
    assert not mocked.calls

    Sale.objects.filter(pk=waiting_sale.pk).update(status=DeliveryStatus.TRACKED)
    assert recorded in due(Refund)
    assert deliver(Refund, recorded.pk) == DeliveryStatus.TRACKED


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, "success", DeliveryStatus.TRACKED),
        (204, None, DeliveryStatus.NOT_REFERRAL),
        (409, {"message": "exists"}, DeliveryStatus.DUPLICATE),
        (400, {"message": "Error. Amount blank or invalid."}, DeliveryStatus.FAILED),
        (503, None, DeliveryStatus.PENDING),
    ],
)
def test_answers_settle_a_refund_as_they_settle_a_sale(
    mocked, api_version, refund_url, status, body, expected
):
    if body == "success":
        body = success_body(api_version, "refund")
    mocked.post(refund_url, status=status, body="" if body is None else json.dumps(body))
    recorded = track_refund(refund(sale_event_id="sold-elsewhere"))
    assert recorded is not None
    assert deliver(Refund, recorded.pk) == expected


def test_the_negative_reward_is_kept_with_the_refund_and_its_sale(mocked, api_version, refund_url):
    mocked.post(refund_url, json=success_body(api_version, "refund"))
    refunded_sale = track_sale(sale())
    Sale.objects.update(status=DeliveryStatus.TRACKED)
    recorded = track_refund(refund())
    assert recorded is not None
    deliver(Refund, recorded.pk)

    (reward,) = Reward.objects.all()
    assert (reward.refund, reward.sale) == (recorded, refunded_sale)
    assert reward.amount == -200
    assert reward.amount_display == "-2.00 USD"
    assert refunded_sale is not None and list(refunded_sale.rewards.all()) == [reward]


def test_v2_sends_the_spec_types(mocked, specs):
    mocked.post(REFUND_V2, json=success_body(2, "refund"))
    recorded = track_refund(refund(quantity=2, skip_email_notification=True))
    assert recorded is not None
    deliver(Refund, recorded.pk)
    request = mocked.calls[0].request
    specs[2].validate_request(RequestsOpenAPIRequest(request))
    assert json.loads(request.body) == {
        "event_id": "evt-1-refund",
        "amount": "500",
        "email": "buyer@example.com",
        "currency": "USD",
        "sale_event_id": "evt-1",
        "quantity": "2",
        "skip_email_notification": True,
    }


def test_v1_sends_every_parameter_it_has(mocked, specs):
    mocked.post(REFUND_V1, json=success_body(1, "refund"))
    made_at = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    with firstpromoter(API_VERSION=1):
        recorded = track_refund(refund(uid="u-1", created_at=made_at, skip_email_notification=True))
        assert recorded is not None
        deliver(Refund, recorded.pk)
    request = mocked.calls[0].request
    specs[1].validate_request(RequestsOpenAPIRequest(request))
    for part in (
        "amount=500",
        "sale_event_id=evt-1",
        "uid=u-1",
        "skip_email_notification=true",
        "created_at=2026-01-02T03%3A04%3A05%2B00%3A00",
    ):
        assert part in request.url


# The hooks


REFUNDS = {"REFUND_FROM_ORDER": "tests.shop.firstpromoter.refund_from_order"}


def paid_order() -> Order:
    return Order.objects.create(email="buyer@example.com", total=Decimal("20"), paid=True)


def test_order_refunded_records_the_refund():
    order = paid_order()
    order.refunded = Decimal("20")
    with firstpromoter(**REFUNDS):
        Order.objects.filter(pk=order.pk).update(refunded=order.refunded)
        order_refunded.send(sender=Order, order=order)
    (recorded,) = Refund.objects.for_order(order)
    assert (recorded.amount, recorded.sale_event_id) == (Decimal("20"), f"order-{order.pk}")


def test_partial_refunds_saved_on_the_order_are_one_event_each():
    order = paid_order()
    with firstpromoter(**REFUNDS):
        order.refunded = Decimal("5")
        order.save()
        order.save()  # saved again, nothing more refunded
        order.refunded = Decimal("12.50")
        order.save()
        order_refunded.send(sender=Order, order=order)  # the signal too: still one each
    amounts = sorted(Refund.objects.for_order(order).values_list("amount", flat=True))
    assert amounts == [Decimal("5"), Decimal("7.50")]


def test_order_refunded_without_an_adapter_says_so_and_records_nothing(caplog):
    order = paid_order()
    with caplog.at_level(logging.ERROR, logger="django_firstpromoter"):
        order_refunded.send(sender=Order, order=order)
    assert "REFUND_FROM_ORDER" in caplog.text
    assert not Refund.objects.exists()


def test_a_broken_adapter_never_breaks_the_hosts_save(caplog):
    order = paid_order()
    with firstpromoter(REFUND_FROM_ORDER="tests.shop.firstpromoter.no_such_adapter"):
        order.refunded = Decimal("5")
        order.save()
    assert "could not record a FirstPromoter refund" in caplog.text
    assert Order.objects.get(pk=order.pk).refunded == Decimal("5")
    assert not Refund.objects.exists()


def test_refunds_together_past_their_sale_are_refused_and_write_nothing(api_version):
    refunded_sale = track_sale(sale(amount=Decimal("25.00")))
    assert track_refund(refund(event_id="r1", amount=Decimal("20.00"))) is not None
    with pytest.raises(ValidationError) as raised:
        track_refund(refund(event_id="r2", amount=Decimal("5.01")))
    assert "amount" in raised.value.message_dict
    assert "5.00 USD left" in raised.value.message_dict["amount"][0]
    assert list(Refund.objects.values_list("event_id", flat=True)) == ["r1"]
    # The rest, to the cent, still goes.
    assert track_refund(refund(event_id="r3", amount=Decimal("5.00"))) is not None
    assert refunded_sale is not None and refundable(refunded_sale) == Decimal("0")


def test_a_refund_larger_than_its_sale_is_refused(api_version):
    track_sale(sale(amount=Decimal("25.00")))
    with pytest.raises(ValidationError) as raised:
        track_refund(refund(amount=Decimal("100.00")))
    assert list(raised.value.message_dict) == ["amount"]
    assert not Refund.objects.exists()


def test_a_refund_in_another_currency_than_its_sale_is_refused(api_version):
    track_sale(sale(currency="GBP"))
    with pytest.raises(ValidationError) as raised:
        track_refund(refund(currency="USD"))
    assert list(raised.value.message_dict) == ["currency"]
    assert "GBP" in raised.value.message_dict["currency"][0]
    assert not Refund.objects.exists()


def test_the_same_refund_again_is_not_refused(api_version):
    track_sale(sale(amount=Decimal("19.99")))
    first = track_refund(refund(amount=Decimal("19.99")))
    again = track_refund(refund(amount=Decimal("19.99")))
    assert first is not None and first == again
    assert Refund.objects.count() == 1


def test_refunds_of_a_sale_not_recorded_here_go_through(api_version):
    recorded = track_refund(refund(sale_event_id="before-the-app", amount=Decimal("1000")))
    assert recorded is not None and recorded.sale is None


def test_refundable_counts_the_refunds_that_take_money_back():
    jpy_sale = track_sale(sale(amount=Decimal("5000"), currency="JPY"))
    assert jpy_sale is not None and refundable(jpy_sale) == Decimal("5000")
    track_refund(refund(event_id="r1", amount=Decimal("1200"), currency="JPY"))
    set_aside = track_refund(refund(event_id="r2", amount=Decimal("800"), currency="JPY"))
    assert set_aside is not None
    assert refundable(jpy_sale) == Decimal("3000")
    Refund.objects.filter(pk=set_aside.pk).update(status=DeliveryStatus.IGNORED)
    assert refundable(jpy_sale) == Decimal("3800")


def test_a_refund_too_large_from_the_order_is_logged_and_the_save_goes_on(caplog):
    order = paid_order()
    with firstpromoter(**REFUNDS):
        order.refunded = Decimal("50")
        order.save()
    assert "could not record a FirstPromoter refund" in caplog.text
    assert "more than the 20.00 USD left" in caplog.text
    assert Order.objects.get(pk=order.pk).refunded == Decimal("50")
    assert not Refund.objects.exists()


def test_a_refund_of_a_duplicate_sale_is_refused(api_version):
    duplicate_sale = track_sale(sale())
    assert duplicate_sale is not None
    Sale.objects.filter(pk=duplicate_sale.pk).update(status=DeliveryStatus.DUPLICATE)
    with pytest.raises(ValidationError) as raised:
        track_refund(refund())
    assert list(raised.value.message_dict) == ["sale_event_id"]
    assert not Refund.objects.exists()


def test_a_waiting_refund_of_a_sale_found_duplicate_is_settled_unsent(
    mocked, api_version, sale_url, refund_url, caplog
):
    mocked.post(sale_url, status=409, json={"message": "exists"})
    waiting_sale = track_sale(sale())
    recorded = track_refund(refund())
    assert waiting_sale is not None and recorded is not None
    told: list[int] = []

    def receiver(sender, refund, **kwargs):
        told.append(refund.pk)

    refund_duplicate.connect(receiver)
    try:
        assert deliver(Sale, waiting_sale.pk) == DeliveryStatus.DUPLICATE
    finally:
        refund_duplicate.disconnect(receiver)

    recorded.refresh_from_db()
    assert recorded.status == DeliveryStatus.DUPLICATE
    assert "another's at FirstPromoter" in recorded.last_error
    assert told == [recorded.pk]
    assert "not sent, its sale evt-1 is a duplicate event id" in caplog.text
    assert recorded not in due(Refund)
    assert [call.request.url for call in mocked.calls] == [mocked.calls[0].request.url]
    assert refund_url not in mocked.calls[0].request.url


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    "connection.vendor != 'postgresql'",
    reason="true concurrency needs PostgreSQL; SQLite writes one transaction at a time",
)
def test_two_refunds_at_once_cannot_together_pass_their_sale():
    results: list[str] = []
    barrier = threading.Barrier(2)

    def refund_in_a_transaction(event_id: str) -> None:
        try:
            with transaction.atomic():
                barrier.wait()
                track_refund(refund(event_id=event_id, amount=Decimal("20.00")))
                # Held open: without the sale's lock, the other refund's check would
                # run now, see nothing committed, and pass too.
                time.sleep(0.3)
        except ValidationError:
            results.append("refused")
        else:
            results.append("recorded")
        finally:
            connection.close()

    with firstpromoter(DELIVERY="worker"):
        track_sale(sale(amount=Decimal("25.00")))
        threads = [
            threading.Thread(target=refund_in_a_transaction, args=(f"r{i}",)) for i in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(results) == ["recorded", "refused"]
    assert Refund.objects.count() == 1
