"""The ``FIRSTPROMOTER`` settings dict, read each time it is needed.

Reading at use time (not at import) is what lets ``override_settings`` and
per-test settings work, the way django-anymail reads ``ANYMAIL``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables

DEFAULT_BASE_URLS = {
    2: "https://api.firstpromoter.com/api/v2/track",
    1: "https://firstpromoter.com/api/v1/track",
}
API_VERSIONS = tuple(DEFAULT_BASE_URLS)
DELIVERY_MODES = ("on_commit", "worker", "task")
# FirstPromoter allows v2 400 calls a minute per account, counting the account's
# other API calls too; 380 leaves them room. v1 is not limited by default.
DEFAULT_RATE_LIMITS: dict[int, int | None] = {2: 380, 1: None}
# Stands in DEFAULTS for a default that depends on API_VERSION, as RATE_LIMIT's does.
PER_API_VERSION = object()

DEFAULTS: dict[str, Any] = {
    "API_KEY": "",
    "ACCOUNT_ID": "",
    "API_VERSION": 2,
    "BASE_URL": None,
    "TIMEOUT": 10,
    "MAX_ATTEMPTS": 12,
    "RETRY_BACKOFF": 60,
    "DELIVERY": "on_commit",
    "ORDER_MODEL": None,
    "SALE_FROM_ORDER": None,
    "REFUND_FROM_ORDER": None,
    "SIGNUP_ON_USER_CREATED": False,
    "CID": None,
    "RATE_LIMIT": PER_API_VERSION,
    # None: the slots are kept in the database (ratelimit.py).
    "RATE_LIMIT_CACHE": None,
    "WEBHOOK_SECRET": "",
}


NUMBERS = ("TIMEOUT", "MAX_ATTEMPTS", "RETRY_BACKOFF")


def is_positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def rate_limit_setting(raw: dict[str, Any]) -> Any:
    """``RATE_LIMIT`` as given, or its API version's default; unchecked."""
    if raw["RATE_LIMIT"] is not PER_API_VERSION:
        return raw["RATE_LIMIT"]
    version = raw["API_VERSION"]
    known = version in API_VERSIONS and not isinstance(version, bool)
    return DEFAULT_RATE_LIMITS[version] if known else None


def is_rate_limit(value: Any) -> bool:
    """None or 0 (no limit), or calls a minute: at least 2, since one call a minute
    cannot be paced without every call waiting (see ratelimit.py)."""
    if value is None:
        return True
    return isinstance(value, int) and not isinstance(value, bool) and (value == 0 or value >= 2)


def is_rate_limit_cache(value: Any) -> bool:
    """None (the slots go in the database) or one of the ``CACHES`` aliases."""
    return value is None or (isinstance(value, str) and value in settings.CACHES)


def is_webhook_secret(value: Any) -> bool:
    """At least 16 visible ASCII characters: it travels in a header FirstPromoter sends
    as typed, where a space or a character outside ASCII could not arrive intact, and
    a short one could be guessed."""
    return isinstance(value, str) and re.fullmatch(r"[\x21-\x7e]{16,}", value) is not None


CREDENTIAL = re.compile(r"[\x21-\x7e]+")


def is_unset(value: Any) -> bool:
    return value in ("", None)


def credential_problem(value: Any) -> str | None:
    """Why an ``API_KEY`` or ``ACCOUNT_ID`` cannot be sent, or None (also when it is
    unset, which is a problem of its own); never quoting it: it is a credential.

    It travels in a request header as given: a newline (the usual one, copied along
    from a file or a shell) is refused by the HTTP library in an error that quotes
    the header, and a space or a character outside ASCII would not reach
    FirstPromoter intact. FirstPromoter's own are visible ASCII.
    """
    if is_unset(value):
        return None
    if not isinstance(value, str):
        return f"is not a string but of type {type(value).__name__}."
    if CREDENTIAL.fullmatch(value) is None:
        return (
            "holds a character a request header cannot carry as it is: a space, a control "
            "character such as a newline, or one outside ASCII."
        )
    return None


@sensitive_variables("user")
def raw_settings() -> dict[str, Any]:
    """The user's dict merged over the defaults, unchecked (for system checks)."""
    user = getattr(settings, "FIRSTPROMOTER", None) or {}
    if not isinstance(user, dict):
        raise ImproperlyConfigured("FIRSTPROMOTER must be a dict.")
    return {**DEFAULTS, **user}


@sensitive_variables("secret")
def webhook_secret() -> str:
    """``WEBHOOK_SECRET`` when it is usable, else "": the webhook view then refuses
    every delivery rather than accept ones that prove nothing (check E015 says why)."""
    secret = raw_settings()["WEBHOOK_SECRET"]
    return secret if is_webhook_secret(secret) else ""


@dataclass(frozen=True)
class Config:
    # Out of the repr: a DEBUG page, an error tracker or a log line shows a Config
    # among a frame's locals as its repr.
    api_key: str = field(repr=False)
    account_id: str = field(repr=False)
    api_version: int
    base_url: str
    timeout: float
    max_attempts: int
    retry_backoff: float
    delivery: str
    order_model: str | None
    sale_from_order: str | None
    refund_from_order: str | None
    signup_on_user_created: bool
    rate_limit: int | None
    rate_limit_cache: str | None

    @property
    def lease_seconds(self) -> float:
        """How long a claimed record may stay in ``sending`` before another sender
        may take it over: a few request timeouts, so a live sender is never
        overtaken but a dead one does not hold the record for long."""
        return max(5 * self.timeout, 30.0)


@sensitive_variables("raw")
def get_config() -> Config:
    """The validated settings; raises ImproperlyConfigured for what cannot be sent with.

    The system checks report the same problems at start-up with ids and hints;
    this is the last line for code paths that run without them. An error report
    made with DEBUG off (an error email) shows ``raw`` starred out.
    """
    raw = raw_settings()
    version = raw["API_VERSION"]
    if isinstance(version, bool) or version not in API_VERSIONS:
        raise ImproperlyConfigured(f"FIRSTPROMOTER['API_VERSION'] must be 1 or 2, not {version!r}.")
    if is_unset(raw["API_KEY"]):
        raise ImproperlyConfigured("FIRSTPROMOTER['API_KEY'] is not set.")
    if version == 2 and is_unset(raw["ACCOUNT_ID"]):
        raise ImproperlyConfigured("FIRSTPROMOTER['ACCOUNT_ID'] is required for API version 2.")
    for key in ("API_KEY", "ACCOUNT_ID"):
        problem = credential_problem(raw[key])
        if problem:
            raise ImproperlyConfigured(f"FIRSTPROMOTER['{key}'] {problem}")
    if raw["DELIVERY"] not in DELIVERY_MODES:
        raise ImproperlyConfigured(
            f"FIRSTPROMOTER['DELIVERY'] must be one of {DELIVERY_MODES}, not {raw['DELIVERY']!r}."
        )
    for key in NUMBERS:
        if not is_positive_number(raw[key]):
            raise ImproperlyConfigured(
                f"FIRSTPROMOTER['{key}'] must be a number above zero, not {raw[key]!r}."
            )
    rate_limit = rate_limit_setting(raw)
    if not is_rate_limit(rate_limit):
        raise ImproperlyConfigured(
            "FIRSTPROMOTER['RATE_LIMIT'] must be an int of 2 or more, or None or 0 for no "
            f"limit; not {rate_limit!r}."
        )
    if not is_rate_limit_cache(raw["RATE_LIMIT_CACHE"]):
        raise ImproperlyConfigured(
            f"FIRSTPROMOTER['RATE_LIMIT_CACHE'] {raw['RATE_LIMIT_CACHE']!r} is not in CACHES."
        )
    return Config(
        api_key=raw["API_KEY"],
        account_id=raw["ACCOUNT_ID"] or "",
        api_version=version,
        base_url=(raw["BASE_URL"] or DEFAULT_BASE_URLS[version]).rstrip("/"),
        timeout=float(raw["TIMEOUT"]),
        max_attempts=int(raw["MAX_ATTEMPTS"]),
        retry_backoff=float(raw["RETRY_BACKOFF"]),
        delivery=raw["DELIVERY"],
        order_model=raw["ORDER_MODEL"],
        sale_from_order=raw["SALE_FROM_ORDER"],
        refund_from_order=raw["REFUND_FROM_ORDER"],
        signup_on_user_created=bool(raw["SIGNUP_ON_USER_CREATED"]),
        rate_limit=rate_limit or None,
        rate_limit_cache=raw["RATE_LIMIT_CACHE"],
    )
