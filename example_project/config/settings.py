"""The example shop's settings: everything that differs between machines comes from
the environment or ``.env`` (see ``.env.example``), read with django-environ."""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY: the demo's key is for DEBUG only.")
    SECRET_KEY = "django-insecure-demo-only"
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_firstpromoter",
    "shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Who referred this visitor: fpr.js's cookies, or a referral link (?fpr=alice).
    "django_firstpromoter.middleware.ReferralMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# No CACHES, as the README's settings: the shop and its worker, separate processes,
# share FirstPromoter's rate limit through the database.

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"

# FirstPromoter. Without an API key the shop talks to the sandbox that
# `make demo` starts, so nothing is ever sent to FirstPromoter by accident.
FIRSTPROMOTER_API_VERSION = env.int("FIRSTPROMOTER_API_VERSION", default=2)
FIRSTPROMOTER_SANDBOX_URL = env.str("FIRSTPROMOTER_SANDBOX_URL", default="http://127.0.0.1:8765")
_api_key = env.str("FIRSTPROMOTER_API_KEY", default="")
_account_id = env.str("FIRSTPROMOTER_ACCOUNT_ID", default="")
USES_SANDBOX = not _api_key

FIRSTPROMOTER = {
    # The sandbox takes any key and account; FirstPromoter's are checked by `manage.py check`.
    "API_KEY": _api_key or "sandbox-api-key",
    "ACCOUNT_ID": _account_id or ("sandbox-account" if USES_SANDBOX else ""),
    "API_VERSION": FIRSTPROMOTER_API_VERSION,
    "CID": env.str("FIRSTPROMOTER_CID", default="") or None,
    "DELIVERY": env.str("FIRSTPROMOTER_DELIVERY", default="on_commit"),
    # Both ways the README shows: the pay view sends `order_paid`, and ORDER_MODEL
    # catches an order marked paid anywhere else (in the admin, say). One order is
    # one sale however many times it is reported: its event_id is the order's.
    "ORDER_MODEL": "shop.Order",
    "SALE_FROM_ORDER": "shop.firstpromoter.sale_from_order",
    # The shop's "Refund" button sends `order_refunded`; this says what was refunded.
    "REFUND_FROM_ORDER": "shop.firstpromoter.refund_from_order",
    # What FirstPromoter's webhook must send as "Authorization: Bearer <secret>".
    "WEBHOOK_SECRET": env.str("FIRSTPROMOTER_WEBHOOK_SECRET", default=""),
}
if USES_SANDBOX:
    FIRSTPROMOTER["BASE_URL"] = (
        f"{FIRSTPROMOTER_SANDBOX_URL.rstrip('/')}/api/v{FIRSTPROMOTER_API_VERSION}/track"
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_firstpromoter": {"handlers": ["console"], "level": "INFO"}},
}
