"""``manage.py check`` reports each configuration mistake with an id and a hint."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string
from django.views.decorators.debug import sensitive_variables

from django_firstpromoter.conf import (
    API_VERSIONS,
    DEFAULTS,
    DELIVERY_MODES,
    NUMBERS,
    credential_problem,
    is_positive_number,
    is_rate_limit,
    is_rate_limit_cache,
    is_unset,
    is_webhook_secret,
    rate_limit_setting,
    raw_settings,
)


def register_checks() -> None:
    checks.register(check_settings, "firstpromoter")


@sensitive_variables("conf")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    try:
        conf = raw_settings()
    except ImproperlyConfigured as exc:
        return [
            checks.Error(str(exc), hint="FIRSTPROMOTER = {'API_KEY': ...}", id="firstpromoter.E007")
        ]
    errors: list[checks.CheckMessage] = []
    if is_unset(conf["API_KEY"]):
        errors.append(
            checks.Error(
                "FIRSTPROMOTER['API_KEY'] is not set.",
                hint="Copy it from FirstPromoter: Settings → Integrations → Manage API Keys. "
                "Read it from the environment, not from the source.",
                id="firstpromoter.E001",
            )
        )
    if conf["API_VERSION"] == 2 and is_unset(conf["ACCOUNT_ID"]):
        errors.append(
            checks.Error(
                "FIRSTPROMOTER['ACCOUNT_ID'] is required by API version 2.",
                hint="Copy it from FirstPromoter: Settings → Integrations, "
                "or set 'API_VERSION': 1 for the legacy API.",
                id="firstpromoter.E002",
            )
        )
    errors.extend(check_credential(conf, "API_KEY", "firstpromoter.E016"))
    errors.extend(check_credential(conf, "ACCOUNT_ID", "firstpromoter.E017"))
    if isinstance(conf["API_VERSION"], bool) or conf["API_VERSION"] not in API_VERSIONS:
        errors.append(
            checks.Error(
                f"FIRSTPROMOTER['API_VERSION'] is {conf['API_VERSION']!r}.",
                hint="Use 2 (the current API) or 1 (legacy), as an int.",
                id="firstpromoter.E003",
            )
        )
    for key in NUMBERS:
        if not is_positive_number(conf[key]):
            errors.append(
                checks.Error(
                    f"FIRSTPROMOTER['{key}'] is {conf[key]!r}.",
                    hint=f"Give a number above zero; the default is {DEFAULTS[key]}.",
                    id="firstpromoter.E009",
                )
            )
    if conf["DELIVERY"] not in DELIVERY_MODES:
        errors.append(
            checks.Error(
                f"FIRSTPROMOTER['DELIVERY'] is {conf['DELIVERY']!r}.",
                hint="Use 'on_commit' (send right after the transaction commits), "
                "'worker' (only manage.py firstpromoter_deliver sends) or "
                "'task' (a worker of Django's Tasks framework sends).",
                id="firstpromoter.E004",
            )
        )
    if conf["DELIVERY"] == "task":
        errors.extend(check_tasks())
    if conf["ORDER_MODEL"]:
        try:
            if not isinstance(conf["ORDER_MODEL"], str):
                raise ValueError("not a string")
            apps.get_model(conf["ORDER_MODEL"])
        except (LookupError, ValueError):
            errors.append(
                checks.Error(
                    f"FIRSTPROMOTER['ORDER_MODEL'] {conf['ORDER_MODEL']!r} "
                    "is not an installed model.",
                    hint="Give it as 'app_label.ModelName', e.g. 'shop.Order'.",
                    id="firstpromoter.E005",
                )
            )
        if not conf["SALE_FROM_ORDER"]:
            errors.append(
                checks.Error(
                    "FIRSTPROMOTER['ORDER_MODEL'] is set but 'SALE_FROM_ORDER' is not.",
                    hint="Point it at a callable(order) -> SaleData | None.",
                    id="firstpromoter.E008",
                )
            )
    errors.extend(check_adapter(conf, "SALE_FROM_ORDER", "SaleData", "firstpromoter.E006"))
    errors.extend(check_adapter(conf, "REFUND_FROM_ORDER", "RefundData", "firstpromoter.E013"))
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
    errors.extend(check_rate_limit(conf))
    errors.extend(check_webhook_secret(conf["WEBHOOK_SECRET"]))
    unknown = sorted(set(conf) - set(DEFAULTS))
    if unknown:
        errors.append(
            checks.Warning(
                f"FIRSTPROMOTER has unknown keys: {', '.join(unknown)}.",
                hint=f"Known keys: {', '.join(DEFAULTS)}.",
                id="firstpromoter.W001",
            )
        )
    return errors


@sensitive_variables("conf")
def check_credential(conf: dict[str, Any], key: str, check_id: str) -> list[checks.CheckMessage]:
    """``conf[key]``, when set, can be sent in a header; the message names the key only."""
    problem = credential_problem(conf[key])
    if problem is None:
        return []
    return [
        checks.Error(
            f"FIRSTPROMOTER['{key}'] {problem}",
            hint="Copy it again from FirstPromoter (Settings → Integrations). Read from a "
            "file or a command's output, it may end in a newline: strip it.",
            id=check_id,
        )
    ]


def check_adapter(
    conf: dict[str, Any], key: str, returns: str, check_id: str
) -> list[checks.CheckMessage]:
    """``conf[key]``, when set, is the dotted path of a callable."""
    path = conf[key]
    hint = f"Give the dotted path of a callable(order) -> {returns} | None, as a string."
    if not path:
        return []
    if not isinstance(path, str):
        return [
            checks.Error(
                f"FIRSTPROMOTER['{key}'] is a {type(path).__name__}, not a dotted path.",
                hint=hint,
                id=check_id,
            )
        ]
    try:
        adapter = import_string(path)
    except ImportError as exc:
        return [
            checks.Error(f"FIRSTPROMOTER['{key}'] does not import: {exc}", hint=hint, id=check_id)
        ]
    if not callable(adapter):
        return [
            checks.Error(
                f"FIRSTPROMOTER['{key}'] {path!r} is not callable.", hint=hint, id=check_id
            )
        ]
    return []


def check_rate_limit(conf: dict[str, Any]) -> list[checks.CheckMessage]:
    limit, alias = rate_limit_setting(conf), conf["RATE_LIMIT_CACHE"]
    errors: list[checks.CheckMessage] = []
    if not is_rate_limit(limit):
        errors.append(
            checks.Error(
                f"FIRSTPROMOTER['RATE_LIMIT'] is {limit!r}.",
                hint="Give FirstPromoter calls a minute as an int of 2 or more (the default is "
                "380 with API version 2), or None for no limit.",
                id="firstpromoter.E010",
            )
        )
    if not is_rate_limit_cache(alias):
        errors.append(
            checks.Error(
                f"FIRSTPROMOTER['RATE_LIMIT_CACHE'] {alias!r} is not a cache in CACHES.",
                hint="Name one of the CACHES aliases, or leave it out to keep the slots in "
                "the database.",
                id="firstpromoter.E011",
            )
        )
    # Without an alias the slots are in the database, which every sender shares.
    if errors or not limit or alias is None:
        return errors
    try:
        # The class, not a connection: a check should not need the cache's client library.
        backend = import_string(settings.CACHES[alias].get("BACKEND", ""))
    except ImportError:
        return []  # The cache itself fails to load, which is reported where it is used.
    shared = (
        "Leave RATE_LIMIT_CACHE out to keep the slots in the database, or point it at a "
        "cache every process shares: Redis, Memcached or "
    )
    if issubclass(backend, DummyCache):
        # Not an Error: DummyCache is how many projects turn caching off in development,
        # and the limit is on by default with API version 2.
        return [
            checks.Warning(
                f"The cache {alias!r} stores nothing, so FIRSTPROMOTER['RATE_LIMIT'] "
                "limits nothing.",
                hint=shared + "the database cache; or set 'RATE_LIMIT': None to say so.",
                id="firstpromoter.W003",
            )
        ]
    # Every web process sends on commit and each worker is a process of its own: with
    # a limit set, calls always may come from several processes.
    if issubclass(backend, LocMemCache):
        why = "keeps its slots in each process"
    elif issubclass(backend, FileBasedCache):
        why = "cannot give a slot to one process atomically"
    else:
        return []
    return [
        checks.Warning(
            f"The cache {alias!r} {why}, so senders in several processes together can go "
            f"over FIRSTPROMOTER['RATE_LIMIT'] ({limit} a minute).",
            hint=shared + "the database cache.",
            id="firstpromoter.W002",
        )
    ]


@sensitive_variables("secret")
def check_webhook_secret(secret: Any) -> list[checks.CheckMessage]:
    """The secret's value is never put in a message: it is a credential."""
    hint = (
        "Generate one, e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))', "
        "read it from the environment, and give FirstPromoter's webhook subscription the "
        "header Authorization: Bearer <that secret>."
    )
    if secret in ("", None):
        if not webhook_routed():
            return []
        return [
            checks.Warning(
                "The FirstPromoter webhook URL is routed but FIRSTPROMOTER['WEBHOOK_SECRET'] "
                "is not set, so it refuses every delivery.",
                hint=hint,
                id="firstpromoter.W004",
            )
        ]
    if is_webhook_secret(secret):
        return []
    return [
        checks.Error(
            "FIRSTPROMOTER['WEBHOOK_SECRET'] is not a string of at least 16 visible ASCII "
            "characters (no spaces), so the webhook refuses every delivery.",
            hint=hint,
            id="firstpromoter.E015",
        )
    ]


def webhook_routed() -> bool:
    try:
        reverse("firstpromoter:webhook")
    except NoReverseMatch:
        return False
    return True


def check_tasks() -> list[checks.CheckMessage]:
    """Whether ``deliver_sale`` can be queued on the ``TASKS`` backend as set now."""
    try:
        from django_firstpromoter.tasks import deliver_sale

        deliver_sale.get_backend().validate_task(deliver_sale)
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
