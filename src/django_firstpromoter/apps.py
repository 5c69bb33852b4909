from django.apps import AppConfig, apps
from django.core.signals import setting_changed
from django.db.models.signals import post_save
from django.utils.translation import gettext_lazy as _


class FirstPromoterConfig(AppConfig):
    name = "django_firstpromoter"
    verbose_name = _("FirstPromoter")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model

        from django_firstpromoter import checks, conf, hooks, signals, signups

        checks.register_checks()
        setting_changed.connect(conf.forget_config, dispatch_uid="firstpromoter.settings")
        signals.order_paid.connect(hooks.on_order_paid, dispatch_uid="firstpromoter.order_paid")
        signals.order_refunded.connect(
            hooks.on_order_refunded, dispatch_uid="firstpromoter.order_refunded"
        )
        signals.subscription_cancelled.connect(
            hooks.on_subscription_cancelled, dispatch_uid="firstpromoter.subscription_cancelled"
        )
        post_save.connect(hooks.on_model_saved, dispatch_uid=hooks.ORDER_SAVED_UID)
        if apps.is_installed("django.contrib.auth"):
            # Connected always, switched by SIGNUP_ON_USER_CREATED when a user is created,
            # so that the setting is read when used, like every other.
            post_save.connect(
                signups.on_user_created,
                sender=get_user_model(),
                dispatch_uid="firstpromoter.signup",
            )
