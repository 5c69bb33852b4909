"""Where a tracked event stands, and what one call to FirstPromoter came to."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    TRACKED = "tracked", _("Tracked")
    NOT_REFERRAL = "not_referral", _("Not a referral")
    FAILED = "failed", _("Failed")
    # FirstPromoter knew the event id before we first sent it: another shop's, or an
    # order number reused after a database reset. Not counted for this sale.
    DUPLICATE = "duplicate", _("Duplicate event id")
    IGNORED = "ignored", _("Ignored")


class AttemptOutcome(models.TextChoices):
    TRACKED = "tracked", _("Tracked")
    DUPLICATE = "duplicate", _("Already tracked")
    NOT_REFERRAL = "not_referral", _("Not a referral")
    REJECTED = "rejected", _("Rejected")
    RETRY = "retry", _("Retry later")


WAITING = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
"""Not settled yet: due to be sent, or being sent under a lease."""


class RewardSource(models.TextChoices):
    """What last told the app a reward's state."""

    ANSWER = "answer", _("the tracking answer")
    WEBHOOK = "webhook", _("a webhook")
    LOOKUP = "lookup", _("a look-up by event id")
    REFRESH = "refresh", _("a refresh from the admin")
    RECONCILE = "reconcile", _("reconciliation")
