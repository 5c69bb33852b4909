from django.contrib import admin

from django_firstpromoter.order_admin import FirstPromoterOrderAdminMixin
from shop.models import Order


@admin.register(Order)
class OrderAdmin(FirstPromoterOrderAdminMixin, admin.ModelAdmin):
    list_display = [
        "__str__",
        "email",
        "total",
        "paid",
        "firstpromoter_status",
        "created_at",
    ]
    list_filter = ["paid", "plan"]
    search_fields = ["email", "number"]
    readonly_fields = ["number", "referral_tid", "referral_ref_id", "created_at"]
