from django.contrib import admin

from tests.shop.models import Order

admin.site.register(Order)
