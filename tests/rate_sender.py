"""A sender in a process of its own, as a web process or a worker is, for
tests/test_ratelimit.py. A module apart, so that the new process imports no models
before Django is set up."""

from __future__ import annotations

import time
from typing import Any


def take_slots(
    caches: dict[str, Any], limit: int, window: float, count: int, ready: Any, results: Any
) -> None:
    """Once all senders are ``ready``, take ``count`` slots; put when each was granted on
    ``results``."""
    import django
    from django.conf import settings

    settings.configure(CACHES=caches)
    django.setup()
    from django_firstpromoter.ratelimit import RateLimiter

    limiter = RateLimiter(limit, "limits", window=window)
    ready.wait()
    times = []
    for _ in range(count):
        limiter.acquire()
        times.append(time.time())
    results.put(times)
