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
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from django_firstpromoter.models import Refund, Sale
from django_firstpromoter.money import format_money


class FirstPromoterOrderAdminMixin:
    """Adds a read-only "FirstPromoter" field to the order's page (its sales and
    refunds, each with its status and a link to its page) and a
    ``firstpromoter_status`` column for ``list_display``."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_readonly_fields(request, obj)  # type: ignore[misc]
        return [*fields, "firstpromoter"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_fields(request, obj))  # type: ignore[misc]
        return fields if "firstpromoter" in fields else [*fields, "firstpromoter"]

    @admin.display(description=_("FirstPromoter"))
    def firstpromoter(self, order: Any) -> str:
        records = [*Sale.objects.for_order(order), *Refund.objects.for_order(order)]
        if not records:
            return "—"
        return format_html(
            "<ul style='margin:0;padding-left:1em'>{}</ul>",
            format_html_join(
                "",
                # Underlined: in a line of text, colour alone does not mark a link.
                '<li><a href="{}" style="text-decoration:underline">{} {}</a>: {}, {}</li>',
                (
                    (
                        reverse(
                            f"admin:django_firstpromoter_{record._meta.model_name}_change",
                            args=[record.pk],
                        ),
                        record._meta.verbose_name,
                        record.event_id,
                        format_money(record.amount, record.currency),
                        record.get_status_display(),
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
        url = reverse("admin:django_firstpromoter_sale_change", args=[sale.pk])
        return format_html('<a href="{}">{}</a>', url, sale.get_status_display())
