"""Whatever a shop hands the app, its checkout goes on.

Any text, number, date or type in any field of ``SaleData`` or ``RefundData``, and
any primary key of the order, through ``track_sale``/``track_refund``, the
``ORDER_MODEL`` hook and the ``order_paid`` signal, inside the host's transaction
with more of the host's work after: the outcome is a record that holds what was
given, or a ``ValidationError`` naming a field with nothing written, and the host's
transaction always commits. On SQLite and PostgreSQL (DATABASE_URL) alike.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import CharField
from django.dispatch import Signal
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from django_firstpromoter import (
    RefundData,
    SaleData,
    refundable,
    track_cancellation,
    track_refund,
    track_sale,
    track_signup,
)
from django_firstpromoter.models import Cancellation, Refund, Sale, Signup
from django_firstpromoter.referral import Referral
from django_firstpromoter.signals import order_paid, order_refunded
from tests.conftest import firstpromoter
from tests.hostile import any_text, nasty_text, refund_data, rolled_back, sale_data
from tests.shop.models import Checkout, Order

pytestmark = pytest.mark.django_db
examples = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ADAPTER = "tests.shop.firstpromoter.data_given_to"
# What the host's database takes as a primary key: PostgreSQL refuses a NUL and
# stops a varchar(255) at 255; SQLite takes any length.
if connection.vendor == "postgresql":
    order_key = st.text(
        st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
        min_size=1,
        max_size=255,
    )
else:
    order_key = st.text(min_size=1, max_size=300)
order_key = st.one_of(order_key, st.sampled_from(["cs_test_" + "a" * 58, "k" * 255]))


def data_fields(data: SaleData | RefundData) -> set[str]:
    return set(data.__dataclass_fields__) | {"order"}


def assert_kept(record: Sale | Refund, data: SaleData | RefundData) -> None:
    """The stored record says what the shop said, for every text it gave as text."""
    stored = type(record).objects.get(pk=record.pk)
    for field in stored._meta.concrete_fields:
        given = getattr(data, field.name, None)
        if isinstance(field, CharField) and isinstance(given, str) and field.name != "currency":
            assert getattr(stored, field.name) == given, field.name


def in_host_transaction(work: Any) -> tuple[Any, Order]:
    """``work()`` between two writes of the host's own, in the host's transaction;
    what it returned or raised, and the host's order, read back after the commit."""
    with transaction.atomic():
        before = Order.objects.create(email="host@example.com")
        try:
            outcome = work()
        except ValidationError as exc:
            outcome = exc
        Order.objects.filter(pk=before.pk).update(paid=True)
    return outcome, Order.objects.get(pk=before.pk)


def assert_outcome(outcome: Any, data: SaleData | RefundData, model: type[Sale | Refund]) -> None:
    event(type(outcome).__name__)
    if isinstance(outcome, ValidationError):
        assert set(outcome.message_dict) <= data_fields(data), outcome.message_dict
        assert outcome.message_dict
        assert not model.objects.exists()
    elif outcome is None:  # worth zero: nothing to report
        assert not model.objects.exists()
    else:
        assert isinstance(outcome, model)
        assert_kept(outcome, data)


@examples
@given(data=sale_data)
def test_track_sale_takes_anything_or_names_the_field(data: SaleData) -> None:
    with firstpromoter(DELIVERY="worker"), rolled_back():
        outcome, host_order = in_host_transaction(lambda: track_sale(data))
        assert host_order.paid
        assert_outcome(outcome, data, Sale)


@examples
@given(data=refund_data)
def test_track_refund_takes_anything_or_names_the_field(data: RefundData) -> None:
    with firstpromoter(DELIVERY="worker"), rolled_back():
        outcome, host_order = in_host_transaction(lambda: track_refund(data))
        assert host_order.paid
        assert_outcome(outcome, data, Refund)


@examples
@given(data=refund_data, already=st.sampled_from([Decimal(0), Decimal("24.99"), Decimal(25)]))
def test_a_refund_of_a_sale_recorded_here_takes_anything_or_names_the_field(
    data: RefundData, already: Decimal
) -> None:
    """The sale's check (another currency, more than is left) is one more field error,
    never an error of the host's transaction."""
    data = replace(data, sale_event_id="sold-here")
    with firstpromoter(DELIVERY="worker"), rolled_back():
        sold = track_sale(SaleData(event_id="sold-here", amount=Decimal(25), email="b@example.com"))
        if already:
            track_refund(RefundData(event_id="earlier", amount=already, email="b@example.com"))
        outcome, host_order = in_host_transaction(lambda: track_refund(data))
        assert host_order.paid and sold is not None
        event(type(outcome).__name__)
        if isinstance(outcome, ValidationError):
            assert set(outcome.message_dict) <= data_fields(data), outcome.message_dict
            assert not Refund.objects.exclude(event_id="earlier").exists()
        elif outcome is not None and outcome.event_id != "earlier":
            assert outcome.sale == sold and outcome.currency == "USD"
            assert refundable(sold) >= 0
            assert_kept(outcome, data)


@examples
@given(email=any_text, uid=any_text, event_id=any_text)
def test_track_cancellation_takes_anything_or_names_the_field(
    email: Any, uid: Any, event_id: Any
) -> None:
    given = {"email": email, "uid": uid, "event_id": event_id}
    with firstpromoter(DELIVERY="worker"), rolled_back():
        outcome, host_order = in_host_transaction(lambda: track_cancellation(**given))
        assert host_order.paid
        assert_customer_kept(outcome, given, Cancellation)


@examples
@given(email=any_text, uid=any_text, tid=any_text, ref_id=any_text)
def test_track_signup_takes_anything_or_names_the_field(
    email: Any, uid: Any, tid: Any, ref_id: Any
) -> None:
    given = {"email": email, "uid": uid, "tid": tid, "ref_id": ref_id}
    referral = Referral(tid=tid, ref_id=ref_id)
    with firstpromoter(DELIVERY="worker"), rolled_back():
        outcome, host_order = in_host_transaction(
            lambda: track_signup(referral, email=email, uid=uid)
        )
        assert host_order.paid
        assert_customer_kept(outcome, given, Signup)


def assert_customer_kept(
    outcome: Any, given: dict[str, Any], model: type[Cancellation | Signup]
) -> None:
    event(type(outcome).__name__)
    if isinstance(outcome, ValidationError):
        assert outcome.message_dict
        # A signup's event id is made of its uid or email, and named with them.
        assert set(outcome.message_dict) <= {*given, "event_id"}, outcome.message_dict
        assert not model.objects.exists()
    elif outcome is None:  # a signup nobody referred
        assert not model.objects.exists()
    else:
        stored = model.objects.get(pk=outcome.pk)
        for name, value in given.items():
            if isinstance(value, str) and value and name != "event_id":
                assert getattr(stored, name) == value, name


def through_the_host(
    key: str, given: SaleData | RefundData, send: Any, caplog: pytest.LogCaptureFixture
) -> Checkout:
    """The host saves a checkout keyed ``key`` (and tells the app, with ``send``), in
    its transaction with more work after; the checkout as committed. Every error the
    app logged is a ValidationError naming a field."""
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="django_firstpromoter"), transaction.atomic():
        checkout = Checkout(id=key)
        checkout.given = given  # type: ignore[attr-defined]
        checkout.save(force_insert=True)
        send(checkout)
        Order.objects.create(email="after@example.com")
    for logged in caplog.records:
        assert logged.exc_info is not None, logged.getMessage()
        error = logged.exc_info[1]
        assert isinstance(error, ValidationError), repr(error)
        assert set(error.message_dict) <= data_fields(given)
    assert Order.objects.filter(email="after@example.com").exists()
    return Checkout.objects.get(pk=key)


def assert_recorded_for(
    checkout: Checkout, given: SaleData | RefundData, model: type[Sale | Refund], errors: int
) -> None:
    recorded = list(model.objects.for_order(checkout))
    event(f"{len(recorded)} recorded, {errors} refused")
    if errors:
        assert recorded == []
    elif recorded:
        [record] = recorded
        assert record.order_object_id == checkout.pk
        assert_kept(record, given)


@examples
@given(
    key=order_key,
    given=st.one_of(
        sale_data,
        st.builds(SaleData, event_id=nasty_text, amount=st.just(5), email=st.just("a@example.com")),
    ),
)
def test_the_order_model_hook_never_breaks_the_hosts_save(
    key: str, given: SaleData, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        firstpromoter(DELIVERY="worker", ORDER_MODEL="shop.Checkout", SALE_FROM_ORDER=ADAPTER),
        rolled_back(),
    ):
        checkout = through_the_host(key, given, lambda _: None, caplog)
        assert_recorded_for(checkout, given, Sale, len(caplog.records))


SIGNALS: dict[str, tuple[Signal, str, st.SearchStrategy[Any], type[Sale | Refund]]] = {
    "order_paid": (order_paid, "SALE_FROM_ORDER", sale_data, Sale),
    "order_refunded": (order_refunded, "REFUND_FROM_ORDER", refund_data, Refund),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", SIGNALS)
@examples
@given(key=order_key, draw=st.data())
def test_the_order_signals_never_break_the_hosts_transaction(
    name: str, key: str, draw: st.DataObject, caplog: pytest.LogCaptureFixture
) -> None:
    signal, adapter_setting, strategy, model = SIGNALS[name]
    given = draw.draw(strategy)

    def tell(checkout: Checkout) -> None:
        signal.send(sender=Checkout, order=checkout)

    settings = {"DELIVERY": "worker", "ORDER_MODEL": None, adapter_setting: ADAPTER}
    with firstpromoter(**settings), rolled_back():
        checkout = through_the_host(key, given, tell, caplog)
        assert_recorded_for(checkout, given, model, len(caplog.records))
