"""Shops' own amount rules, for ``FIRSTPROMOTER["OSCAR_AMOUNT"]``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

NOT_CALLABLE = "a string"


def with_tax(order: Any) -> Decimal:
    """A shop that pays its promoters on what the customer paid for the goods, tax in."""
    return Decimal(order.basket_total_incl_tax)


def broken(order: Any) -> Decimal:
    raise RuntimeError("the shop's rule broke")
