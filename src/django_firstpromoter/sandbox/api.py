"""FirstPromoter's tracking calls as its specs describe them: parameters, checks, answers.

What differs between the versions lives here: how parameters arrive (v1 as
key/value pairs in the query string or a form body, v2 as a JSON object), how
strictly they are typed (v1 values are all strings), and how "not a referral"
is said (v1 204, v2 404 with ``"code": "not_found"``). What a call does to the
account is the same in both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import parse_qs

from django_firstpromoter.sandbox import shapes
from django_firstpromoter.sandbox.world import Commission, Event, Lead, Promoter, World, now_iso

CALLS = ("sale", "refund", "cancellation", "signup")
DEFAULT_CURRENCY = "USD"

AMOUNT_INVALID = "Error. Amount blank or invalid."
CUSTOMER_BLANK = "Error. Email and uid can not be blank!"
EVENT_ID_BLANK = "Error. Event id can not be blank!"
NOT_JSON = "Error. The request body must be a JSON object."
NOT_FOUND = "Referral corresponding to email or uid parameter not found or promoter is banned."
VISITOR_INVALID = (
    "Visitor  invalid, not found or you are trying to use the signup tracking test via API "
    "which doesn't work on API calls."
)
ALREADY_SIGNED_UP = "there is already a signup event registered on this lead"

STRING = "string"
INTEGER = "integer"
# An integer the v2 spec declares as a string (the refund's amount and quantity):
# FirstPromoter takes it either way.
NUMERIC = "numeric"
BOOLEAN = "boolean"

# The parameters each call checks, typed as the v2 spec declares them; any
# other parameter is accepted and ignored, as FirstPromoter does.
FIELDS: dict[str, dict[str, str]] = {
    "sale": {
        "email": STRING,
        "uid": STRING,
        "event_id": STRING,
        "amount": INTEGER,
        "quantity": INTEGER,
        "plan": STRING,
        "currency": STRING,
        "mrr": STRING,
        "promo_code": STRING,
        "tid": STRING,
        "ref_id": STRING,
        "skip_email_notification": BOOLEAN,
    },
    "refund": {
        "email": STRING,
        "uid": STRING,
        "event_id": STRING,
        "amount": NUMERIC,
        "currency": STRING,
        "quantity": NUMERIC,
        "sale_event_id": STRING,
        "skip_email_notification": BOOLEAN,
    },
    "cancellation": {"email": STRING, "uid": STRING},
    "signup": {
        "email": STRING,
        "uid": STRING,
        "tid": STRING,
        "ref_id": STRING,
        "ip": STRING,
        "created_at": STRING,
        "skip_email_notification": BOOLEAN,
    },
}
# Typed parameters only the v1 spec declares; v2 ignores them.
V1_FIELDS: dict[str, dict[str, str]] = {
    "sale": {
        "start_recurring_reward_in": INTEGER,
        "recurring_reward_frequency": INTEGER,
        "max_recurring": INTEGER,
        "ecom_sale": BOOLEAN,
    },
    "refund": {"ecom_refund": BOOLEAN},
    "cancellation": {"skip_email_notification": BOOLEAN},
    "signup": {"override_existing_lead": BOOLEAN},
}
DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


class BadRequest(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def reply(self) -> Reply:
        return Reply(400, {"message": self.message})


def parse(api_version: int, query: str, content_type: str, body: bytes) -> dict[str, Any]:
    """The call's parameters as sent; BadRequest for a v2 body that is not a JSON object."""
    if api_version == 1:
        params = {}
        if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            params.update(pairs(body.decode("utf-8", errors="replace")))
        # The spec puts them in the query string; there they win.
        params.update(pairs(query))
        return params
    try:
        data = json.loads(body)
    except ValueError:
        raise BadRequest(NOT_JSON) from None
    if not isinstance(data, dict):
        raise BadRequest(NOT_JSON)
    return data


def pairs(text: str) -> dict[str, str]:
    """A form's or query string's fields, the first of each name; blank ones kept, so
    that an emptied field is refused instead of quietly ignored."""
    return {key: values[0] for key, values in parse_qs(text, keep_blank_values=True).items()}


def track(world: World, api_version: int, call: str, params: dict[str, Any]) -> Reply:
    handler = HANDLERS[call]
    try:
        typed = _typed(api_version, call, params)
        # One lock for the whole call: two senders of one event_id must not both
        # find it new.
        with world.lock:
            return handler(world, api_version, typed)
    except BadRequest as exc:
        return exc.reply()


def _typed(api_version: int, call: str, params: dict[str, Any]) -> dict[str, Any]:
    fields = FIELDS[call] if api_version == 2 else {**FIELDS[call], **V1_FIELDS[call]}
    typed: dict[str, Any] = {}
    for name, kind in fields.items():
        value = params.get(name)
        # A v2 null and an empty v1 number or flag say "not given".
        if value is None or (api_version == 1 and kind != STRING and value == ""):
            continue
        try:
            typed[name] = _coerce(api_version, kind, value)
        except ValueError:
            message = AMOUNT_INVALID if name == "amount" else f"Error. {name} is invalid."
            raise BadRequest(message) from None
    return typed


def _coerce(api_version: int, kind: str, value: Any) -> Any:
    if api_version == 1 or (kind == NUMERIC and isinstance(value, str)):
        value = _from_string(kind, value)
    if kind == STRING and isinstance(value, str):
        return value
    if kind == BOOLEAN and isinstance(value, bool):
        return value
    if kind in (INTEGER, NUMERIC) and type(value) is int and value >= 0:
        return value
    raise ValueError(value)


def _from_string(kind: str, value: str) -> Any:
    if kind in (INTEGER, NUMERIC) and DIGITS.fullmatch(value):
        return int(value)
    if kind == BOOLEAN and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _require_customer(params: dict[str, Any]) -> None:
    if not params.get("email", "").strip() and not params.get("uid", "").strip():
        raise BadRequest(CUSTOMER_BLANK)


def _require_money(params: dict[str, Any]) -> None:
    if "amount" not in params:
        raise BadRequest(AMOUNT_INVALID)
    if not params.get("event_id", "").strip():
        raise BadRequest(EVENT_ID_BLANK)
    _require_customer(params)


def _duplicate(call: str, event_id: str) -> Reply:
    return Reply(409, {"message": f"The '{call}' event with the id '{event_id}' already exists."})


def _not_a_referral(api_version: int) -> Reply:
    if api_version == 1:
        return Reply(204)
    return Reply(404, {"message": NOT_FOUND, "code": "not_found"})


def _referrer(world: World, params: dict[str, Any]) -> tuple[Promoter, str] | None:
    """Who referred a new customer, and by what (FirstPromoter prefers ``tid``).
    A banned promoter refers nobody."""
    lookups: tuple[tuple[str, Callable[[str], Promoter | None]], ...] = (
        ("tid", world.clicked),
        ("ref_id", world.promoter),
        ("promo_code", world.promoter_by_code),
    )
    for source, lookup in lookups:
        value = params.get(source)
        promoter = lookup(value) if value else None
        if promoter is not None and not promoter.banned:
            return promoter, source
    return None


def _lead(world: World, params: dict[str, Any], *, create: bool) -> tuple[Lead, Promoter] | None:
    """The customer's lead and its promoter, or None when this is not a referral.

    With ``create``, a customer FirstPromoter has not seen becomes a lead of whoever
    its ``tid``, ``ref_id`` or ``promo_code`` names: a sale needs no signup first.
    """
    email, uid = params.get("email", ""), params.get("uid", "")
    lead = world.find_lead(email, uid)
    if lead is not None:
        return lead, world.promoter_of(lead)
    referrer = _referrer(world, params) if create else None
    if referrer is None:
        return None
    promoter, source = referrer
    return world.new_lead(email, uid, promoter, source), promoter


def commission(amount: int, rate: Decimal) -> int:
    """The promoter's share in minor units, rounded half up like the app's own amounts."""
    share = Decimal(amount) * rate / 100
    return int(share.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _credit(
    world: World,
    call: str,
    api_version: int,
    params: dict[str, Any],
    lead: Lead,
    promoter: Promoter,
) -> tuple[Event, Commission]:
    share = commission(params["amount"], promoter.commission_rate)
    event = Event(
        id=world.next_id(),
        type=call,
        event_id=params["event_id"],
        amount=params["amount"],
        currency=(params.get("currency") or DEFAULT_CURRENCY).upper(),
        email=lead.email or params.get("email", ""),
        uid=lead.uid or params.get("uid", ""),
        lead_id=lead.id,
        promoter=promoter.ref_id,
        commission=-share if call == "refund" else share,
        commission_id=world.next_id(),
        api_version=api_version,
        created_at=now_iso(),
        plan=params.get("plan", ""),
        sale_event_id=params.get("sale_event_id", ""),
    )
    return event, world.add_event(event, shapes.COMMISSION_STATUS, shapes.UNIT)


def _sale(world: World, api_version: int, params: dict[str, Any]) -> Reply:
    _require_money(params)
    if world.find_event("sale", params["event_id"]):
        return _duplicate("sale", params["event_id"])
    found = _lead(world, params, create=True)
    if found is None:
        return _not_a_referral(api_version)
    lead, promoter = found
    event, earned = _credit(world, "sale", api_version, params, lead, promoter)
    lead = world.save_lead(
        lead, state="active", customer_since=lead.customer_since or event.created_at
    )
    if api_version == 1:
        return Reply(200, shapes.money_event_v1(world, event, lead, promoter))
    return Reply(200, shapes.sale_v2(world, event, earned, lead))


def _refund(world: World, api_version: int, params: dict[str, Any]) -> Reply:
    _require_money(params)
    if world.find_event("refund", params["event_id"]):
        return _duplicate("refund", params["event_id"])
    found = _lead(world, params, create=False)
    if found is None:
        # Both specs answer a refund for an unknown customer with 204.
        return Reply(204)
    lead, promoter = found
    event, _ = _credit(world, "refund", api_version, params, lead, promoter)
    return Reply(200, shapes.money_event_v1(world, event, lead, promoter))


def _cancellation(world: World, api_version: int, params: dict[str, Any]) -> Reply:
    _require_customer(params)
    found = _lead(world, params, create=False)
    if found is None:
        return _not_a_referral(api_version)
    lead, promoter = found
    lead = world.save_lead(lead, state="cancelled", cancelled_at=now_iso())
    return Reply(200, shapes.lead_event_v1(world, world.next_id(), "cancellation", lead, promoter))


def _signup(world: World, api_version: int, params: dict[str, Any]) -> Reply:
    _require_customer(params)
    if world.find_lead(params.get("email", ""), params.get("uid", "")):
        return Reply(422, {"transaction_id": ALREADY_SIGNED_UP})
    referrer = _referrer(world, params)
    if referrer is None:
        return Reply(404, {"message": VISITOR_INVALID})
    promoter, source = referrer
    lead = world.new_lead(params.get("email", ""), params.get("uid", ""), promoter, source)
    if api_version == 1:
        return Reply(200, shapes.lead_event_v1(world, world.next_id(), "signup", lead, promoter))
    return Reply(200, shapes.signup_v2(world.next_id(), lead))


HANDLERS: dict[str, Callable[[World, int, dict[str, Any]], Reply]] = {
    "sale": _sale,
    "refund": _refund,
    "cancellation": _cancellation,
    "signup": _signup,
}
