"""The checkout's short cuts give what Django's long way gives: the quick checks pass
nothing the full checks would refuse, the prepared ``INSERT`` sends what Django's
compiler would, a record made positionally is the one made by keywords, and the
settings read once are read again when they change. And a checkout with the
README's whole configuration costs the order's row and the sale's, nothing more."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from django_firstpromoter.conf import get_config
from django_firstpromoter.inserts import compiler_for, insert_for
from django_firstpromoter.models import Cancellation, Refund, Sale, Signup, TrackedEvent
from django_firstpromoter.quick_checks import vouched
from django_firstpromoter.recording import new_record, storable_problems
from tests.conftest import firstpromoter
from tests.hostile import any_datetime, any_flag, any_int, any_number, any_text
from tests.shop.models import Order

pytestmark = pytest.mark.django_db
examples = hypothesis_settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
README_REFUNDS = "example_project.shop.firstpromoter.refund_from_order"

# What a record's fields may hold by the time it is checked: anything the host gave,
# text that is only too long, and some of what passes (an aware moment, a TextChoices
# member).
clean_text = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=300),
    st.sampled_from(["x" * 3, "x" * 4, "x" * 254, "x" * 255, "x" * 256]),
)
field_values = {
    **dict.fromkeys(
        ("event_id", "email", "uid", "plan", "promo_code", "tid", "ref_id", "subscription_id"),
        st.one_of(any_text, clean_text),
    ),
    "currency": st.one_of(any_text, clean_text, st.sampled_from(["USD", "EUR"])),
    "status": st.one_of(any_text, st.sampled_from(["pending", "tracked", "sending!"])),
    **dict.fromkeys(("amount", "mrr"), any_number),
    **dict.fromkeys(("amount_minor", "mrr_minor", "quantity", "max_recurring"), any_int),
    "attempt_count": any_int,
    **dict.fromkeys(("created_at", "next_attempt_at", "tracked_at"), any_datetime),
    **dict.fromkeys(("skip_email_notification", "ecom_sale", "rewards_unknown"), any_flag),
}
some_fields = st.dictionaries(st.sampled_from(sorted(field_values)), st.none(), max_size=3).flatmap(
    lambda chosen: st.fixed_dictionaries({name: field_values[name] for name in chosen})
)
FAIR = {
    "event_id": "order-1",
    "amount": Decimal("19.99"),
    "amount_minor": 1999,
    "email": "buyer@example.com",
    "api_version": 2,
}


def full_checks_find_nothing(record: TrackedEvent) -> bool:
    try:
        record.full_clean(validate_unique=False, exclude=["api_version"])
    except (ValidationError, TypeError, ValueError, OverflowError):
        return False
    return not storable_problems(record)


@examples
@given(fields=some_fields)
def test_the_quick_checks_pass_nothing_the_full_checks_refuse(fields: dict[str, Any]) -> None:
    sale = new_record(Sale, {**FAIR, **fields})
    if vouched(sale):
        assert full_checks_find_nothing(sale)


@pytest.mark.parametrize(
    "record",
    [
        lambda: new_record(Sale, FAIR),
        lambda: Refund(event_id="r", amount=Decimal("1"), amount_minor=100, uid="c", api_version=2),
        lambda: Cancellation(event_id="c", uid="c", api_version=1),
        lambda: Signup(event_id="uid:c", uid="c", ref_id="alice", api_version=2),
    ],
    ids=["sale", "refund", "cancellation", "signup"],
)
def test_what_the_app_records_takes_the_quick_way(record: Any) -> None:
    assert vouched(record())


def compiled(record: TrackedEvent) -> tuple[str, list[Any]]:
    fields = [field for field in type(record)._meta.concrete_fields if not field.primary_key]
    [(sql, params)] = compiler_for(record, fields, connection).as_sql()
    return sql, list(params)


def without_moments(params: list[Any]) -> list[Any]:
    # Made at each insert's making (auto_now, the callable defaults): a moment of their
    # own each time.
    names = [field.attname for field in Sale._meta.concrete_fields if not field.primary_key]
    made = ("updated_at", "recorded_at", "next_attempt_at")
    return [value for name, value in zip(names, params, strict=True) if name not in made]


def same_params(prepared: list[Any], params: list[Any]) -> None:
    assert without_moments(prepared) == without_moments(params)
    assert [type(value) for value in without_moments(prepared)] == [
        type(value) for value in without_moments(params)
    ]


@examples
@given(fields=some_fields)
def test_the_prepared_insert_sends_what_django_would(fields: dict[str, Any]) -> None:
    sale = new_record(Sale, {**FAIR, **fields})
    if not vouched(sale):
        return  # never inserted: refused first
    insert = insert_for(Sale, connection)
    assert insert is not None
    sql, params = compiled(sale)
    row = insert.row(sale.__dict__, connection, checked=True)
    assert row is not None
    assert insert.sql == sql
    same_params(row.params, params)


@examples
@given(fields=some_fields)
def test_a_row_made_from_the_hosts_values_is_vouched_for_and_what_django_would_send(
    fields: dict[str, Any],
) -> None:
    insert = insert_for(Sale, connection)
    assert insert is not None
    row = insert.row({**FAIR, **fields}, connection, checked=False)
    sale = new_record(Sale, {**FAIR, **fields})
    if row is None:
        return  # the long way: full_clean, then record_once
    assert full_checks_find_nothing(sale)
    same_params(row.params, compiled(sale)[1])
    # One moment for the record's creation, its first due time and its last change,
    # for those not given.
    assert "updated_at" in row.made
    assert len(set(row.made.values())) == 1


def test_a_row_without_a_required_value_takes_the_long_way() -> None:
    insert = insert_for(Sale, connection)
    assert insert is not None
    given = {name: value for name, value in FAIR.items() if name != "amount_minor"}
    assert insert.row(given, connection, checked=False) is None


def test_a_record_made_positionally_is_the_one_made_by_keywords() -> None:
    made, by_keywords = new_record(Sale, FAIR), Sale(**FAIR)
    for field in Sale._meta.concrete_fields:
        if field.name not in ("next_attempt_at", "recorded_at"):
            assert getattr(made, field.attname) == getattr(by_keywords, field.attname), field
    # One call of the default for both: the record's first due time is its creation.
    assert made.next_attempt_at == made.recorded_at
    assert made._state.adding and made.pk is None


def test_a_record_given_a_relation_as_its_object_is_made_by_keywords() -> None:
    sale = Sale.objects.create(**FAIR)
    refund = new_record(Refund, {"event_id": "r", "sale": sale, "api_version": 2})
    assert refund.sale_id == sale.pk


def test_the_settings_are_read_again_when_they_change() -> None:
    with firstpromoter(DELIVERY="worker"):
        assert get_config().delivery == "worker"
        # In place, as no override_settings would: still seen.
        settings.FIRSTPROMOTER["DELIVERY"] = "on_commit"
        assert get_config().delivery == "on_commit"
    with firstpromoter(RATE_LIMIT=10, RATE_LIMIT_CACHE="limits"):
        with override_settings(CACHES={**settings.CACHES, "limits": settings.CACHES["default"]}):
            assert get_config().rate_limit_cache == "limits"
        # The same FIRSTPROMOTER, but the cache it names is gone.
        with pytest.raises(Exception, match="RATE_LIMIT_CACHE"):
            get_config()


def test_a_checkout_with_the_readme_configuration_costs_two_rows() -> None:
    with firstpromoter(DELIVERY="worker", REFUND_FROM_ORDER=README_REFUNDS):
        Order.objects.create(email="warm@example.com", total=Decimal("1"), paid=True)
        with CaptureQueriesContext(connection) as queries:
            order = Order.objects.create(
                email="buyer@example.com", total=Decimal("49.00"), paid=True, referral_ref_id="a"
            )
    assert [query["sql"].split()[0] for query in queries] == ["INSERT", "INSERT"]
    assert Sale.objects.get(event_id=f"order-{order.pk}").ref_id == "a"


def test_an_order_refunded_later_is_still_refunded_by_the_readme_adapter() -> None:
    with firstpromoter(DELIVERY="worker", REFUND_FROM_ORDER=README_REFUNDS):
        order = Order.objects.create(email="b@example.com", total=Decimal("49.00"), paid=True)
        order.refunded = Decimal("9.00")
        order.save()
    assert Refund.objects.get().amount == Decimal("9.00")


def test_the_recorded_moments_are_aware_and_now() -> None:
    before = datetime.datetime.now(datetime.timezone.utc)
    with firstpromoter(DELIVERY="worker"):
        Order.objects.create(email="b@example.com", total=Decimal("5"), paid=True)
    sale = Sale.objects.get()
    assert before <= sale.recorded_at == sale.next_attempt_at <= sale.updated_at


@pytest.mark.parametrize(("delivery", "read_back"), [("worker", False), ("on_commit", True)])
def test_the_checkouts_insert_reads_the_id_back_only_for_who_uses_it(
    delivery: str, read_back: bool
) -> None:
    # The worker finds its records by status, not by id; on_commit sends by it.
    with firstpromoter(DELIVERY=delivery), CaptureQueriesContext(connection) as queries:
        order = Order.objects.create(
            email="buyer@example.com", total=Decimal("49.00"), paid=True, referral_ref_id="a"
        )
    [insert] = [query["sql"] for query in queries if Sale._meta.db_table in query["sql"]]
    assert ("RETURNING" in insert) is read_back
    assert Sale.objects.get(event_id=f"order-{order.pk}").amount == Decimal("49.00")


def test_a_sale_known_already_is_found_without_its_id_read_back() -> None:
    with firstpromoter(DELIVERY="worker"):
        order = Order.objects.create(
            email="buyer@example.com", total=Decimal("49.00"), paid=True, referral_ref_id="a"
        )
        # A later answer for a sale not yet sent replaces what was recorded.
        order.total = Decimal("59.00")
        order.save()
    [sale] = Sale.objects.all()
    assert (sale.amount, sale.amount_minor) == (Decimal("59.00"), 5900)
