"""For the shop's own order admin: what FirstPromoter made of each order, linked both
ways (the app's sale and refund pages already link to the order).

    from django_firstpromoter.order_admin import FirstPromoterOrderAdminMixin

    @admin.register(Order)
    class OrderAdmin(FirstPromoterOrderAdminMixin, admin.ModelAdmin):
        list_display = [..., "firstpromoter_status"]
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from django_firstpromoter import admin_links
from django_firstpromoter.models import Cancellation, Refund, Sale
from django_firstpromoter.money import format_money


class FirstPromoterOrderAdminMixin:
    """Adds a read-only "FirstPromoter" field to the order's page (its sales, its
    refunds and its customer's cancellation, each with its status and a link to its
    page) and a ``firstpromoter_status`` column for ``list_display``."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_readonly_fields(request, obj)  # type: ignore[misc]
        return [*fields, "firstpromoter"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_fields(request, obj))  # type: ignore[misc]
        return fields if "firstpromoter" in fields else [*fields, "firstpromoter"]

    @admin.display(description=_("FirstPromoter"))
    def firstpromoter(self, order: Any) -> str:
        sales = list(Sale.objects.for_order(order))
        records: list[Any] = [*sales, *Refund.objects.for_order(order)]
        # A cancellation is the customer's, not the order's: the order's customer's.
        records += [
            cancellation
            for sale in sales[:1]
            for cancellation in admin_links.of_customer(Cancellation, sale)[: admin_links.SHOWN]
        ]
        if not records:
            return "—"
        return format_html(
            "<ul style='margin:0;padding-left:1em'>{}</ul>",
            format_html_join(
                "",
                "<li>{} {}: {}</li>",
                (
                    (
                        record._meta.verbose_name.capitalize(),
                        admin_links.link_in_text(admin_links.change_url(record), record.event_id),
                        ", ".join(filter(None, [amount(record), record.get_status_display()])),
                    )
                    for record in records
                ),
            ),
        )

    @admin.display(description=_("FirstPromoter"))
    def firstpromoter_status(self, order: Any) -> str:
        sale = Sale.objects.for_order(order).only("pk", "status").first()
        if sale is None:
            return "—"
        return admin_links.change_link(sale, sale.get_status_display())


def amount(record: Any) -> str:
    if isinstance(record, Sale | Refund):
        return format_money(record.amount, record.currency)
    return ""
