"""The HTTP calls to FirstPromoter: a pooled session, the timeout, and every failure,
no answer included, turned into an answer of ``protocol``'s: an
:class:`~protocol.Answer` for the tracking API, an :class:`~protocol.AdminAnswer`
for the admin API.

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
from django_firstpromoter.protocol import (
    AdminAnswer,
    Answer,
    build_admin_request,
    build_request,
    endpoint,
    interpret,
    interpret_admin,
)
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
def exchange(config: Config, request: requests.Request) -> requests.Response | str:
    """FirstPromoter's response, or why there was none ("timed out", "connection
    error: …")."""
    prepared = session().prepare_request(request)
    try:
        return session().send(prepared, timeout=config.timeout, allow_redirects=False)
    except requests.Timeout:
        return "timed out"
    except requests.RequestException as exc:
        return f"connection error: {type(exc).__name__}"


@sensitive_variables()
def send(config: Config, call: str, params: dict[str, Any]) -> Answer:
    """Make the call; every failure, including no answer at all, becomes an Answer."""
    url = endpoint(config, call)
    started = time.monotonic()
    response = exchange(config, build_request(config, call, params))
    if isinstance(response, str):
        return Answer(AttemptOutcome.RETRY, url, error=response, duration_ms=_ms(started))
    answer = interpret(response.status_code, response.headers, response.content, call)
    return replace(answer, url=url, duration_ms=_ms(started))


@sensitive_variables()
def admin(
    config: Config,
    method: str,
    path: str,
    params: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
) -> AdminAnswer:
    """One admin-API call (``commissions`` decides which); every failure an AdminAnswer."""
    request = build_admin_request(config, method, path, params, body)
    response = exchange(config, request)
    if isinstance(response, str):
        return AdminAnswer(False, url=request.url, error=response, retry=True)
    answer = interpret_admin(response.status_code, response.headers, response.content)
    return replace(answer, url=request.url)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
