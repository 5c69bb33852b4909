from django.apps import AppConfig
from django.db.models.signals import post_save
from django.utils.translation import gettext_lazy as _


class FirstPromoterConfig(AppConfig):
    name = "django_firstpromoter"
    verbose_name = _("FirstPromoter")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_firstpromoter import checks, hooks, signals

        checks.register_checks()
        signals.order_paid.connect(hooks.on_order_paid, dispatch_uid="firstpromoter.order_paid")
        post_save.connect(hooks.on_model_saved, dispatch_uid=hooks.ORDER_SAVED_UID)
