"""``manage.py check`` for what only this app reads: ``OSCAR_AMOUNT`` must import.

The shape of the Oscar keys is checked with every other key (``conf.RULES``); the
import needs the app registry, and matters only where this app is installed.
"""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.utils.module_loading import import_string

from django_firstpromoter.conf import raw_settings
from django_firstpromoter.contrib.oscar.amounts import AMOUNT_SETTING

AMOUNT_HINT = (
    "Point it at a callable(order) -> Decimal, or leave it out for the default, "
    "django_firstpromoter.contrib.oscar.amounts.before_tax."
)


def check_amount_rule(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    try:
        path = raw_settings()[AMOUNT_SETTING]
    except Exception:
        return []  # An unreadable FIRSTPROMOTER is the core's check (E007).
    if not isinstance(path, str) or not path:
        return []  # Its type is a settings rule of the core (conf.RULES, E101 too).
    try:
        rule = import_string(path)
    except ImportError as exc:
        problem = f"does not import: {exc}"
    else:
        if callable(rule):
            return []
        problem = "is not callable"
    return [
        checks.Error(
            f"FIRSTPROMOTER['{AMOUNT_SETTING}'] {path!r} {problem}.",
            hint=AMOUNT_HINT,
            id="firstpromoter.E101",
        )
    ]
