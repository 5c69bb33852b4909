from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html

from django_firstpromoter.order_admin import FirstPromoterOrderAdminMixin
from shop.models import Order


@admin.register(Order)
class OrderAdmin(FirstPromoterOrderAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "email", "total", "paid", "firstpromoter_status", "created"]
    list_filter = ["paid", "plan"]
    search_fields = ["email", "number"]
    readonly_fields = ["number", "referral_tid", "referral_ref_id", "created_at"]

    @admin.display(description="created at", ordering="created_at")
    def created(self, order: Order) -> str:
        # The date over the time: the list reads whole at 1280 px.
        when = timezone.localtime(order.created_at)
        return format_html("{}<br>{}", when.strftime("%Y-%m-%d"), when.strftime("%H:%M:%S"))
