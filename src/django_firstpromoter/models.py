"""What was sold, each attempt to report it, and what FirstPromoter granted for it."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_firstpromoter.money import format_amount
from django_firstpromoter.statuses import WAITING, AttemptOutcome, DeliveryStatus, RewardSource


def customer_email() -> models.CharField:
    """The customer's email as the shop gave it: any text, not an ``EmailField``.
    FirstPromoter takes any string, and an address Django's validator refuses
    (``josé@example.com``, RFC 6531) must not cost the sale."""
    return models.CharField(_("email"), max_length=254, blank=True)


class TrackedEvent(models.Model):
    """A row that must reach one tracking endpoint exactly once.

    ``delivery`` claims, sends and settles any subclass through these fields and
    the few methods below; ``kinds`` says which call, signals and rewards each
    subclass has. While ``sending``, ``next_attempt_at`` is the end of the sender's
    lease.
    """

    # Each kind's unique field: what makes a record once, and how logs and lists name it.
    event_id: str

    api_version = models.PositiveSmallIntegerField(_("API version"))
    status = models.CharField(
        _("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempt_count = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    last_error = models.TextField(_("last error"), blank=True)
    tracked_at = models.DateTimeField(_("tracked at"), null=True, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True
        ordering = ["-recorded_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="fp_%(class)s_due"),
            # The claim's query: due rows in next_attempt_at order. With the status in
            # the index's condition, PostgreSQL reads them in order and stops at the
            # batch's size, instead of reading every due row and sorting them.
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=models.Q(status__in=list(WAITING)),
                name="fp_%(class)s_waiting",
            ),
        ]

    def __str__(self) -> str:
        return self.event_id

    @classmethod
    def ready(cls) -> models.Q:
        """Which due records may be sent now; the others wait for something else first."""
        return models.Q()

    def create_attempt(self, **fields: Any) -> None:
        # Each kind's attempt model points at it with related_name="attempts".
        self.attempts.create(**fields)  # type: ignore[attr-defined]


class Attempt(models.Model):
    """One HTTP call. Holds the parameters sent, never the credentials."""

    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    api_version = models.PositiveSmallIntegerField(_("API version"))
    url = models.CharField(_("URL"), max_length=500)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=AttemptOutcome.choices)
    error = models.TextField(_("error"), blank=True)
    request_params = models.JSONField(_("request parameters"), default=dict)
    response_body = models.TextField(_("response body"), blank=True)

    class Meta:
        abstract = True
        ordering = ["-started_at", "-pk"]
        # The overview's outcomes per day read a month of attempts by when they started.
        indexes = [models.Index(fields=["started_at"], name="fp_%(class)s_started")]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} ({self.http_status or 'no answer'})"


class OrderQuerySet(models.QuerySet[Any]):
    def for_order(self, order: models.Model) -> OrderQuerySet:
        """The records made for ``order`` (by the hooks, the signals or the ``track_*``
        functions), so a shop's order page can show what FirstPromoter made of it."""
        return self.filter(
            order_content_type=ContentType.objects.get_for_model(order),
            order_object_id=str(order.pk),
        )


class OrderLinked(models.Model):
    """The shop's order a sale or a refund came from, whatever the order's model."""

    order_content_type = models.ForeignKey(
        ContentType, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    order_object_id = models.CharField(_("order id"), max_length=255, blank=True)
    order = GenericForeignKey("order_content_type", "order_object_id")

    objects = OrderQuerySet.as_manager()

    class Meta:
        abstract = True


class MoneyEvent(OrderLinked, TrackedEvent):
    """What a sale and a refund both are: money, a customer, a shop's order."""

    event_id = models.CharField(_("event id"), max_length=255, unique=True)
    amount = models.DecimalField(_("amount"), max_digits=18, decimal_places=6)
    amount_minor = models.BigIntegerField(_("amount sent (minor units)"))
    currency = models.CharField(_("currency"), max_length=3, default="USD")
    email = customer_email()
    uid = models.CharField(_("uid"), max_length=255, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"), null=True, blank=True)
    # Tracked, but the answer did not say which commissions it earned (a 409 after a
    # lost answer, commissions unreadable): looked up by event id (rewards.look_up).
    rewards_unknown = models.BooleanField(_("rewards to look up"), default=False)

    class Meta(TrackedEvent.Meta):
        abstract = True
        indexes = [
            *TrackedEvent.Meta.indexes,
            # The follow-up pass's query, run each time a worker goes idle: the few
            # rows to look up, without reading the many tracked ones.
            models.Index(
                fields=["tracked_at", "id"],
                condition=models.Q(rewards_unknown=True),
                name="fp_%(class)s_rewards_unknown",
            ),
        ]


class Sale(MoneyEvent):
    plan = models.CharField(_("plan"), max_length=255, blank=True)
    mrr = models.DecimalField(_("MRR"), max_digits=18, decimal_places=6, null=True, blank=True)
    mrr_minor = models.BigIntegerField(_("MRR sent (minor units)"), null=True, blank=True)
    promo_code = models.CharField(_("promo code"), max_length=255, blank=True)
    tid = models.CharField(_("tracking id (tid)"), max_length=255, blank=True)
    ref_id = models.CharField(_("referral id"), max_length=255, blank=True)
    skip_email_notification = models.BooleanField(_("skip email notification"), default=False)
    created_at = models.DateTimeField(_("sale made at"), null=True, blank=True)
    subscription_id = models.CharField(_("subscription id"), max_length=255, blank=True)
    start_recurring_reward_in = models.PositiveIntegerField(
        _("start recurring reward in (days)"), null=True, blank=True
    )
    recurring_reward_frequency = models.PositiveIntegerField(
        _("recurring reward frequency (days)"), null=True, blank=True
    )
    max_recurring = models.PositiveIntegerField(_("max recurring"), null=True, blank=True)
    ecom_sale = models.BooleanField(_("e-commerce sale"), null=True, blank=True)
    # Set when the order's adapter answered differently once the sale was sent
    # (``revisions``): FirstPromoter has the first answer, a person settles the rest.
    order_changed_at = models.DateTimeField(
        _("order changed after it was reported"), null=True, blank=True
    )
    order_changes = models.TextField(_("what changed"), blank=True)

    class Meta(MoneyEvent.Meta):
        verbose_name = _("sale")
        verbose_name_plural = _("sales")


class SaleAttempt(Attempt):
    sale = models.ForeignKey(Sale, on_delete=models.CASCADE, related_name="attempts")

    class Meta(Attempt.Meta):
        verbose_name = _("sale attempt")
        verbose_name_plural = _("sale attempts")


class Refund(MoneyEvent):
    """Money given back on a sale: FirstPromoter takes that share of the commission back."""

    sale_event_id = models.CharField(_("sale's event id"), max_length=255, blank=True)
    sale = models.ForeignKey(
        Sale,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="refunds",
        help_text=_("The refunded sale, when it was recorded here."),
    )
    skip_email_notification = models.BooleanField(_("skip email notification"), default=False)
    created_at = models.DateTimeField(_("refunded at"), null=True, blank=True)

    class Meta(MoneyEvent.Meta):
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")

    @classmethod
    def ready(cls) -> models.Q:
        # A refund sent before its sale would find nothing to refund at FirstPromoter:
        # it waits while the sale it refunds is still to be sent.
        return ~models.Q(sale__status__in=WAITING)


class RefundAttempt(Attempt):
    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="attempts")

    class Meta(Attempt.Meta):
        verbose_name = _("refund attempt")
        verbose_name_plural = _("refund attempts")


class Cancellation(TrackedEvent):
    """A customer's subscription ended: FirstPromoter stops its recurring commissions."""

    event_id = models.CharField(_("event id"), max_length=255, unique=True)
    email = customer_email()
    uid = models.CharField(_("uid"), max_length=255, blank=True)

    class Meta(TrackedEvent.Meta):
        verbose_name = _("cancellation")
        verbose_name_plural = _("cancellations")


class CancellationAttempt(Attempt):
    cancellation = models.ForeignKey(
        Cancellation, on_delete=models.CASCADE, related_name="attempts"
    )

    class Meta(Attempt.Meta):
        verbose_name = _("cancellation attempt")
        verbose_name_plural = _("cancellation attempts")


class Signup(TrackedEvent):
    """A referred visitor who signed up: FirstPromoter makes them the promoter's lead
    before they pay."""

    event_id = models.CharField(
        _("event id"),
        # "uid:" or "email:" and the longest uid or email.
        max_length=264,
        unique=True,
        help_text=_("Ours, not sent: one signup per customer is recorded."),
    )
    email = customer_email()
    uid = models.CharField(_("uid"), max_length=255, blank=True)
    tid = models.CharField(_("tracking id (tid)"), max_length=255, blank=True)
    ref_id = models.CharField(_("referral id"), max_length=255, blank=True)

    class Meta(TrackedEvent.Meta):
        verbose_name = _("signup")
        verbose_name_plural = _("signups")


class SignupAttempt(Attempt):
    signup = models.ForeignKey(Signup, on_delete=models.CASCADE, related_name="attempts")

    class Meta(Attempt.Meta):
        verbose_name = _("signup attempt")
        verbose_name_plural = _("signup attempts")


class OrderReferral(OrderLinked):
    """Who referred the visitor that placed an order, kept by the app so that no order
    model needs fields for it (``referral.remember_referral``): a sale of that order
    with no ``tid`` or ``ref_id`` of its own is sent with these."""

    tid = models.CharField(_("tracking id (tid)"), max_length=255, blank=True)
    ref_id = models.CharField(_("referral id"), max_length=255, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("order referral")
        verbose_name_plural = _("order referrals")
        constraints = [
            models.UniqueConstraint(
                fields=["order_content_type", "order_object_id"], name="fp_one_referral_per_order"
            )
        ]

    def __str__(self) -> str:
        return f"{self.order_object_id}: {self.ref_id or self.tid}"


DELETED = "deleted"
"""A reward's status once its commission is gone at FirstPromoter, as its
``commission.deleted`` webhook says."""


class Reward(models.Model):
    """A v1 ``reward`` or a v2 commission, as FirstPromoter reported it: a sale's, or a
    refund's (negative, taking part of a commission back)."""

    # What a tracking answer does not say (webhooks.py and the admin API do): an answer
    # to /sale stored again after a lost one must not wipe them.
    webhook_fields: ClassVar[tuple[str, ...]] = (
        "paid",
        "firstpromoter_updated_at",
        "status_updated_at",
    )

    sale = models.ForeignKey(
        Sale, on_delete=models.CASCADE, null=True, blank=True, related_name="rewards"
    )
    refund = models.ForeignKey(
        Refund, on_delete=models.CASCADE, null=True, blank=True, related_name="rewards"
    )
    firstpromoter_id = models.BigIntegerField(_("FirstPromoter id"), null=True, unique=True)
    status = models.CharField(_("status"), max_length=64, blank=True)
    amount = models.BigIntegerField(_("amount (minor units)"), default=0)
    unit = models.CharField(_("unit"), max_length=32, blank=True)
    tier = models.PositiveSmallIntegerField(_("tier"), null=True, blank=True)
    promoter_id = models.BigIntegerField(_("promoter id"), null=True, blank=True)
    promoter_email = models.CharField(_("promoter email"), max_length=254, blank=True)
    lead_id = models.BigIntegerField(_("lead id"), null=True, blank=True)
    lead_email = models.CharField(_("lead email"), max_length=254, blank=True)
    created_at = models.DateTimeField(_("created at"), null=True, blank=True)
    raw = models.JSONField(_("as received"), default=dict)
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    # None until a webhook has said.
    paid = models.BooleanField(_("paid"), null=True, blank=True)
    firstpromoter_updated_at = models.DateTimeField(
        _("updated at FirstPromoter"), null=True, blank=True
    )
    status_updated_at = models.DateTimeField(
        _("status changed at FirstPromoter"), null=True, blank=True
    )
    confirmed_at = models.DateTimeField(_("last confirmed"), null=True, blank=True)
    confirmed_by = models.CharField(
        _("confirmed by"), max_length=16, choices=RewardSource.choices, blank=True
    )

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        ordering = ["-recorded_at", "-pk"]
        # The rewards list's page is the newest hundred: read from the index, not a
        # sort of every reward.
        indexes = [models.Index(fields=["-recorded_at", "-id"], name="fp_reward_recorded")]
        permissions = [("approve_reward", _("Can approve or deny commissions at FirstPromoter"))]

    def __str__(self) -> str:
        return f"{self.amount_display} → {self.promoter_email or self.promoter_id}"

    @property
    def currency(self) -> str:
        """The currency of a cash reward: its sale's (or refund's)."""
        event = self.sale or self.refund
        return event.currency if event else ""

    @property
    def amount_display(self) -> str:
        """The amount in its unit: 9.80 USD, 500 JPY, 25 points."""
        return format_amount(self.amount, self.unit, self.currency)


class WebhookEvent(models.Model):
    """One event FirstPromoter's webhooks delivered, kept as it came, and what it did.

    The unique ``event_id`` is what makes a retried delivery harmless. No request
    header is kept: the ``Authorization`` header carries the shared secret.
    """

    event_id = models.CharField(_("event id"), max_length=255, unique=True)
    event_type = models.CharField(_("event type"), max_length=100, blank=True)
    payload = models.JSONField(_("payload"), default=dict)
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    commission_id = models.BigIntegerField(_("commission id"), null=True, blank=True)
    reward = models.ForeignKey(
        Reward,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="webhook_events",
        verbose_name=_("reward"),
    )
    applied = models.BooleanField(_("applied"), default=False)
    note = models.TextField(_("note"), blank=True)
    # When its commission, unknown here, was asked of the admin API: once is enough
    # for one that is not this shop's (webhooks.adopt_commissions).
    looked_up_at = models.DateTimeField(_("commission looked up at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return self.event_id


class RateLimitSlot(models.Model):
    """A slot of ``RATE_LIMIT`` some sender has taken, when no ``RATE_LIMIT_CACHE`` is
    named: the database is the one store every sender is sure to share.

    The columns are those of Django's database cache table, because ``ratelimit``
    keeps the slots with Django's ``DatabaseCache``: ``add`` is atomic through the
    primary key. A model of the app's own rather than ``createcachetable``, so that
    ``migrate`` makes the table, and routers see the same model there and for each
    slot taken.
    """

    cache_key = models.CharField(_("cache key"), max_length=255, primary_key=True)
    value = models.TextField(_("value"))
    expires = models.DateTimeField(_("expires"), db_index=True)

    class Meta:
        verbose_name = _("rate limit slot")
        verbose_name_plural = _("rate limit slots")

    def __str__(self) -> str:
        return self.cache_key


class Overview(models.Model):
    """No table: the admin's FirstPromoter overview page hangs on it
    (``/admin/django_firstpromoter/overview/``), so that the app's index lists it
    like the models, for the staff who may view sales."""

    class Meta:
        managed = False
        verbose_name = _("overview")
        verbose_name_plural = _("FirstPromoter overview")
        default_permissions = ()

    def __str__(self) -> str:
        return str(self._meta.verbose_name)
