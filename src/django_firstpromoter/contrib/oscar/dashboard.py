"""The admin's link from a sale or a refund to the order's page in Oscar's dashboard,
where the shop's staff refund it and change its status."""

from __future__ import annotations

from typing import Any

from django.urls import reverse


def order_page(order: Any) -> str:
    return reverse("dashboard:order-detail", kwargs={"number": order.number})
