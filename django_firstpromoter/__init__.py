"""Report a Django shop's sales to FirstPromoter, exactly once."""

from typing import TYPE_CHECKING, Any

from django_firstpromoter.sale_data import SaleData

__version__ = "0.1.0"
__all__ = ["SaleData", "__version__", "track_sale"]

if TYPE_CHECKING:
    from django_firstpromoter.tracking import track_sale


def __getattr__(name: str) -> Any:
    # track_sale needs the models, which cannot be imported while Django is
    # still loading INSTALLED_APPS; import it on first use instead.
    if name == "track_sale":
        from django_firstpromoter.tracking import track_sale

        return track_sale
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
