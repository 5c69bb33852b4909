"""``manage.py check`` reports each configuration mistake with an id and a hint."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from django_firstpromoter.conf import (
    API_VERSIONS,
    DEFAULTS,
    DELIVERY_MODES,
    NUMBERS,
    is_positive_number,
    raw_settings,
)


def register_checks() -> None:
    checks.register(check_settings, "firstpromoter")


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    try:
        conf = raw_settings()
    except ImproperlyConfigured as exc:
        return [
            checks.Error(str(exc), hint="FIRSTPROMOTER = {'API_KEY': ...}", id="firstpromoter.E007")
        ]
    errors: list[checks.CheckMessage] = []
    if not conf["API_KEY"]:
        errors.append(
            checks.Error(
                "FIRSTPROMOTER['API_KEY'] is not set.",
                hint="Copy it from FirstPromoter: Settings → Integrations → Manage API Keys. "
                "Read it from the environment, not from the source.",
                id="firstpromoter.E001",
            )
        )
    if conf["API_VERSION"] == 2 and not conf["ACCOUNT_ID"]:
        errors.append(
            checks.Error(
                "FIRSTPROMOTER['ACCOUNT_ID'] is required by API version 2.",
                hint="Copy it from FirstPromoter: Settings → Integrations, "
                "or set 'API_VERSION': 1 for the legacy API.",
                id="firstpromoter.E002",
            )
        )
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
                hint="Use 'on_commit' (send right after the transaction commits) or "
                "'worker' (only manage.py firstpromoter_deliver sends).",
                id="firstpromoter.E004",
            )
        )
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
    if conf["SALE_FROM_ORDER"] and not isinstance(conf["SALE_FROM_ORDER"], str):
        errors.append(
            checks.Error(
                f"FIRSTPROMOTER['SALE_FROM_ORDER'] is a {type(conf['SALE_FROM_ORDER']).__name__}, "
                "not a dotted path.",
                hint="Give the dotted path of a callable(order) -> SaleData | None, as a string.",
                id="firstpromoter.E006",
            )
        )
    elif conf["SALE_FROM_ORDER"]:
        try:
            adapter = import_string(conf["SALE_FROM_ORDER"])
        except ImportError as exc:
            errors.append(
                checks.Error(
                    f"FIRSTPROMOTER['SALE_FROM_ORDER'] does not import: {exc}",
                    hint="Give the dotted path of a callable(order) -> SaleData | None.",
                    id="firstpromoter.E006",
                )
            )
        else:
            if not callable(adapter):
                errors.append(
                    checks.Error(
                        f"FIRSTPROMOTER['SALE_FROM_ORDER'] {conf['SALE_FROM_ORDER']!r} "
                        "is not callable.",
                        hint="Give the dotted path of a callable(order) -> SaleData | None.",
                        id="firstpromoter.E006",
                    )
                )
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
