"""Django settings for one benchmark process: the test project (its apps, its
``shop.Order``, the README's order) on the database ``bench.section`` made for it."""

import environ

from tests.settings import *  # noqa: F403
from tests.settings import FIRSTPROMOTER as TEST_FIRSTPROMOTER

env = environ.Env()

DATABASES = {"default": env.db("BENCH_DATABASE_URL")}
CACHES = {
    "default": {
        **env.cache("BENCH_CACHE_URL", default="locmemcache://"),
        "KEY_PREFIX": env.str("BENCH_CACHE_KEY_PREFIX", default=""),
    }
}
# The outages make every send log a retry: the benchmark reports numbers, not those.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"django_firstpromoter": {"handlers": [], "level": "CRITICAL", "propagate": False}},
}
# The order hook is the benchmark's to switch on (bench.orders), case by case.
FIRSTPROMOTER = {
    **{key: value for key, value in TEST_FIRSTPROMOTER.items() if key != "ORDER_MODEL"},
    **env.json("BENCH_FIRSTPROMOTER", default={}),
}
