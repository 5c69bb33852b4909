from decimal import Decimal

import pytest

from django_firstpromoter.money import ZERO_DECIMAL_CURRENCIES, to_minor_units


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (Decimal("19.99"), "USD", 1999),
        (Decimal("10.005"), "USD", 1001),
        (Decimal("10.004"), "EUR", 1000),
        (Decimal("0.5"), "usd", 50),
        (20, "USD", 2000),
        (Decimal("1500"), "JPY", 1500),
        (Decimal("1500.5"), "JPY", 1501),
        (Decimal("1499.4"), "KRW", 1499),
        (3, "VND", 3),
        (Decimal("1.234"), "KWD", 123),
    ],
)
def test_major_to_minor_units_rounds_half_up(amount, currency, minor):
    assert to_minor_units(amount, currency) == minor


def test_zero_decimal_list_is_stripes():
    assert {"JPY", "KRW", "CLP", "VND", "XOF", "XPF"} <= ZERO_DECIMAL_CURRENCIES
    assert len(ZERO_DECIMAL_CURRENCIES) == 16
    assert "USD" not in ZERO_DECIMAL_CURRENCIES
