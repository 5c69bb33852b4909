"""A sender in a process of its own, as a web process or a worker is, for
tests/test_ratelimit.py. A module apart, so that the new process imports no models
before Django is set up."""

from __future__ import annotations

import time
from typing import Any


def take_slots(
    settings: dict[str, Any],
    alias: str | None,
    limit: int,
    window: float,
    count: int,
    ready: Any,
    results: Any,
) -> None:
    """Once all senders are ``ready``, take ``count`` slots through ``alias`` (None: the
    database) under Django ``settings``; put when each was granted on ``results``."""
    import django
    from django.conf import settings as django_settings

    django_settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django_firstpromoter"],
        USE_TZ=True,
        **settings,
    )
    django.setup()
    from django.db import connections

    from django_firstpromoter.ratelimit import RateLimiter

    limiter = RateLimiter(limit, alias, window=window)
    ready.wait()
    times: list[float] = []
    try:
        for _ in range(count):
            limiter.acquire()
            times.append(time.time())
    except Exception as exc:
        # Said to the test, which would otherwise wait for times that never come.
        results.put(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        connections.close_all()
    results.put(times)
