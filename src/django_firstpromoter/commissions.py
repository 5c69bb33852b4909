"""Commissions read and acted on through FirstPromoter's admin API: all the pages of a
search, approve and deny.

Every call takes a slot of the tracking calls' rate limiter first: FirstPromoter's
400 requests a minute are one budget per account, whichever API spends them. A
failed call raises :class:`AdminError`, carrying FirstPromoter's answer, for the
caller to report: these run in commands, the admin and the worker, never in a
buyer's request.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator
from typing import Any

from django_firstpromoter import client
from django_firstpromoter.conf import Config
from django_firstpromoter.protocol import (
    PER_PAGE,
    AdminAnswer,
    Commission,
    commission_query,
)
from django_firstpromoter.ratelimit import limiter_for

MAX_PAGES = 10_000
"""A million commissions: past it, a server that always answers a full page is not
listing anything new, and the loop must end."""


class AdminError(Exception):
    """An admin-API call that failed; ``answer`` says how, and whether to retry."""

    def __init__(self, answer: AdminAnswer) -> None:
        super().__init__(answer.error)
        self.answer = answer


def available(config: Config) -> bool:
    """Whether the admin API can be called: it needs the ``ACCOUNT_ID`` header, which
    a v1 account may leave out of its settings (its tracking calls do not use it)."""
    return bool(config.account_id)


def call(
    config: Config,
    method: str,
    path: str,
    params: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
) -> AdminAnswer:
    limiter_for(config).acquire()
    answer = client.admin(config, method, path, params, body)
    if not answer.ok:
        raise AdminError(answer)
    return answer


def pages(
    config: Config, start: int = 1, **query: Any
) -> Iterator[tuple[int, tuple[Commission, ...]]]:
    """Each page of ``GET /commissions`` for ``query`` (``protocol.commission_query``'s
    arguments), with its number, from page ``start`` until a page that is not full."""
    for page in range(start, MAX_PAGES + 1):
        found = call(config, "GET", "/commissions", commission_query(page=page, **query))
        yield page, found.commissions
        if len(found.commissions) < PER_PAGE:
            return


def listed(config: Config, **query: Any) -> list[Commission]:
    return [each for _, page in pages(config, **query) for each in page]


def for_event(config: Config, event_id: str) -> list[Commission]:
    """The commissions of one of our events, by its ``event_id`` as sent (with
    ``EVENT_ID_PREFIX``). ``q`` also matches a referral's email or uid, so only
    the commissions with exactly that id are kept."""
    sent = f"{config.event_id_prefix}{event_id}"
    return [each for each in listed(config, q=sent) if each.event_id == sent]


def by_ids(config: Config, ids: Iterable[int]) -> list[Commission]:
    ids = list(ids)
    found: list[Commission] = []
    for start in range(0, len(ids), PER_PAGE):
        found += listed(config, ids=ids[start : start + PER_PAGE])
    return found


def created_between(
    config: Config, since: datetime.date | None, until: datetime.date | None, start: int = 1
) -> Iterator[tuple[int, tuple[Commission, ...]]]:
    return pages(config, start, created_from=since, created_to=until)


def act(config: Config, action: str, ids: Iterable[int]) -> AdminAnswer:
    """``approve`` or ``deny`` the commissions ``ids``: ``batch_status`` is
    ``completed``, or, for more than ``AT_ONCE`` ids, FirstPromoter's batch status
    (``pending``): it works through them later."""
    if action not in ("approve", "deny"):
        raise ValueError(f"no such action: {action!r}")
    return call(config, "POST", f"/commissions/{action}", body={"ids": [int(i) for i in ids]})
