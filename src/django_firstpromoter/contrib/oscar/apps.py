from __future__ import annotations

from django.apps import AppConfig, apps
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db.models.signals import post_save

DISPATCH_PREFIX = "firstpromoter.oscar."
"""The receivers' ``dispatch_uid``s start with it, so a test or a shop that must turn
one off for a while finds the same registration."""


class FirstPromoterOscarConfig(AppConfig):
    name = "django_firstpromoter.contrib.oscar"
    label = "firstpromoter_oscar"
    verbose_name = "FirstPromoter for django-oscar"

    def ready(self) -> None:
        # Its sales and refunds are the core app's models: without it, the first
        # checkout would fail in our receiver, where the error is only logged.
        if not apps.is_installed("django_firstpromoter"):
            raise ImproperlyConfigured(
                "django_firstpromoter.contrib.oscar needs 'django_firstpromoter' in "
                "INSTALLED_APPS too."
            )
        from oscar.apps.checkout.signals import post_checkout
        from oscar.apps.order.signals import order_status_changed
        from oscar.core.loading import get_model

        from django_firstpromoter import order_urls
        from django_firstpromoter.contrib.oscar import receivers
        from django_firstpromoter.contrib.oscar.checks import check_amount_rule
        from django_firstpromoter.contrib.oscar.dashboard import order_page

        post_checkout.connect(
            receivers.on_post_checkout, dispatch_uid=DISPATCH_PREFIX + "post_checkout"
        )
        order_status_changed.connect(
            receivers.on_order_status_changed,
            dispatch_uid=DISPATCH_PREFIX + "order_status_changed",
        )
        # Oscar has no signal for a payment event; its dashboard, and a shop's own
        # code, make one by saving it.
        post_save.connect(
            receivers.on_payment_event_saved,
            sender=get_model("order", "PaymentEvent"),
            dispatch_uid=DISPATCH_PREFIX + "payment_event_saved",
        )
        # Oscar's Order (or the shop's fork of it, which get_model returns).
        order_urls.register(get_model("order", "Order"), order_page)
        checks.register(check_amount_rule, "firstpromoter")
