"""The test shop's own Oscar classes, without forking Oscar's apps: UK tax (20 %, prices
excluding it, as a shop whose sales are reported before tax has) and a shipping charge,
so that the amount rule has tax and shipping to leave out.

``tests_oscar.loading.class_loader`` hands them to Oscar; every other class is Oscar's own.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oscar.apps.partner import strategy
from oscar.apps.shipping import methods, repository

SHIPPING_EXCL_TAX = Decimal("5.00")
SHIPPING_INCL_TAX = Decimal("6.00")


class Selector:
    def strategy(self, request: Any = None, user: Any = None, **kwargs: Any) -> Any:
        return strategy.UK(request)


class Repository(repository.Repository):
    methods = (methods.FixedPrice(SHIPPING_EXCL_TAX, SHIPPING_INCL_TAX),)
