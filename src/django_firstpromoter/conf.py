"""The ``FIRSTPROMOTER`` settings dict, read each time it is needed.

Reading at use time (not at import) is what lets ``override_settings`` and
per-test settings work, the way django-anymail reads ``ANYMAIL``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from django.views.decorators.debug import sensitive_variables

from django_firstpromoter.protocol import API_VERSIONS, DEFAULT_BASE_URLS

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
    # With DELIVERY "task": the shop's own queue instead of Django's Tasks framework.
    "ENQUEUE": None,
    "ORDER_MODEL": None,
    "SALE_FROM_ORDER": None,
    "REFUND_FROM_ORDER": None,
    "SIGNUP_ON_USER_CREATED": False,
    "CID": None,
    "RATE_LIMIT": PER_API_VERSION,
    # None: the slots are kept in the database (ratelimit.py).
    "RATE_LIMIT_CACHE": None,
    "WEBHOOK_BASIC_AUTH": "",
    "WEBHOOK_SIGNING_KEY": "",
    "WEBHOOK_SECRET": "",
    "EVENT_ID_PREFIX": "",
    # Read only by django_firstpromoter.contrib.oscar (docs/shop-frameworks.md).
    "OSCAR_AMOUNT": "django_firstpromoter.contrib.oscar.amounts.before_tax",
    "OSCAR_REFUND_STATUSES": ("Refunded", "Cancelled"),
    "OSCAR_REFUND_EVENT_TYPES": ("refunded",),
}

NUMBERS = ("TIMEOUT", "MAX_ATTEMPTS", "RETRY_BACKOFF")
CREDENTIAL = re.compile(r"[\x21-\x7e]+")
EVENT_ID_PREFIX = re.compile(r"[A-Za-z0-9._:~-]{0,64}")


def is_unset(value: Any) -> bool:
    return value in ("", None)


def is_positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def is_api_version(value: Any) -> bool:
    return value in API_VERSIONS and not isinstance(value, bool)


def rate_limit_setting(raw: dict[str, Any]) -> Any:
    """``RATE_LIMIT`` as given, or its API version's default; unchecked."""
    if raw["RATE_LIMIT"] is not PER_API_VERSION:
        return raw["RATE_LIMIT"]
    version = raw["API_VERSION"]
    return DEFAULT_RATE_LIMITS[version] if is_api_version(version) else None


def is_rate_limit(value: Any) -> bool:
    """None or 0 (no limit), or calls a minute: at least 2, since one call a minute
    cannot be paced without every call waiting (see ratelimit.py)."""
    if value is None:
        return True
    return isinstance(value, int) and not isinstance(value, bool) and (value == 0 or value >= 2)


def is_event_id_prefix(value: Any) -> bool:
    """Up to 64 URL-safe characters: it goes before every event id, in a v1 query
    string too, and an event id FirstPromoter shows must still read as one."""
    return isinstance(value, str) and EVENT_ID_PREFIX.fullmatch(value) is not None


def is_rate_limit_cache(value: Any) -> bool:
    """None (the slots go in the database) or one of the ``CACHES`` aliases."""
    return value is None or (isinstance(value, str) and value in settings.CACHES)


def is_webhook_secret(value: Any) -> bool:
    """At least 16 visible ASCII characters: it travels in a header FirstPromoter sends
    as typed, where a space or a character outside ASCII could not arrive intact, and
    a short one could be guessed."""
    return isinstance(value, str) and re.fullmatch(r"[\x21-\x7e]{16,}", value) is not None


def secrets_of(value: Any) -> list[Any]:
    """A secret setting as the list of its values: one, or several while a secret is
    rotated (the old one and the new one both accepted, as django-anymail allows)."""
    if is_unset(value):
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def is_basic_credentials(value: Any) -> bool:
    """``"user:password"``, the password a webhook secret: Basic auth sends both in a
    header as typed, and the password is what cannot be guessed."""
    if not isinstance(value, str):
        return False
    user, colon, password = value.partition(":")
    return (
        bool(colon)
        and re.fullmatch(r"[\x21-\x7e]+", user) is not None
        and (is_webhook_secret(password))
    )


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


@dataclass(frozen=True)
class Rule:
    """One thing the ``FIRSTPROMOTER`` dict must be, as ``manage.py check`` reports it
    (``id``, ``level``, the message ``find`` gives, ``hint``) and, where ``sends`` says
    so, as ``get_config`` refuses it: nothing can be sent while it is broken. The
    rules that need the app registry (a model, a callable, the URLconf, the tasks
    backend) are in ``checks``."""

    id: str
    key: str
    find: Callable[[dict[str, Any]], str | None]
    hint: str
    level: Callable[..., checks.CheckMessage] = checks.Error
    sends: bool = False

    def check(self, raw: dict[str, Any]) -> checks.CheckMessage | None:
        message = self.find(raw)
        if message is None:
            return None
        return self.level(message, hint=self.hint, id=f"firstpromoter.{self.id}")


def _when(condition: Callable[[dict[str, Any]], bool], message: str) -> Callable[..., str | None]:
    """A rule's ``find`` from a test of the settings; ``message`` is formatted with the
    known keys only: a user's dict may hold any key, of any type."""

    def find(raw: dict[str, Any]) -> str | None:
        return message.format(**{key: raw[key] for key in DEFAULTS}) if condition(raw) else None

    return find


def _credential(key: str) -> Callable[[dict[str, Any]], str | None]:
    def find(raw: dict[str, Any]) -> str | None:
        problem = credential_problem(raw[key])
        return None if problem is None else f"FIRSTPROMOTER['{key}'] {problem}"

    return sensitive_variables("raw")(find)


def _number(key: str) -> Rule:
    return Rule(
        "E009",
        key,
        lambda raw: (
            None if is_positive_number(raw[key]) else f"FIRSTPROMOTER['{key}'] is {raw[key]!r}."
        ),
        f"Give a number above zero; the default is {DEFAULTS[key]}.",
        sends=True,
    )


def is_list_of_names(value: Any) -> bool:
    return isinstance(value, (list, tuple, set, frozenset)) and all(
        isinstance(name, str) for name in value
    )


def _names(key: str) -> Rule:
    # A lone string would be taken letter by letter: "Refunded" as R, e, f...
    return Rule(
        "E102",
        key,
        lambda raw: (
            None
            if is_list_of_names(raw[key])
            else f"FIRSTPROMOTER['{key}'] is {raw[key]!r}, not a list of names."
        ),
        f"Give a list or tuple of strings, e.g. {list(DEFAULTS[key])!r}; [] for none.",
    )


def _limit_cache(raw: dict[str, Any]) -> tuple[str, int, type] | None:
    """The cache alias, limit and cache class ``RATE_LIMIT`` would be kept with, when a
    limit is set in a named cache whose class imports; None otherwise. Without an
    alias the slots are in the database, which every sender shares."""
    limit, alias = rate_limit_setting(raw), raw["RATE_LIMIT_CACHE"]
    if not limit or alias is None or not is_rate_limit(limit) or not is_rate_limit_cache(alias):
        return None
    try:
        # The class, not a connection: a check should not need the cache's client library.
        backend = import_string(settings.CACHES[alias].get("BACKEND", ""))
    except ImportError:
        return None  # The cache itself fails to load, which is reported where it is used.
    return alias, limit, backend


def _cache_stores_nothing(raw: dict[str, Any]) -> str | None:
    found = _limit_cache(raw)
    if found is None or not issubclass(found[2], DummyCache):
        return None
    return f"The cache {found[0]!r} stores nothing, so FIRSTPROMOTER['RATE_LIMIT'] limits nothing."


def _cache_not_shared(raw: dict[str, Any]) -> str | None:
    # Every web process sends on commit and each worker is a process of its own: with
    # a limit set, calls always may come from several processes.
    found = _limit_cache(raw)
    if found is None:
        return None
    alias, limit, backend = found
    if issubclass(backend, LocMemCache):
        why = "keeps its slots in each process"
    elif issubclass(backend, FileBasedCache):
        why = "cannot give a slot to one process atomically"
    else:
        return None
    return (
        f"The cache {alias!r} {why}, so senders in several processes together can go "
        f"over FIRSTPROMOTER['RATE_LIMIT'] ({limit} a minute)."
    )


SHARED_CACHE = (
    "Leave RATE_LIMIT_CACHE out to keep the slots in the database, or point it at a "
    "cache every process shares: Redis, Memcached or "
)
WEBHOOK_SECRET_HINT = (
    "Generate one, e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))', "
    "read it from the environment, and give FirstPromoter's webhook subscription the "
    "header Authorization: Bearer <that secret>."
)
CREDENTIAL_HINT = (
    "Copy it again from FirstPromoter (Settings → Integrations). Read from a "
    "file or a command's output, it may end in a newline: strip it."
)

RULES: tuple[Rule, ...] = (
    Rule(
        "E003",
        "API_VERSION",
        _when(
            lambda raw: not is_api_version(raw["API_VERSION"]),
            "FIRSTPROMOTER['API_VERSION'] is {API_VERSION!r}.",
        ),
        "Use 2 (the current API) or 1 (legacy), as an int.",
        sends=True,
    ),
    Rule(
        "E001",
        "API_KEY",
        _when(lambda raw: is_unset(raw["API_KEY"]), "FIRSTPROMOTER['API_KEY'] is not set."),
        "Copy it from FirstPromoter: Settings → Integrations → Manage API Keys. "
        "Read it from the environment, not from the source.",
        sends=True,
    ),
    Rule(
        "E002",
        "ACCOUNT_ID",
        _when(
            lambda raw: raw["API_VERSION"] == 2 and is_unset(raw["ACCOUNT_ID"]),
            "FIRSTPROMOTER['ACCOUNT_ID'] is required by API version 2.",
        ),
        "Copy it from FirstPromoter: Settings → Integrations, "
        "or set 'API_VERSION': 1 for the legacy API.",
        sends=True,
    ),
    Rule("E016", "API_KEY", _credential("API_KEY"), CREDENTIAL_HINT, sends=True),
    Rule("E017", "ACCOUNT_ID", _credential("ACCOUNT_ID"), CREDENTIAL_HINT, sends=True),
    Rule(
        "E004",
        "DELIVERY",
        _when(
            lambda raw: raw["DELIVERY"] not in DELIVERY_MODES,
            "FIRSTPROMOTER['DELIVERY'] is {DELIVERY!r}.",
        ),
        "Use 'on_commit' (send right after the transaction commits), "
        "'worker' (only manage.py firstpromoter_deliver sends) or "
        "'task' (a worker of Django's Tasks framework sends).",
        sends=True,
    ),
    # Whether ENQUEUE imports is checks.py's (E021): importing the shop's code here
    # would run it on every read of the settings.
    Rule(
        "W005",
        "ENQUEUE",
        _when(
            lambda raw: bool(raw["ENQUEUE"]) and raw["DELIVERY"] != "task",
            "FIRSTPROMOTER['ENQUEUE'] is set but DELIVERY is {DELIVERY!r}, so nothing calls it.",
        ),
        "Set 'DELIVERY': 'task' to queue every record through it, or leave ENQUEUE out.",
        level=checks.Warning,
    ),
    *(_number(key) for key in NUMBERS),
    Rule(
        "E010",
        "RATE_LIMIT",
        lambda raw: (
            None
            if is_rate_limit(limit := rate_limit_setting(raw))
            else f"FIRSTPROMOTER['RATE_LIMIT'] is {limit!r}."
        ),
        "Give FirstPromoter calls a minute as an int of 2 or more (the default is "
        "380 with API version 2), or None for no limit.",
        sends=True,
    ),
    Rule(
        "E011",
        "RATE_LIMIT_CACHE",
        _when(
            lambda raw: not is_rate_limit_cache(raw["RATE_LIMIT_CACHE"]),
            "FIRSTPROMOTER['RATE_LIMIT_CACHE'] {RATE_LIMIT_CACHE!r} is not a cache in CACHES.",
        ),
        "Name one of the CACHES aliases, or leave it out to keep the slots in the database.",
        sends=True,
    ),
    # Not an Error: DummyCache is how many projects turn caching off in development,
    # and the limit is on by default with API version 2.
    Rule(
        "W003",
        "RATE_LIMIT_CACHE",
        _cache_stores_nothing,
        SHARED_CACHE + "the database cache; or set 'RATE_LIMIT': None to say so.",
        level=checks.Warning,
    ),
    Rule(
        "W002",
        "RATE_LIMIT_CACHE",
        _cache_not_shared,
        SHARED_CACHE + "the database cache.",
        level=checks.Warning,
    ),
    Rule(
        "E018",
        "EVENT_ID_PREFIX",
        _when(
            lambda raw: not is_event_id_prefix(raw["EVENT_ID_PREFIX"]),
            "FIRSTPROMOTER['EVENT_ID_PREFIX'] is {EVENT_ID_PREFIX!r}.",
        ),
        "Give a string of up to 64 letters, digits and . _ : ~ -, such as 'shop1-', or '' "
        "for none. Set it before the first sale: FirstPromoter takes an event id sent "
        "with another prefix for a new event.",
        sends=True,
    ),
    Rule(
        "E008",
        "ORDER_MODEL",
        _when(
            lambda raw: bool(raw["ORDER_MODEL"]) and not raw["SALE_FROM_ORDER"],
            "FIRSTPROMOTER['ORDER_MODEL'] is set but 'SALE_FROM_ORDER' is not.",
        ),
        "Point it at a callable(order) -> SaleData | None.",
    ),
    # The secrets' values are never put in a message: they are credentials. Unset ones
    # are the webhook route's concern (checks.W004).
    Rule(
        "E015",
        "WEBHOOK_SECRET",
        sensitive_variables("raw")(
            _when(
                lambda raw: not all(map(is_webhook_secret, secrets_of(raw["WEBHOOK_SECRET"]))),
                "FIRSTPROMOTER['WEBHOOK_SECRET'] is not a string (or a list of strings) of at "
                "least 16 visible ASCII characters (no spaces), so the webhook refuses every "
                "delivery.",
            )
        ),
        WEBHOOK_SECRET_HINT,
    ),
    # Whether OSCAR_AMOUNT imports is contrib.oscar's own check (it needs the registry).
    Rule(
        "E101",
        "OSCAR_AMOUNT",
        _when(
            lambda raw: not isinstance(raw["OSCAR_AMOUNT"], str) or not raw["OSCAR_AMOUNT"],
            "FIRSTPROMOTER['OSCAR_AMOUNT'] is {OSCAR_AMOUNT!r}, not a dotted path.",
        ),
        "Point it at a callable(order) -> Decimal, or leave it out for the default, "
        "django_firstpromoter.contrib.oscar.amounts.before_tax.",
    ),
    *(_names("OSCAR_REFUND_STATUSES"), _names("OSCAR_REFUND_EVENT_TYPES")),
    Rule(
        "E019",
        "WEBHOOK_BASIC_AUTH",
        sensitive_variables("raw")(
            _when(
                lambda raw: (
                    not all(map(is_basic_credentials, secrets_of(raw["WEBHOOK_BASIC_AUTH"])))
                ),
                "FIRSTPROMOTER['WEBHOOK_BASIC_AUTH'] is not \"user:password\" (or a list of "
                "them) with a password of at least 16 visible ASCII characters, so the "
                "webhook refuses every delivery.",
            )
        ),
        "Give FirstPromoter's webhook subscription a Basic auth user and a password made "
        'like a WEBHOOK_SECRET, and set the two here as "user:password".',
    ),
    Rule(
        "E020",
        "WEBHOOK_SIGNING_KEY",
        sensitive_variables("raw")(
            _when(
                lambda raw: not all(map(is_webhook_secret, secrets_of(raw["WEBHOOK_SIGNING_KEY"]))),
                "FIRSTPROMOTER['WEBHOOK_SIGNING_KEY'] is not a string (or a list of strings) "
                "of at least 16 visible ASCII characters, so the webhook refuses every "
                "delivery.",
            )
        ),
        "Copy the subscription's secret key from FirstPromoter, or leave it out: "
        "FirstPromoter's current webhook pages document no signature.",
    ),
    Rule(
        "W001",
        "FIRSTPROMOTER",
        lambda raw: (
            f"FIRSTPROMOTER has unknown keys: {', '.join(unknown)}."
            if (unknown := sorted(map(str, set(raw) - set(DEFAULTS))))
            else None
        ),
        f"Known keys: {', '.join(DEFAULTS)}.",
        level=checks.Warning,
    ),
)


@sensitive_variables("raw")
def settings_problems() -> list[checks.CheckMessage]:
    """Every ``RULES`` problem of the settings as they are now, for ``manage.py check``."""
    try:
        raw = raw_settings()
    except ImproperlyConfigured as exc:
        return [
            checks.Error(str(exc), hint="FIRSTPROMOTER = {'API_KEY': ...}", id="firstpromoter.E007")
        ]
    return [message for rule in RULES if (message := rule.check(raw)) is not None]


@sensitive_variables("user")
def raw_settings() -> dict[str, Any]:
    """The user's dict merged over the defaults, unchecked (for system checks)."""
    user = getattr(settings, "FIRSTPROMOTER", None) or {}
    if not isinstance(user, dict):
        raise ImproperlyConfigured("FIRSTPROMOTER must be a dict.")
    return {**DEFAULTS, **user}


@dataclass(frozen=True)
class WebhookCredentials:
    """What the webhook view accepts: ``WEBHOOK_SECRET``'s bearer tokens,
    ``WEBHOOK_BASIC_AUTH``'s ``"user:password"`` pairs and ``WEBHOOK_SIGNING_KEY``'s
    keys, each a tuple (several while one is rotated). Out of the repr, as
    ``Config``'s credentials are."""

    bearer: tuple[str, ...] = field(repr=False)
    basic: tuple[str, ...] = field(repr=False)
    signing: tuple[str, ...] = field(repr=False)
    broken: bool
    """One of them is set wrong (E015, E019, E020): every delivery is refused rather
    than one accepted that proves nothing."""


@sensitive_variables("raw")
def webhook_credentials() -> WebhookCredentials:
    raw = raw_settings()
    given = {
        "bearer": (secrets_of(raw["WEBHOOK_SECRET"]), is_webhook_secret),
        "basic": (secrets_of(raw["WEBHOOK_BASIC_AUTH"]), is_basic_credentials),
        "signing": (secrets_of(raw["WEBHOOK_SIGNING_KEY"]), is_webhook_secret),
    }
    broken = not all(all(map(valid, values)) for values, valid in given.values())
    return WebhookCredentials(
        **{kind: () if broken else tuple(values) for kind, (values, _) in given.items()},
        broken=broken,
    )


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
    enqueue: str | None
    order_model: str | None
    sale_from_order: str | None
    refund_from_order: str | None
    signup_on_user_created: bool
    rate_limit: int | None
    rate_limit_cache: str | None
    event_id_prefix: str

    @property
    def lease_seconds(self) -> float:
        """How long a claimed record may stay in ``sending`` before another sender
        may take it over: a few request timeouts, so a live sender is never
        overtaken but a dead one does not hold the record for long."""
        return max(5 * self.timeout, 30.0)


_checked: list[tuple[dict[str, Any], Config]] = []
"""The one ``Config`` made from the user's dict as it was then (a copy), kept because
every order save asks for it, and checking every rule each time cost more than the
sale's row. It is made again when the dict differs from that copy (so a dict
changed in place is seen too) and after any setting changes (``forget_config``,
connected in ``apps``): whether a rule holds may depend on another setting, such as
``RATE_LIMIT_CACHE`` on ``CACHES``."""


def forget_config(**kwargs: Any) -> None:
    _checked.clear()


def get_config() -> Config:
    """The validated settings; raises ImproperlyConfigured for what cannot be sent with.

    The system checks report the same problems at start-up with ids and hints;
    this is the last line for code paths that run without them.
    """
    # The kept one, if the user's dict is still what it was made from. No local names
    # the settings here, and nothing raises out of this: the frames an error report
    # shows are those of _new_config, which star theirs out.
    try:
        if _checked[0][0] == getattr(settings, "FIRSTPROMOTER", None):
            return _checked[0][1]
    except Exception:  # none kept yet, or a value of the user's that cannot be compared
        pass
    return _new_config()


@sensitive_variables("user")
def _new_config() -> Config:
    user = getattr(settings, "FIRSTPROMOTER", None)
    config = _checked_config()
    if isinstance(user, dict):
        _checked[:] = [(dict(user), config)]
    return config


@sensitive_variables("raw")
def _checked_config() -> Config:
    # An error report made with DEBUG off (an error email) shows ``raw`` starred out.
    raw = raw_settings()
    for rule in RULES:
        if rule.sends and (message := rule.find(raw)):
            raise ImproperlyConfigured(f"{message} {rule.hint}")
    version = raw["API_VERSION"]
    rate_limit = rate_limit_setting(raw)
    return Config(
        api_key=raw["API_KEY"],
        account_id=raw["ACCOUNT_ID"] or "",
        api_version=version,
        base_url=(raw["BASE_URL"] or DEFAULT_BASE_URLS[version]).rstrip("/"),
        timeout=float(raw["TIMEOUT"]),
        max_attempts=int(raw["MAX_ATTEMPTS"]),
        retry_backoff=float(raw["RETRY_BACKOFF"]),
        delivery=raw["DELIVERY"],
        enqueue=raw["ENQUEUE"] or None,
        order_model=raw["ORDER_MODEL"],
        sale_from_order=raw["SALE_FROM_ORDER"],
        refund_from_order=raw["REFUND_FROM_ORDER"],
        signup_on_user_created=bool(raw["SIGNUP_ON_USER_CREATED"]),
        rate_limit=rate_limit or None,
        rate_limit_cache=raw["RATE_LIMIT_CACHE"],
        event_id_prefix=raw["EVENT_ID_PREFIX"],
    )
