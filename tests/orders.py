"""The paid orders the chaos and engine tests place, and what FirstPromoter should
make of each: half came through alice's tracked click, a quarter through bob's
link, a quarter through no promoter at all."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django_firstpromoter.sandbox import Sandbox
from django_firstpromoter.statuses import DeliveryStatus
from tests.shop.models import Order


def pay_order(sandbox: Sandbox, n: int) -> tuple[Order, str]:
    """The ``n``-th paid order, committed, and the status its sale should end in."""
    referral: dict[str, Any] = {}
    if n % 4 in (0, 1):
        referral["referral_tid"] = sandbox.click("alice")
    elif n % 4 == 2:
        referral["referral_ref_id"] = "bob"
    order = Order.objects.create(
        email=f"buyer{n}@example.com", total=Decimal("19.99"), paid=True, **referral
    )
    return order, DeliveryStatus.NOT_REFERRAL if n % 4 == 3 else DeliveryStatus.TRACKED
