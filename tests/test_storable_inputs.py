"""What the shop gives that a database cannot store is a ValidationError naming the
field, the same on SQLite and PostgreSQL, with nothing written; through the hook or
a signal, the host's save and transaction go on. test_hostile_inputs.py tries the
same with anything Hypothesis makes; these are the findings, one by one."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from django_firstpromoter import (
    RefundData,
    SaleData,
    track_cancellation,
    track_refund,
    track_sale,
    track_signup,
)
from django_firstpromoter.models import Cancellation, Refund, Sale, Signup
from django_firstpromoter.referral import Referral
from django_firstpromoter.signals import order_paid
from tests.conftest import firstpromoter
from tests.shop.models import Checkout, Order

pytestmark = pytest.mark.django_db
UNSTORABLE = ["a\x00b", "\ud800", "x\udfffy"]
ADAPTER = "tests.shop.firstpromoter.data_given_to"


def sale(**overrides: Any) -> SaleData:
    return SaleData(**{"event_id": "evt-1", "amount": Decimal("5"), "uid": "c", **overrides})


def refund(**overrides: Any) -> RefundData:
    return RefundData(**{"event_id": "ref-1", "amount": Decimal("5"), "uid": "c", **overrides})


def refused(call: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as raised:
        call()
    return raised.value.message_dict


@pytest.mark.parametrize("text", UNSTORABLE)
@pytest.mark.parametrize(
    "field", ["event_id", "email", "uid", "plan", "promo_code", "tid", "ref_id", "subscription_id"]
)
def test_a_sale_with_unstorable_text_names_the_field(field: str, text: str) -> None:
    assert field in refused(lambda: track_sale(sale(**{field: text})))
    assert not Sale.objects.exists()


@pytest.mark.parametrize("text", UNSTORABLE)
@pytest.mark.parametrize("field", ["event_id", "email", "uid", "sale_event_id"])
def test_a_refund_with_unstorable_text_names_the_field(field: str, text: str) -> None:
    assert field in refused(lambda: track_refund(refund(**{field: text})))
    assert not Refund.objects.exists()


@pytest.mark.parametrize("text", UNSTORABLE)
@pytest.mark.parametrize("field", ["event_id", "email", "uid"])
def test_a_cancellation_with_unstorable_text_names_the_field(field: str, text: str) -> None:
    given = {"uid": "c", field: text}
    assert field in refused(lambda: track_cancellation(**given))
    assert not Cancellation.objects.exists()


@pytest.mark.parametrize("text", UNSTORABLE)
@pytest.mark.parametrize("field", ["email", "uid", "tid", "ref_id"])
def test_a_signup_with_unstorable_text_names_the_field(field: str, text: str) -> None:
    referral = Referral(
        tid=text if field == "tid" else "t", ref_id=text if field == "ref_id" else ""
    )
    customer = (
        {"email": "a@example.com", field: text} if field in ("email", "uid") else {"uid": "c"}
    )
    assert field in refused(lambda: track_signup(referral, **customer))
    assert not Signup.objects.exists()


@pytest.mark.parametrize("amount", [Decimal("1E+26"), Decimal("1E+12"), 10**30, Decimal("9" * 40)])
@pytest.mark.parametrize("field", ["amount", "mrr"])
def test_an_amount_too_large_names_the_field(field: str, amount: Any) -> None:
    assert field in refused(lambda: track_sale(sale(**{field: amount})))
    assert "amount" in refused(lambda: track_refund(refund(amount=amount)))


@pytest.mark.parametrize("field", ["quantity", "max_recurring", "start_recurring_reward_in"])
def test_a_count_past_the_column_is_refused_on_every_database(field: str) -> None:
    # SQLite would store any 64-bit integer; PostgreSQL's integer stops at 2**31 - 1.
    assert field in refused(lambda: track_sale(sale(**{field: 2**31})))


@pytest.mark.parametrize(
    "moment",
    [
        datetime.datetime(
            9999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone(-datetime.timedelta(hours=10))
        ),
        datetime.datetime(1, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=14))),
        datetime.datetime(9999, 12, 31),
    ],
)
def test_a_date_no_time_zone_can_show_is_refused(moment: datetime.datetime) -> None:
    assert "created_at" in refused(lambda: track_sale(sale(created_at=moment)))
    assert "created_at" in refused(lambda: track_refund(refund(created_at=moment)))


@pytest.mark.parametrize(
    "offset", [datetime.timedelta(hours=-23, minutes=-59), datetime.timedelta(hours=5, seconds=30)]
)
def test_a_date_with_an_offset_postgresql_refuses_is_stored_in_utc(
    offset: datetime.timedelta,
) -> None:
    moment = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone(offset))
    track_sale(sale(created_at=moment))
    track_refund(refund(created_at=moment))
    assert Sale.objects.get().created_at == moment
    assert Refund.objects.get().created_at == moment


@pytest.mark.parametrize("email", ["josé@example.com", "用户@例子.广告", "not quite an email"])
def test_any_email_is_the_customers(email: str) -> None:
    recorded = track_sale(sale(email=email, uid=""))
    assert recorded is not None
    assert Sale.objects.get().email == email
    assert track_cancellation(email=email).email == email


@pytest.mark.parametrize("length", [66, 255])
@pytest.mark.parametrize("via", ["ORDER_MODEL", "order_paid"])
def test_an_order_keyed_by_a_long_string_gets_its_sale(length: int, via: str) -> None:
    key = "cs_test_" + "a" * (length - 8)
    hook = {"ORDER_MODEL": "shop.Checkout"} if via == "ORDER_MODEL" else {}
    with firstpromoter(SALE_FROM_ORDER=ADAPTER, DELIVERY="worker", **hook), transaction.atomic():
        checkout = Checkout(id=key)
        checkout.given = sale()  # type: ignore[attr-defined]
        checkout.save(force_insert=True)
        if via == "order_paid":
            order_paid.send(sender=Checkout, order=checkout)
        Order.objects.create(email="after@example.com")  # the host's transaction goes on
    [recorded] = Sale.objects.for_order(checkout)
    assert recorded.order_object_id == key


@pytest.mark.parametrize("key", ["k" * 256, "a\x00b"])
def test_an_order_key_no_column_holds_names_the_order(key: str) -> None:
    order = Checkout(id=key)
    assert "order" in refused(lambda: track_sale(sale(), order=order))
    assert "order" in refused(lambda: track_refund(refund(), order=order))
    assert not Sale.objects.exists() and not Refund.objects.exists()
