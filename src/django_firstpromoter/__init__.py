"""Report a Django shop's sales, refunds, cancellations and signups to FirstPromoter,
exactly once."""

from typing import TYPE_CHECKING, Any

from django_firstpromoter.data import RefundData, SaleData

__version__ = "0.1.0"
__all__ = [
    "RefundData",
    "SaleData",
    "__version__",
    "refundable",
    "track_cancellation",
    "track_refund",
    "track_sale",
    "track_signup",
]

if TYPE_CHECKING:
    from django_firstpromoter.cancellations import track_cancellation
    from django_firstpromoter.refunds import refundable, track_refund
    from django_firstpromoter.sales import track_sale
    from django_firstpromoter.signups import track_signup

# The track_* functions (and refundable) need the models, which cannot be imported while Django is
# still loading INSTALLED_APPS; each is imported on first use instead.
_LAZY = {
    "track_sale": "django_firstpromoter.sales",
    "track_refund": "django_firstpromoter.refunds",
    "refundable": "django_firstpromoter.refunds",
    "track_cancellation": "django_firstpromoter.cancellations",
    "track_signup": "django_firstpromoter.signups",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
