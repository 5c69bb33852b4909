"""One call to FirstPromoter's tracking API, and what its answer means.

Pure: no database. ``delivery`` decides what an :class:`Answer` does to a row.
The credentials go into headers only, and nothing here logs or returns them.
"""

from __future__ import annotations

import datetime
import math
import time
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from django.views.decorators.debug import sensitive_variables

from django_firstpromoter import __version__
from django_firstpromoter.conf import Config
from django_firstpromoter.statuses import AttemptOutcome
from django_firstpromoter.storable import (
    as_utc,
    clean_int,
    clean_json,
    clean_text,
    in_range,
    parse_json,
    parse_moment,
)

USER_AGENT = f"django-firstpromoter/{__version__}"
BODY_CAP = 64 * 1024
MAX_RETRY_AFTER = 6 * 3600.0
# The tops of the columns an attempt's status and a reward's tier are kept in.
MAX_HTTP_STATUS = 32767
MAX_TIER = 32767

_session: requests.Session | None = None


def session() -> requests.Session:
    """One pooled session per process, so keep-alive connections are reused."""
    global _session
    if _session is None:
        _session = requests.Session()
        _session.headers["User-Agent"] = USER_AGENT
    return _session


@dataclass(frozen=True)
class RewardData:
    """A v1 ``reward`` or a v2 commission, flattened to the ``Reward`` columns."""

    firstpromoter_id: int | None
    status: str
    amount: int
    unit: str
    tier: int | None
    promoter_id: int | None
    promoter_email: str
    lead_id: int | None
    lead_email: str
    created_at: datetime.datetime | None
    raw: dict[str, Any]

    def model_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class Answer:
    outcome: AttemptOutcome
    url: str
    http_status: int | None = None
    body: str = ""
    error: str = ""
    rewards: tuple[RewardData, ...] = ()
    retry_after: float | None = None
    duration_ms: int = 0


def endpoint(config: Config, call: str) -> str:
    """The call's URL, without parameters: what an attempt records."""
    return f"{config.base_url}/{call}"


# Every local of these two, and of the HTTP library's frames below them, is starred
# out of an error report made with DEBUG off (an error email): those frames hold the
# credentials in their headers.
@sensitive_variables()
def build_request(config: Config, call: str, params: dict[str, Any]) -> requests.Request:
    url = endpoint(config, call)
    headers = {"Accept": "application/json"}
    if config.api_version == 1:
        headers["X-API-KEY"] = config.api_key
        return requests.Request("POST", url, headers=headers, params=params)
    headers["Authorization"] = f"Bearer {config.api_key}"
    headers["ACCOUNT-ID"] = config.account_id
    return requests.Request("POST", url, headers=headers, json=params)


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


FINAL_BY_CALL: dict[str, dict[int, AttemptOutcome]] = {
    # A signup's 404 means the visitor is unknown (nobody referred them) and its 422
    # that they are a lead already: both final, neither worth a retry.
    "signup": {404: AttemptOutcome.NOT_REFERRAL, 422: AttemptOutcome.DUPLICATE},
}


def interpret(status: int, headers: Any, content: bytes, call: str = "sale") -> Answer:
    """The answers table of the README, in one place.

    Whatever the answer holds, the Answer is storable (``storable``): text a database
    refuses is replaced, numbers and dates no column holds are left out, and JSON
    too deep is cut, so that settling it cannot fail and the sale cannot be stuck.
    """
    body = clean_text(content[:BODY_CAP].decode("utf-8", errors="replace"))
    data = parse_json(content)
    message = _message(data, body)

    def answer(outcome: AttemptOutcome, error: str = "", **extra: Any) -> Answer:
        stored_status = clean_int(status, 0, MAX_HTTP_STATUS)
        return Answer(outcome, "", http_status=stored_status, body=body, error=error, **extra)

    if status in FINAL_BY_CALL.get(call, {}):
        return answer(FINAL_BY_CALL[call][status])
    if status == 204:
        return answer(AttemptOutcome.NOT_REFERRAL)
    if 200 <= status < 300:
        if not isinstance(data, dict):
            return answer(AttemptOutcome.RETRY, f"HTTP {status} with an unreadable body")
        return answer(AttemptOutcome.TRACKED, rewards=_rewards(data))
    if status == 409:
        return answer(AttemptOutcome.DUPLICATE)
    if status == 404 and isinstance(data, dict) and data.get("code") == "not_found":
        return answer(AttemptOutcome.NOT_REFERRAL)
    if status in (401, 403, 404, 408, 429) or status >= 500 or status < 400:
        return answer(
            AttemptOutcome.RETRY,
            f"HTTP {status}: {message}" if message else f"HTTP {status}",
            retry_after=_retry_after(headers.get("Retry-After")),
        )
    return answer(AttemptOutcome.REJECTED, f"HTTP {status}: {message or 'rejected'}")


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _message(data: Any, body: str) -> str:
    if isinstance(data, dict):
        for key in ("message", "error", "errors"):
            if data.get(key):
                return clean_text(_shallow(data[key]), 1000)
    return body.strip()[:1000]


def _shallow(value: Any) -> str:
    """``str(value)``, which a list nested past the recursion limit cannot give."""
    try:
        return str(value)
    except RecursionError:
        return "(nested too deep)"


def _retry_after(value: Any) -> float | None:
    """``Retry-After`` in seconds, from zero to ``MAX_RETRY_AFTER``; None when it is
    neither a number nor an HTTP date (NaN included)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
            seconds = (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _rewards(data: dict[str, Any]) -> tuple[RewardData, ...]:
    # A v2 sale's answer lists ``commissions``; every other answer (v1's, and v2's to a
    # refund or a cancellation) has at most one ``reward``.
    if "commissions" not in data:
        reward = data.get("reward")
        if not isinstance(reward, dict):
            return ()
        lead = _dict(data.get("lead")) or _dict(reward.get("lead"))
        promoter = _dict(data.get("promoter"))
        return (_reward(reward, reward.get("tier_level"), promoter, lead),)
    lead = _dict(data.get("referral"))
    commissions = data.get("commissions")
    return tuple(
        _reward(
            item,
            item.get("tier"),
            _dict(_dict(item.get("promoter_campaign")).get("promoter")),
            lead,
        )
        for item in (commissions if isinstance(commissions, list) else [])
        if isinstance(item, dict)
    )


def _reward(
    item: dict[str, Any], tier: Any, promoter: dict[str, Any], lead: dict[str, Any]
) -> RewardData:
    return RewardData(
        firstpromoter_id=clean_int(item.get("id")),
        status=_str(item.get("status"), 64),
        amount=clean_int(item.get("amount")) or 0,
        unit=_str(item.get("unit"), 32),
        tier=clean_int(tier, 0, MAX_TIER),
        promoter_id=clean_int(promoter.get("id")),
        promoter_email=_str(promoter.get("email"), 254),
        lead_id=clean_int(lead.get("id")),
        lead_email=_str(lead.get("email"), 254),
        created_at=_moment(item.get("created_at")),
        raw=clean_json(item),
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any, limit: int) -> str:
    return "" if value is None else clean_text(_shallow(value), limit)


def _moment(value: Any) -> datetime.datetime | None:
    moment = parse_moment(value)
    return as_utc(moment) if moment is not None and in_range(moment) else None
