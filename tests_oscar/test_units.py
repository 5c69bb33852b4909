"""contrib.oscar's parts on their own: the amount rules, the checks, the receivers'
guard, the order page link."""

from __future__ import annotations

import logging
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from oscar.core.loading import get_model

from django_firstpromoter import order_urls
from django_firstpromoter.conf import settings_problems
from django_firstpromoter.contrib.oscar import amounts, orders, receivers
from django_firstpromoter.contrib.oscar.apps import FirstPromoterOscarConfig
from django_firstpromoter.contrib.oscar.checks import check_amount_rule
from django_firstpromoter.models import Sale
from tests_oscar.checkout import place_order, visit


def configure(settings: Any, **overrides: Any) -> None:
    settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, **overrides}


def ids(messages: list[Any]) -> list[str]:
    return sorted(message.id for message in messages)


# The amount rule.


def fake_order(**fields: Any) -> Any:
    defaults = {"total_incl_tax": Decimal("30.00"), "currency": "GBP"}
    return SimpleNamespace(**{**defaults, **fields})


def test_the_default_rule_is_the_basket_after_discounts_before_tax() -> None:
    order = fake_order(basket_total_excl_tax=Decimal("16.00"))

    assert amounts.before_tax(order) == Decimal("16.00")


def test_a_shops_rule_replaces_it(settings: Any) -> None:
    configure(settings, OSCAR_AMOUNT="tests_oscar.rules.with_tax")

    assert amounts.sale_amount(fake_order(basket_total_incl_tax="19.20")) == Decimal("19.20")


@pytest.mark.django_db(transaction=True)
def test_a_shops_rule_decides_what_is_sent(client, product, firstpromoter_sandbox, settings):
    configure(settings, OSCAR_AMOUNT="tests_oscar.rules.with_tax")
    visit(client, "alice")

    place_order(client, product)

    assert Sale.objects.get().amount == Decimal("24.00")
    assert [sent.amount for sent in firstpromoter_sandbox.sales] == [2400]


@pytest.mark.parametrize(
    ("paid_back", "currency", "share"),
    [
        ("12.00", "GBP", Decimal("8.00")),
        ("10.00", "GBP", Decimal("6.67")),  # 6.666…: half up to the cent
        ("1000", "JPY", Decimal("667")),  # whole yen
    ],
)
def test_a_refunds_share_is_rounded_to_the_currency(paid_back, currency, share) -> None:
    order = fake_order(currency=currency, total_incl_tax=Decimal(30) if currency == "GBP" else 3000)
    sale_amount = Decimal(20) if currency == "GBP" else Decimal(2000)

    assert amounts.refund_share(Decimal(paid_back), sale_amount, order) == share


def test_an_order_that_cost_nothing_has_no_share_to_refund() -> None:
    order = fake_order(total_incl_tax=Decimal(0))

    assert amounts.refund_share(Decimal(5), Decimal(5), order) == 0


def test_a_payment_events_refund_is_never_more_than_is_left() -> None:
    order = fake_order(number="100001", email="", user=None)
    event = SimpleNamespace(pk=7, amount=Decimal("30.00"))

    data = orders.payment_event_refund(order, event, Decimal(20), left=Decimal(5))

    assert (data.event_id, data.amount, data.email, data.uid) == (
        "oscar-100001-refund-7",
        Decimal(5),
        "",
        "",
    )


def test_a_customers_uid_is_their_users_pk() -> None:
    order = fake_order(email="a@example.com", user=SimpleNamespace(pk=42))

    assert orders.customer(order) == ("a@example.com", "42")


# The checks.


def test_the_defaults_pass_the_checks(settings: Any) -> None:
    assert check_amount_rule() == []
    assert [
        m for m in settings_problems() if m.id in ("firstpromoter.E101", "firstpromoter.E102")
    ] == []


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("tests_oscar.rules.missing", "does not import"),
        ("tests_oscar.rules.NOT_CALLABLE", "is not callable"),
    ],
)
def test_an_amount_rule_that_cannot_be_called_is_e101(settings: Any, path: str, problem: str):
    configure(settings, OSCAR_AMOUNT=path)

    [message] = check_amount_rule()

    assert message.id == "firstpromoter.E101"
    assert problem in message.msg
    assert "firstpromoter.E101" in ids(run_checks(tags=["firstpromoter"]))


@pytest.mark.parametrize("value", [None, "", 3])
def test_an_amount_rule_that_is_no_dotted_path_is_e101(settings: Any, value: Any) -> None:
    configure(settings, OSCAR_AMOUNT=value)

    assert check_amount_rule() == []  # The settings rule says it, once.
    assert "firstpromoter.E101" in ids(settings_problems())


def test_an_unreadable_setting_leaves_it_to_e007(settings: Any) -> None:
    settings.FIRSTPROMOTER = "nope"

    assert check_amount_rule() == []


@pytest.mark.parametrize("key", ["OSCAR_REFUND_STATUSES", "OSCAR_REFUND_EVENT_TYPES"])
@pytest.mark.parametrize("value", ["Refunded", None, ["Refunded", 3]])
def test_a_list_of_names_that_is_not_one_is_e102(settings: Any, key: str, value: Any) -> None:
    configure(settings, **{key: value})

    assert ids(settings_problems()).count("firstpromoter.E102") == 1


@pytest.mark.parametrize("value", [[], ("Refunded",), ["Cancelled", "Returned"]])
def test_any_list_of_names_is_fine(settings: Any, value: Any) -> None:
    configure(settings, OSCAR_REFUND_STATUSES=value)

    assert "firstpromoter.E102" not in ids(settings_problems())


# The app and its receivers.


def test_the_app_needs_the_core_app(monkeypatch: pytest.MonkeyPatch) -> None:
    config: Any = apps.get_app_config("firstpromoter_oscar")
    monkeypatch.setattr(apps, "is_installed", lambda name: name != "django_firstpromoter")

    with pytest.raises(ImproperlyConfigured, match="'django_firstpromoter' in"):
        FirstPromoterOscarConfig.ready(config)


def test_a_receiver_that_breaks_is_logged(caplog: pytest.LogCaptureFixture, settings: Any) -> None:
    configure(settings, OSCAR_REFUND_STATUSES=None, OSCAR_REFUND_EVENT_TYPES=None)
    order = SimpleNamespace(number="100001")

    with caplog.at_level(logging.ERROR, logger="django_firstpromoter"):
        receivers.on_order_status_changed(None, order=order, new_status="Refunded")
        receivers.on_payment_event_saved(
            None, instance=SimpleNamespace(pk=3, event_type=None), created=True
        )

    assert "Oscar order 100001 (status 'Refunded')" in caplog.text
    assert "Oscar payment event 3" in caplog.text


def test_a_payment_event_saved_again_or_loaded_is_not_a_new_refund(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(receivers, "refund_payment_event", seen.append)
    event = SimpleNamespace(event_type=SimpleNamespace(code="refunded", name="Refunded"))

    receivers.on_payment_event_saved(None, instance=event, created=False)
    receivers.on_payment_event_saved(None, instance=event, created=True, raw=True)
    assert seen == []
    receivers.on_payment_event_saved(None, instance=event, created=True)
    assert seen == [event]


@pytest.mark.django_db
def test_an_order_with_no_referral_request_is_reported_without_one(
    product: Any, firstpromoter_sandbox: Any
) -> None:
    from oscar.test.factories import create_order

    order = create_order(number="200001", guest_email="x@example.com")

    sale = receivers.report_order(order, None)

    assert sale is not None
    assert (sale.event_id, sale.ref_id) == ("oscar-200001", "")


@pytest.mark.django_db
def test_a_referral_that_cannot_be_kept_is_logged_and_the_sale_recorded(
    product: Any, firstpromoter_sandbox: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any, rf: Any
) -> None:
    from oscar.test.factories import create_order

    from django_firstpromoter import referral

    def broken(request: Any, order: Any) -> None:
        raise RuntimeError("no table")

    monkeypatch.setattr(referral, "remember_referral", broken)
    order = create_order(number="200002", guest_email="x@example.com")

    sale = receivers.report_order(order, rf.get("/?fpr=alice"))

    assert sale is not None
    assert "could not keep the referral of Oscar order 200002" in caplog.text


# The admin's link to the order.


def restore_order_page() -> None:
    from django_firstpromoter.contrib.oscar.dashboard import order_page

    order_urls.register(get_model("order", "Order"), order_page)


def test_an_order_page_that_cannot_be_made_is_no_link(caplog: Any) -> None:
    order_urls.register("order.Order", lambda order: str(1 / 0))
    try:
        assert order_urls.url_for(get_model("order", "Order")(pk=5, number="1")) is None
    finally:
        restore_order_page()
    assert "could not make the page address of order 5" in caplog.text


def test_an_unregistered_model_has_no_page_of_its_own() -> None:
    Order = get_model("order", "Order")
    order_urls.unregister(Order)
    try:
        assert order_urls.url_for(Order(number="1")) is None
    finally:
        restore_order_page()


def test_the_shops_settings_pass_every_check_with_no_order_model() -> None:
    from django.conf import settings

    assert "ORDER_MODEL" not in settings.FIRSTPROMOTER
    assert [m for m in run_checks() if m.id and m.id.startswith("firstpromoter.")] == []
