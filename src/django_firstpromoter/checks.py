"""``manage.py check`` reports each configuration mistake with an id and a hint.

The rules on the settings alone are ``conf.RULES``, which ``get_config`` enforces
too; here are the ones that need the app registry: the order model, the adapters'
callables, the middleware, the tasks backend and the webhook route.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string
from django.views.decorators.debug import sensitive_variables

from django_firstpromoter.conf import (
    WEBHOOK_SECRET_HINT,
    raw_settings,
    secrets_of,
    settings_problems,
)


def register_checks() -> None:
    checks.register(check_settings, "firstpromoter")


@sensitive_variables("conf")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors = settings_problems()
    try:
        conf = raw_settings()
    except ImproperlyConfigured:
        return errors  # E007, among the settings' problems
    if conf["DELIVERY"] == "task" and conf["ENQUEUE"]:
        errors.extend(
            check_adapter(
                conf, "ENQUEUE", "firstpromoter.E021", "callable(kind, pk, due) that queues a job"
            )
        )
    elif conf["DELIVERY"] == "task":
        errors.extend(check_tasks())
    if conf["ORDER_MODEL"]:
        errors.extend(check_order_model(conf["ORDER_MODEL"]))
    errors.extend(
        check_adapter(
            conf, "SALE_FROM_ORDER", "firstpromoter.E006", "callable(order) -> SaleData | None"
        )
    )
    errors.extend(
        check_adapter(
            conf, "REFUND_FROM_ORDER", "firstpromoter.E013", "callable(order) -> RefundData | None"
        )
    )
    if conf["SIGNUP_ON_USER_CREATED"] and not any(
        path.endswith("ReferralMiddleware") for path in settings.MIDDLEWARE
    ):
        errors.append(
            checks.Error(
                "FIRSTPROMOTER['SIGNUP_ON_USER_CREATED'] is on but ReferralMiddleware is not "
                "in MIDDLEWARE, so no new user would be known to come from a referral.",
                hint="Add 'django_firstpromoter.middleware.ReferralMiddleware' to MIDDLEWARE.",
                id="firstpromoter.E014",
            )
        )
    webhook_keys = ("WEBHOOK_SECRET", "WEBHOOK_BASIC_AUTH", "WEBHOOK_SIGNING_KEY")
    if all(not secrets_of(conf[key]) for key in webhook_keys) and webhook_routed():
        errors.append(
            checks.Warning(
                "The FirstPromoter webhook URL is routed but none of FIRSTPROMOTER's "
                "WEBHOOK_SECRET, WEBHOOK_BASIC_AUTH and WEBHOOK_SIGNING_KEY is set, so it "
                "refuses every delivery.",
                hint=WEBHOOK_SECRET_HINT,
                id="firstpromoter.W004",
            )
        )
    return errors


def check_order_model(label: Any) -> list[checks.CheckMessage]:
    try:
        if not isinstance(label, str):
            raise ValueError("not a string")
        apps.get_model(label)
    except (LookupError, ValueError):
        return [
            checks.Error(
                f"FIRSTPROMOTER['ORDER_MODEL'] {label!r} is not an installed model.",
                hint="Give it as 'app_label.ModelName', e.g. 'shop.Order'.",
                id="firstpromoter.E005",
            )
        ]
    return []


def check_adapter(
    conf: dict[str, Any], key: str, check_id: str, signature: str
) -> list[checks.CheckMessage]:
    """``conf[key]``, when set, is the dotted path of a callable."""
    path = conf[key]
    hint = f"Give the dotted path of a {signature}, as a string."
    if not path:
        return []
    if not isinstance(path, str):
        problem = f"is a {type(path).__name__}, not a dotted path."
    else:
        try:
            problem = "" if callable(import_string(path)) else f"{path!r} is not callable."
        except ImportError as exc:
            problem = f"does not import: {exc}"
    if not problem:
        return []
    return [checks.Error(f"FIRSTPROMOTER['{key}'] {problem}", hint=hint, id=check_id)]


def webhook_routed() -> bool:
    """Whether the project routes the webhook's URL. A worker machine's settings may
    have no URLs at all (no ``ROOT_URLCONF``): nothing is routed there."""
    if not hasattr(settings, "ROOT_URLCONF"):
        return False
    try:
        reverse("firstpromoter:webhook")
    except NoReverseMatch:
        return False
    return True


def check_tasks() -> list[checks.CheckMessage]:
    """Whether every kind's delivery task can be queued on the ``TASKS`` backend."""
    try:
        from django_firstpromoter.tasks import DELIVER_TASKS

        for deliver_task in DELIVER_TASKS.values():
            deliver_task.get_backend().validate_task(deliver_task)
    except Exception as exc:  # the framework's own errors differ between 5.2 and 6
        return [
            checks.Error(
                f"FIRSTPROMOTER['DELIVERY'] is 'task' but its task cannot be queued: {exc}",
                hint="On Django 5.2, pip install 'django-firstpromoter[tasks]'. Set TASKS to a "
                "backend whose worker you run (e.g. django-tasks-db), with the 'default' "
                "queue; or use DELIVERY 'on_commit'.",
                id="firstpromoter.E012",
            )
        ]
    return []
