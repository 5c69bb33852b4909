"""Major units (what a shop stores) to the integer minor units FirstPromoter wants."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# FirstPromoter follows Stripe: these are sent as whole units, every other
# currency is multiplied by 100 (FirstPromoter has no rule for three-decimal
# currencies such as KWD, so they get 100 too).
ZERO_DECIMAL_CURRENCIES = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()
)


def minor_unit_factor(currency: str) -> int:
    return 1 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 100


def to_minor_units(amount: Decimal | int, currency: str) -> int:
    """Round half up, as a till does: 10.005 USD is 1001 cents.

    Floats are refused by the caller's validation before they get here: a float
    has already lost the cents it was meant to carry.
    """
    scaled = Decimal(amount) * minor_unit_factor(currency)
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_money(amount: Decimal, currency: str) -> str:
    """An amount in major units with as many decimals as the currency has (19.90 USD,
    500 JPY), more only if it holds more (a sale stored as 10.005 USD)."""
    places = 2 if minor_unit_factor(currency) == 100 else 0
    amount = amount.normalize()
    if -amount.as_tuple().exponent < places:  # type: ignore[operator]
        amount = amount.quantize(Decimal(1).scaleb(-places))
    return f"{amount:f} {currency}"


def format_amount(amount: int, unit: str, currency: str) -> str:
    """A reward as FirstPromoter counts it: cash in the sale currency's minor units
    (shown as 4.00 USD, 500 JPY), other units (points, credits) as whole numbers."""
    if unit != "cash":
        return f"{amount} {unit}"
    return format_money(Decimal(amount) / minor_unit_factor(currency), currency)
