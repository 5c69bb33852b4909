"""Which amount of an Oscar order is the sale, and which share of a refund is its."""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils.module_loading import import_string

from django_firstpromoter.conf import raw_settings
from django_firstpromoter.money import minor_unit_factor

AMOUNT_SETTING = "OSCAR_AMOUNT"


def before_tax(order: Any) -> Decimal:
    """The default rule: what the customer paid for the goods, after every discount
    (offers and vouchers), before tax, without shipping or surcharges.

    Oscar's ``basket_total_excl_tax`` is exactly that (``total_excl_tax`` less the
    shipping and the surcharges, both excluding tax). FirstPromoter's commissions
    are a share of the sale before taxes, and shipping is not what a promoter sold.
    """
    return Decimal(order.basket_total_excl_tax)


def amount_rule() -> Callable[[Any], Decimal]:
    """``FIRSTPROMOTER["OSCAR_AMOUNT"]``, imported; read at use time, like every key."""
    rule: Callable[[Any], Decimal] = import_string(raw_settings()[AMOUNT_SETTING])
    return rule


def sale_amount(order: Any) -> Decimal:
    return Decimal(amount_rule()(order))


def to_places(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half up to the currency's minor unit, as the sale is sent: a
    scaled refund of 3.3333 USD is 3.33, of 333.33 JPY is 333."""
    exponent = Decimal(1) / minor_unit_factor(currency)
    return amount.quantize(exponent, rounding=ROUND_HALF_UP)


def refund_share(paid_back: Decimal, sale_amount: Decimal, order: Any) -> Decimal:
    """The part of ``paid_back`` (an Oscar payment event's amount: tax and shipping
    in) that comes off the sale: the same fraction of the sale as it is of what the
    customer paid, ``order.total_incl_tax``. Zero when the order cost nothing."""
    total = Decimal(order.total_incl_tax)
    if total <= 0:
        return Decimal(0)
    return to_places(Decimal(paid_back) * sale_amount / total, order.currency)
