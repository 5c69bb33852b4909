"""The Oscar shop's fixtures: its catalogue, a voucher of alice's, a staff user, and the
sandbox for each API version."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from oscar.core.loading import get_model
from oscar.test.factories import create_product, create_stockrecord, create_voucher

from django_firstpromoter.sandbox import Sandbox

PRICE = Decimal("10.00")
"""Excluding tax: the UK strategy adds 20 %."""
PROMO_CODE = "ALICE10"
"""The sandbox's alice gets the sales made with it; the voucher takes 20 % off."""


@pytest.fixture(params=[2, 1], ids=["v2", "v1"])
def api_version(request: pytest.FixtureRequest, settings: Any) -> int:
    """The shop's API version, set before the sandbox fixture reads it."""
    settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, "API_VERSION": request.param}
    version: int = request.param
    return version


@pytest.fixture
def sandbox(api_version: int, firstpromoter_sandbox: Sandbox) -> Sandbox:
    return firstpromoter_sandbox


@pytest.fixture
def shop(db: Any) -> None:
    """A country to ship to and the payment event type Oscar's dashboard refunds with."""
    get_model("address", "Country").objects.get_or_create(
        iso_3166_1_a2="GB",
        defaults={"printable_name": "United Kingdom", "is_shipping_country": True},
    )
    get_model("order", "PaymentEventType").objects.get_or_create(name="Refunded")


@pytest.fixture
def product(shop: None) -> Any:
    product = create_product(title="Tea pot")
    create_stockrecord(product, price=PRICE, num_in_stock=100, currency="GBP")
    return product


@pytest.fixture
def yen_product(shop: None, settings: Any) -> Any:
    settings.OSCAR_DEFAULT_CURRENCY = "JPY"
    product = create_product(title="Tea bowl")
    create_stockrecord(product, price=Decimal(1500), num_in_stock=100, currency="JPY")
    return product


@pytest.fixture
def voucher(shop: None) -> Any:
    return create_voucher(code=PROMO_CODE)


@pytest.fixture
def staff_client(client: Any, django_user_model: Any) -> Any:
    """Oscar's dashboard, as the shop's staff see it."""
    staff = django_user_model.objects.create_user(
        "staff", "staff@shop.example", "password", is_staff=True, is_superuser=True
    )
    client.force_login(staff)
    return client


def pytest_configure(config: pytest.Config) -> None:
    # Oscar's own: its simple search backend, and treebeard's deprecation in its templates.
    config.addinivalue_line("filterwarnings", "ignore:update is not implemented:UserWarning")
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:django.template")
    config.addinivalue_line("filterwarnings", "ignore:Using Category.get_tree")
