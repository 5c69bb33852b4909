"""The tests' shop reports its orders with the example shop's adapters, the README's
(one copy, so that the README cannot drift from what the tests run), and lets a test
hand the app anything through a checkout."""

from django_firstpromoter import RefundData, SaleData
from example_project.shop.firstpromoter import refund_from_order, sale_from_order
from tests.shop.models import Checkout

__all__ = ["data_given_to", "refund_from_order", "sale_from_order"]


def data_given_to(checkout: Checkout) -> SaleData | RefundData | None:
    """Whatever the test gave the checkout to say: an adapter that hands the app
    anything a shop's adapter could."""
    given: SaleData | RefundData | None = getattr(checkout, "given", None)
    return given
