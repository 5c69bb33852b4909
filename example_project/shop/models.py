import uuid
from decimal import Decimal

from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from shop.plans import PLANS


class Order(models.Model):
    # The customer's link to their order: a guessable pk would show anyone's order.
    number = models.UUIDField(_("number"), default=uuid.uuid4, unique=True, editable=False)
    plan = models.CharField(
        _("plan"), max_length=20, choices=[(slug, plan.name) for slug, plan in PLANS.items()]
    )
    email = models.EmailField(_("email"))
    total = models.DecimalField(_("total"), max_digits=10, decimal_places=2, default=Decimal(0))
    currency = models.CharField(_("currency"), max_length=3, default="USD")
    paid = models.BooleanField(_("paid"), default=False)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    # Copied from the visitor's referral at checkout (copy_referral), for the sale.
    referral_tid = models.CharField(_("referral tid"), max_length=255, blank=True)
    referral_ref_id = models.CharField(_("referral id"), max_length=255, blank=True)
    # Every refund adds to it; REFUND_FROM_ORDER reports each addition as one refund.
    refunded = models.DecimalField(
        _("refunded"), max_digits=10, decimal_places=2, default=Decimal(0)
    )
    cancelled_at = models.DateTimeField(_("subscription cancelled at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Order {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("order", args=[self.number])

    @property
    def refundable(self) -> Decimal:
        return self.total - self.refunded if self.paid else Decimal(0)
