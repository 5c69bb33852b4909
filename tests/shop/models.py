"""A shop's order, as a host project would have it."""

from decimal import Decimal

from django.db import models


class Order(models.Model):
    email = models.EmailField()
    total = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(max_length=3, default="USD")
    paid = models.BooleanField(default=False)
    refunded = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    referral_tid = models.CharField(max_length=100, blank=True)
    referral_ref_id = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return f"Order {self.pk}"


class Checkout(models.Model):
    """An order keyed by a string, as a shop keyed by its payment provider's session
    id has it (a Stripe Checkout Session id is 66 characters)."""

    id = models.CharField(primary_key=True, max_length=255)

    def __str__(self) -> str:
        return f"Checkout {self.pk}"
