"""The README's adapters are example_project/shop/firstpromoter.py, and that file is
what the tests' shop reports its orders with: shown text that no test runs would drift.

The README (and any page of docs/) may show the adapters by copying them, then each
copy must be the file's text, or by including the file (``--8<--``); either way it
shows them."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils.module_loading import import_string

from django_firstpromoter.conf import get_config
from django_firstpromoter.models import Refund, Sale
from example_project.shop import firstpromoter as example_adapters
from tests.conftest import firstpromoter
from tests.shop.models import Order

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = ROOT / "example_project" / "shop" / "firstpromoter.py"
# The one-line form, or the block form (ruff formats the one-line one as Python).
INCLUDE = re.compile(r'--8<--\s*"?example_project/shop/firstpromoter\.py')
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
DEFINITION = re.compile(r"^def (sale_from_order|refund_from_order)\(.*?(?=^\S|\Z)", re.M | re.S)


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def shown_definitions(text: str) -> dict[str, str]:
    """The adapters' definitions a page's Python blocks copy, by name."""
    found = {}
    for block in PYTHON_BLOCK.findall(text):
        for definition in DEFINITION.finditer(block):
            found[definition[1]] = definition[0].rstrip()
    return found


def test_every_copy_of_an_adapter_in_the_readme_and_docs_is_the_example_shops():
    source = ADAPTERS.read_text()
    shown: set[str] = set()
    for page in pages():
        text = page.read_text()
        for name, definition in shown_definitions(text).items():
            assert definition in source, f"{page.name}'s {name} is not {ADAPTERS.name}'s"
            shown.add(name)
        if INCLUDE.search(text):
            shown |= {"sale_from_order", "refund_from_order"}
    assert shown == {"sale_from_order", "refund_from_order"}


def test_the_tests_shop_reports_its_orders_with_the_example_shops_adapters():
    assert import_string(str(get_config().sale_from_order)) is example_adapters.sale_from_order
    assert (
        import_string("tests.shop.firstpromoter.refund_from_order")
        is example_adapters.refund_from_order
    )


@pytest.mark.django_db
def test_the_example_shops_adapters_turn_an_order_into_its_sale_and_refunds():
    with firstpromoter(
        DELIVERY="worker", REFUND_FROM_ORDER="tests.shop.firstpromoter.refund_from_order"
    ):
        order = Order.objects.create(
            email="buyer@example.com",
            total=Decimal("49.95"),
            currency="EUR",
            referral_tid="tid-1",
            referral_ref_id="alice",
        )
        assert not Sale.objects.exists()  # not paid yet
        order.paid = True
        order.save()
        order.refunded = Decimal("10")
        order.save()
        order.save()  # nothing more refunded
        order.refunded = Decimal("25.50")
        order.save()

    sale = Sale.objects.get()
    assert (sale.event_id, sale.order, sale.amount, sale.amount_minor, sale.currency) == (
        f"order-{order.pk}",
        order,
        Decimal("49.95"),
        4995,
        "EUR",
    )
    assert (sale.email, sale.tid, sale.ref_id) == ("buyer@example.com", "tid-1", "alice")
    refunds = Refund.objects.for_order(order).order_by("pk")
    assert [(r.event_id, r.amount, r.currency) for r in refunds] == [
        (f"order-{order.pk}-refunded-10", Decimal("10"), "EUR"),
        (f"order-{order.pk}-refunded-25.50", Decimal("15.50"), "EUR"),
    ]
    assert {(r.sale_event_id, r.sale_id) for r in refunds} == {(sale.event_id, sale.pk)}
