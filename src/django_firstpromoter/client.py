"""The one HTTP call to FirstPromoter's tracking API: a pooled session, the timeout,
and every failure, no answer included, turned into an :class:`~protocol.Answer`.

What goes on the wire and what comes back means is ``protocol``'s. The credentials
go into headers only, and nothing here logs or returns them.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import requests
from django.views.decorators.debug import sensitive_variables

from django_firstpromoter import __version__
from django_firstpromoter.conf import Config
from django_firstpromoter.protocol import Answer, build_request, endpoint, interpret
from django_firstpromoter.statuses import AttemptOutcome

USER_AGENT = f"django-firstpromoter/{__version__}"

_session: requests.Session | None = None


def session() -> requests.Session:
    """One pooled session per process, so keep-alive connections are reused."""
    global _session
    if _session is None:
        _session = requests.Session()
        _session.headers["User-Agent"] = USER_AGENT
    return _session


@sensitive_variables()
def send(config: Config, call: str, params: dict[str, Any]) -> Answer:
    """Make the call; every failure, including no answer at all, becomes an Answer."""
    request = session().prepare_request(build_request(config, call, params))
    url = endpoint(config, call)
    started = time.monotonic()
    try:
        response = session().send(request, timeout=config.timeout, allow_redirects=False)
    except requests.Timeout:
        return Answer(AttemptOutcome.RETRY, url, error="timed out", duration_ms=_ms(started))
    except requests.RequestException as exc:
        return Answer(
            AttemptOutcome.RETRY,
            url,
            error=f"connection error: {type(exc).__name__}",
            duration_ms=_ms(started),
        )
    answer = interpret(response.status_code, response.headers, response.content, call)
    return replace(answer, url=url, duration_ms=_ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
