from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from django_firstpromoter.money import format_amount, to_minor_units

# What the README promises: FirstPromoter, after Stripe, counts these in whole units...
WHOLE_UNITS = "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()
# ...and every other currency in hundredths, the three-decimal ones (KWD, BHD) too.
HUNDREDTHS = "USD EUR GBP CHF CAD AUD SEK INR BRL MXN ZAR KWD BHD".split()


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


def places(currency: str) -> int:
    return 0 if currency in WHOLE_UNITS else 2


@given(
    currency=st.sampled_from(WHOLE_UNITS + HUNDREDTHS),
    minor=st.integers(0, 10**14),
    lower_case=st.booleans(),
)
def test_an_amount_in_the_currencys_units_is_sent_and_shown_as_it_was(currency, minor, lower_case):
    amount = Decimal(minor).scaleb(-places(currency))
    assert to_minor_units(amount, currency.lower() if lower_case else currency) == minor
    assert format_amount(minor, "cash", currency) == f"{amount:.{places(currency)}f} {currency}"


@given(currency=st.sampled_from(WHOLE_UNITS + HUNDREDTHS), tenths=st.integers(0, 10**14))
def test_a_finer_amount_is_rounded_half_up_to_the_currencys_units(currency, tenths):
    amount = Decimal(tenths).scaleb(-places(currency) - 1)
    assert to_minor_units(amount, currency) == (tenths + 5) // 10


def test_other_units_are_whole_numbers_whatever_the_currency():
    assert format_amount(150, "points", "USD") == "150 points"
