"""FirstPromoter's tracking API as the wire sees it: for each call, its parameters per
API version and the answers that are final for it; the credentials' headers; and
what an answer means, rewards included. Then its admin API's commissions: the
queries, the requests and what their answers mean. Compare this file with the
vendored specs (``tests/specs/openapi-v1-tracking.json``, ``openapi-v2-tracking.json``,
``openapi-v2-commissions.json``).

Pure: no database and no settings. ``client`` makes the call, ``delivery`` decides
what an :class:`Answer` does to a row.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import requests
from django.views.decorators.debug import sensitive_variables

from django_firstpromoter.statuses import AttemptOutcome
from django_firstpromoter.storable import (
    clean_int,
    clean_json,
    clean_text,
    parse_json,
    storable_moment,
)

if TYPE_CHECKING:
    from django_firstpromoter.conf import Config

DEFAULT_BASE_URLS = {
    2: "https://api.firstpromoter.com/api/v2/track",
    1: "https://firstpromoter.com/api/v1/track",
}
API_VERSIONS = tuple(DEFAULT_BASE_URLS)
BODY_CAP = 64 * 1024
MAX_DELAY = 6 * 3600.0
"""The longest wait between two attempts: the cap of a ``Retry-After`` and of the
backoff alike."""
# The tops of the columns an attempt's status and a reward's tier are kept in.
MAX_HTTP_STATUS = 32767
MAX_TIER = 32767


# The request parameters of each call. ``record`` is the row being sent (a Sale, a
# Refund, a Cancellation, a Signup): only its fields are read.


def sale_params(record: Any, api_version: int) -> dict[str, Any]:
    # v2: amount and quantity integers, mrr a string, and none of the v1-only extras.
    params: dict[str, Any] = {"event_id": record.event_id, "amount": record.amount_minor}
    params.update(_present(record, "email", "uid", "plan", "promo_code", "tid", "ref_id"))
    params.update(_present(record, "currency"))
    if record.quantity is not None:
        params["quantity"] = record.quantity
    if record.mrr_minor is not None:
        params["mrr"] = str(record.mrr_minor)
    if record.skip_email_notification:
        params["skip_email_notification"] = True
    if api_version == 2:
        return params
    # v1 declares every parameter in the query string, and takes the extras.
    params = {key: str(value) for key, value in params.items()}
    if record.skip_email_notification:
        params["skip_email_notification"] = "true"
    if record.created_at is not None:
        params["created_at"] = record.created_at.isoformat()
    params.update(_present(record, "subscription_id"))
    for name in ("start_recurring_reward_in", "recurring_reward_frequency", "max_recurring"):
        if (value := getattr(record, name)) is not None:
            params[name] = str(value)
    if record.ecom_sale is not None:
        params["ecom_sale"] = "true" if record.ecom_sale else "false"
    return params


def refund_params(record: Any, api_version: int) -> dict[str, Any]:
    # Both specs declare the refund's amount and quantity as strings.
    params: dict[str, Any] = {"event_id": record.event_id, "amount": str(record.amount_minor)}
    params.update(_present(record, "email", "uid", "currency", "sale_event_id"))
    if record.quantity is not None:
        params["quantity"] = str(record.quantity)
    if record.skip_email_notification:
        params["skip_email_notification"] = "true" if api_version == 1 else True
    if api_version == 1 and record.created_at is not None:
        params["created_at"] = record.created_at.isoformat()
    return params


def cancellation_params(record: Any, api_version: int) -> dict[str, Any]:
    params = _present(record, "email", "uid")
    if api_version == 1:
        # Only v1 takes an event id for a cancellation.
        params["event_id"] = record.event_id
    return params


def signup_params(record: Any, api_version: int) -> dict[str, Any]:
    return _present(record, "email", "uid", "tid", "ref_id")


def _present(record: Any, *names: str) -> dict[str, Any]:
    """The named fields that are set: the specs want an empty one left out."""
    return {name: value for name in names if (value := getattr(record, name))}


@dataclass(frozen=True)
class Call:
    """One tracking endpoint: ``POST {BASE_URL}/{name}``."""

    name: str
    params: Callable[[Any, int], dict[str, Any]]
    final: dict[int, AttemptOutcome] = field(default_factory=dict)
    """Statuses whose meaning for this call differs from the table in ``interpret``."""


CALLS = {
    call.name: call
    for call in (
        Call("sale", sale_params),
        Call("refund", refund_params),
        Call("cancellation", cancellation_params),
        # A signup's 404 means the visitor is unknown (nobody referred them) and its 422
        # that they are a lead already: both final, neither worth a retry.
        Call(
            "signup",
            signup_params,
            final={404: AttemptOutcome.NOT_REFERRAL, 422: AttemptOutcome.DUPLICATE},
        ),
    )
}


EVENT_ID_PARAMS = ("event_id", "sale_event_id")
"""The parameters that name an event at FirstPromoter: ``EVENT_ID_PREFIX`` goes before
each, so that several shops (or staging and production) on one account never send
the same id."""


def request_params(
    call: str, record: Any, api_version: int, event_id_prefix: str = ""
) -> dict[str, Any]:
    """The call's parameters for ``record``, typed the way that API version's spec
    declares them, its event ids behind ``event_id_prefix``."""
    params = CALLS[call].params(record, api_version)
    for name in EVENT_ID_PARAMS:
        if event_id_prefix and name in params:
            params[name] = f"{event_id_prefix}{params[name]}"
    return params


def endpoint(config: Config, call: str) -> str:
    """The call's URL, without parameters: what an attempt records."""
    return f"{config.base_url}/{call}"


# Every local of this, and of the HTTP library's frames below it, is starred out of
# an error report made with DEBUG off (an error email): they hold the credentials.
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
    rewards_unknown: bool = False
    """Counted, but the answer does not say which rewards: a 409 (FirstPromoter had
    the event: an earlier answer was lost), or a 200 whose rewards are unreadable."""


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

    final = CALLS[call].final
    if status in final:
        return answer(final[status])
    if status == 204:
        return answer(AttemptOutcome.NOT_REFERRAL)
    if 200 <= status < 300:
        if not isinstance(data, dict):
            return answer(AttemptOutcome.RETRY, f"HTTP {status} with an unreadable body")
        rewards, unreadable = _rewards(data)
        return answer(AttemptOutcome.TRACKED, rewards=rewards, rewards_unknown=unreadable)
    if status == 409:
        return answer(AttemptOutcome.DUPLICATE, rewards_unknown=True)
    if status == 404 and isinstance(data, dict) and data.get("code") == "not_found":
        return answer(AttemptOutcome.NOT_REFERRAL)
    if status in (401, 403, 404, 408, 429) or status >= 500 or status < 400:
        return answer(
            AttemptOutcome.RETRY,
            f"HTTP {status}: {message}" if message else f"HTTP {status}",
            retry_after=_retry_after(headers.get("Retry-After")),
        )
    return answer(AttemptOutcome.REJECTED, f"HTTP {status}: {message or 'rejected'}")


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
    """``Retry-After`` in seconds, from zero to ``MAX_DELAY``; None when it is neither
    a number nor an HTTP date (NaN included)."""
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
    return min(max(seconds, 0.0), MAX_DELAY)


def _rewards(data: dict[str, Any]) -> tuple[tuple[RewardData, ...], bool]:
    """The answer's rewards, and whether some could not be read (not an object, or
    a list that is no list): those are looked up later by event id."""
    # A v2 sale's answer lists ``commissions``; every other answer (v1's, and v2's to a
    # refund or a cancellation) has at most one ``reward``.
    if "commissions" not in data:
        reward = data.get("reward")
        if not isinstance(reward, dict):
            return (), reward is not None
        lead = _dict(data.get("lead")) or _dict(reward.get("lead"))
        promoter = _dict(data.get("promoter"))
        return (_reward(reward, reward.get("tier_level"), promoter, lead),), False
    lead = _dict(data.get("referral"))
    commissions = data.get("commissions")
    items = commissions if isinstance(commissions, list) else []
    rewards = tuple(
        _reward(
            item,
            item.get("tier"),
            _dict(_dict(item.get("promoter_campaign")).get("promoter")),
            lead,
        )
        for item in items
        if isinstance(item, dict)
    )
    return rewards, len(rewards) < len(items) or not isinstance(commissions, list)


def _reward(
    item: dict[str, Any], tier: Any, promoter: dict[str, Any], lead: dict[str, Any]
) -> RewardData:
    try:
        created_at = storable_moment(item.get("created_at"))
    except ValueError:  # out of range: left out, the raw answer keeps it
        created_at = None
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
        created_at=created_at,
        raw=clean_json(item),
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any, limit: int) -> str:
    return "" if value is None else clean_text(_shallow(value), limit)


# FirstPromoter's admin ("company") API, v2 only: the commissions behind the rewards,
# looked up when an answer did not carry them and kept true after. Compare with
# ``tests/specs/openapi-v2-commissions.json``.

ADMIN_BASE_URL = "https://api.firstpromoter.com/api/v2/company"
PER_PAGE = 100
"""The most commissions FirstPromoter lists on one page."""
AT_ONCE = 5
"""Approving or denying more ids than this is a batch FirstPromoter answers 202 to
and works through later."""
_TRACKING_PATH = re.compile(r"(?P<root>.*)/api/v[12]/track")


def admin_base_url(tracking_base_url: str) -> str:
    """The admin API beside the tracking API a shop set (a sandbox, a proxy):
    ``…/api/v1/track`` or ``…/api/v2/track`` → ``…/api/v2/company``. FirstPromoter's
    own v1 host has no admin API: its accounts use v2's, with their ``ACCOUNT_ID``."""
    match = _TRACKING_PATH.fullmatch(tracking_base_url)
    if match is None or tracking_base_url in DEFAULT_BASE_URLS.values():
        return ADMIN_BASE_URL
    return f"{match['root']}/api/v2/company"


def commission_query(
    *,
    q: str = "",
    ids: Iterable[int] = (),
    status: str = "",
    created_from: datetime.date | None = None,
    created_to: datetime.date | None = None,
    page: int = 1,
) -> dict[str, Any]:
    """``GET /commissions``'s query: a search (``q`` matches an ``event_id``), ids, or a
    creation period, a full page at a time. Filters go as Rails reads them
    (``filters[status]``), as FirstPromoter's own examples send them."""
    params: dict[str, Any] = {"page": page, "per_page": PER_PAGE}
    if q:
        params["q"] = q
    if ids := [int(each) for each in ids]:
        params["ids[]"] = ids
    if status:
        params["filters[status]"] = status
    if created_from is not None:
        params["filters[created_at][from]"] = created_from.isoformat()
    if created_to is not None:
        params["filters[created_at][to]"] = created_to.isoformat()
    return params


@sensitive_variables()
def build_admin_request(
    config: Config,
    method: str,
    path: str,
    params: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
) -> requests.Request:
    headers = {
        "Accept": "application/json",
        "Authorization": f"Bearer {config.api_key}",
        "ACCOUNT-ID": config.account_id,
    }
    url = f"{admin_base_url(config.base_url)}{path}"
    return requests.Request(method, url, headers=headers, params=params, json=body)


@dataclass(frozen=True)
class Commission:
    """A commission as the admin API lists it: the ``Reward`` columns, and what only
    the admin API says (the sale's ``event_id``, whether it is paid, when its status
    last changed)."""

    reward: RewardData
    event_id: str
    is_paid: bool | None
    status_updated_at: datetime.datetime | None

    def model_fields(self) -> dict[str, Any]:
        fields = self.reward.model_fields()
        fields["status_updated_at"] = self.status_updated_at
        if self.status_updated_at is not None:
            # What the commission is now is as of its last change: a webhook event from
            # before it, still to be applied, must not undo it (webhooks.apply_commission).
            fields["firstpromoter_updated_at"] = self.status_updated_at
        if self.is_paid is not None:
            fields["paid"] = self.is_paid
        return fields


@dataclass(frozen=True)
class AdminAnswer:
    """What one admin-API call came to: ``ok`` (a 2xx FirstPromoter understood), or an
    ``error`` and whether a later try may go better (``retry``)."""

    ok: bool
    url: str = ""
    http_status: int | None = None
    error: str = ""
    retry: bool = False
    retry_after: float | None = None
    commissions: tuple[Commission, ...] = ()
    batch_status: str = ""
    """``approve``/``deny``: ``completed`` (done), or ``pending``/``in_progress`` for a
    batch of more than ``AT_ONCE`` ids that FirstPromoter works through later."""


def interpret_admin(status: int, headers: Any, content: bytes) -> AdminAnswer:
    """An admin-API answer, read as the tracking answers are: 429, 5xx and the other
    passing failures worth a retry (``Retry-After`` honoured), other 4xx refused,
    and a 2xx whose body is not what the spec declares an error to retry."""
    data = parse_json(content)
    http_status = clean_int(status, 0, MAX_HTTP_STATUS)
    if 200 <= status < 300:
        if isinstance(data, list):
            found = tuple(_commission(item) for item in data if isinstance(item, dict))
            return AdminAnswer(True, http_status=http_status, commissions=found)
        if isinstance(data, dict):
            return AdminAnswer(
                True, http_status=http_status, batch_status=_str(data.get("status"), 32)
            )
        return AdminAnswer(
            False,
            http_status=http_status,
            error=f"HTTP {status} with an unreadable body",
            retry=True,
        )
    body = clean_text(content[:BODY_CAP].decode("utf-8", errors="replace"))
    message = _message(data, body)
    error = f"HTTP {status}: {message}" if message else f"HTTP {status}"
    passing = status in (401, 403, 404, 408, 429) or status >= 500 or status < 400
    return AdminAnswer(
        False,
        http_status=http_status,
        error=error,
        retry=passing,
        retry_after=_retry_after(headers.get("Retry-After")) if passing else None,
    )


def _commission(item: dict[str, Any]) -> Commission:
    promoter = _dict(_dict(item.get("promoter_campaign")).get("promoter"))
    reward = _reward(item, item.get("tier"), promoter, _dict(item.get("referral")))
    try:
        status_updated_at = storable_moment(item.get("status_updated_at"))
    except ValueError:
        status_updated_at = None
    paid = item.get("is_paid")
    return Commission(
        reward=reward,
        event_id=_str(item.get("event_id"), 255),
        is_paid=paid if isinstance(paid, bool) else None,
        status_updated_at=status_updated_at,
    )
