from django.contrib import admin

from django_firstpromoter.order_admin import FirstPromoterOrderAdminMixin
from tests.shop.models import Order


@admin.register(Order)
class OrderAdmin(FirstPromoterOrderAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "email", "total", "paid", "firstpromoter_status"]
