"""Oscar's order in Django's admin shows what FirstPromoter made of it: its sales,
refunds and customer's cancellation, linked (``FirstPromoterOrderAdminMixin``), with
no code in the shop.

Oscar registers its ``Order`` (or the shop's fork of it) with an admin of its own; that
admin is kept and the mixin put before it. Oscar's admin module is imported first, so
the order of ``INSTALLED_APPS`` does not matter.
"""

from __future__ import annotations

from contextlib import suppress
from importlib import import_module

from django.apps import apps
from django.contrib import admin
from oscar.core.loading import get_model

from django_firstpromoter.order_admin import FirstPromoterOrderAdminMixin


def wrap_order_admin(site: admin.AdminSite) -> None:
    order = get_model("order", "Order")
    # A fork of Oscar's order app may have no admin module.
    with suppress(ImportError):
        import_module(f"{apps.get_app_config('order').name}.admin")
    registered = site._registry.get(order)
    if registered is None or isinstance(registered, FirstPromoterOrderAdminMixin):
        return
    site.unregister(order)
    site.register(
        order,
        type(type(registered).__name__, (FirstPromoterOrderAdminMixin, type(registered)), {}),
    )


wrap_order_admin(admin.site)
