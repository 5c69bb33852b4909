"""Test settings: SQLite in a temporary file, or whatever DATABASE_URL names."""

import os
import tempfile
from typing import Any

import environ

env = environ.Env()

SECRET_KEY = "tests-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]

DATABASES = {"default": env.db("DATABASE_URL", default="sqlite://:memory:")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: the task worker that tests/test_tasks_worker.py starts is
    # another process, and it must see the test database. WAL lets it read while the
    # tests write; the test database is thrown away, so it need not survive a crash.
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"firstpromoter-tests-{os.getpid()}.sqlite3")
    }
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Worker processes started by a test share its limiter through CACHE_URL (Redis);
# the prefix keeps two test runs on one Redis from sharing a limit.
CACHES = {
    "default": {
        **env.cache("CACHE_URL", default="locmemcache://"),
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default=""),
    }
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_firstpromoter",
    # DELIVERY = "task" with a real worker (tests/test_tasks_worker.py).
    "django_tasks_db",
    "tests.shop",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "/static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

FIRSTPROMOTER = {
    "API_KEY": "test-api-key",
    "ACCOUNT_ID": "acc_test",
    "ORDER_MODEL": "shop.Order",
    "SALE_FROM_ORDER": "tests.shop.firstpromoter.sale_from_order",
    # Tests send as fast as they can; tests/test_ratelimit.py turns the limit on.
    "RATE_LIMIT": None,
    "WEBHOOK_SECRET": "test-webhook-secret-0123456789",
}

# contrib.celery on real workers (tests/test_engines.py), configured as the README
# says but for the sweep's period: every 10 s rather than a minute, so that the test
# sees a lost job recovered in seconds. The broker is Redis's database 7, which the
# engine test empties first.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/7")
CELERY_IMPORTS = ["django_firstpromoter.contrib.celery"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "django_firstpromoter.sweep": {"task": "django_firstpromoter.sweep", "schedule": 10.0}
}
