"""FirstPromoter's webhooks (v2): each event stored once, commission changes applied.

FirstPromoter's request proves nothing by itself that this app checks, so the view
demands what the user gave the subscription before it parses the body: the header
``Authorization: Bearer <WEBHOOK_SECRET>``, or its HTTP Basic credentials
(``WEBHOOK_BASIC_AUTH``), and, when ``WEBHOOK_SIGNING_KEY`` is set, the body's
HMAC-SHA256 in ``X-Webhook-Signature`` (which FirstPromoter's webhooks OpenAPI still
describes, though its pages no longer do). It does one short transaction, and one
call to the admin API only for a commission it has no reward for (``adopt``), so it
answers well within FirstPromoter's timeout (30 s by default); FirstPromoter retries
any answer that is not 2xx, so a refused delivery comes back once the cause is fixed.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import logging
import math
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from django_firstpromoter.conf import WebhookCredentials, get_config, webhook_credentials
from django_firstpromoter.lookups import adopt_commissions
from django_firstpromoter.models import WebhookEvent
from django_firstpromoter.notify import log_fields
from django_firstpromoter.storable import json_problem, storable_moment, text_problem
from django_firstpromoter.webhook_events import store

logger = logging.getLogger("django_firstpromoter")

#: FirstPromoter's payloads are a few kilobytes; a body past this is not one of them.
MAX_BODY_BYTES = 256 * 1024


class BadDelivery(Exception):
    """A delivery refused with 400; the message says why, in the answer's body."""


@csrf_exempt
@require_POST
def receive(request: HttpRequest) -> JsonResponse:
    # One byte more than allowed tells a body at the cap from one past it, without
    # reading the rest of a huge one. Read, not parsed, before the request is
    # authorized: a signature is of the body's bytes.
    body = request.read(MAX_BODY_BYTES + 1)
    credentials = webhook_credentials()
    if not authorized(request, body, credentials):
        response = JsonResponse({"error": "missing or wrong credentials"}, status=401)
        schemes = ['Bearer realm="firstpromoter"']
        if credentials.basic:
            schemes.append('Basic realm="firstpromoter"')
        response["WWW-Authenticate"] = ", ".join(schemes)
        return response
    try:
        event = read_delivery(request, body)
    except BadDelivery as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    result = store(event)
    if result == "stored" and event.commission_id is not None and event.reward_id is None:
        result = adopt(event, event.commission_id)
    fields = {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "result": result,
        "note": event.note,
    }
    log_fields(logging.INFO, "webhook", fields)
    return JsonResponse({"result": result, "note": event.note})


@sensitive_variables("credentials", "given", "secret")
def authorized(request: HttpRequest, body: bytes, credentials: WebhookCredentials) -> bool:
    """The subscription's header (``Authorization: Bearer <WEBHOOK_SECRET>``, or HTTP
    Basic with ``WEBHOOK_BASIC_AUTH``) when either is set, and the body's signature
    when ``WEBHOOK_SIGNING_KEY`` is; nothing at all is accepted while none is set, or
    one is set wrong."""
    if credentials.broken:
        return False
    if not (credentials.bearer or credentials.basic or credentials.signing):
        return False
    if credentials.bearer or credentials.basic:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        scheme, given = scheme.lower(), given.strip()
        if scheme == "basic":
            given = _basic(given)
            accepted = credentials.basic
        else:
            accepted = credentials.bearer if scheme == "bearer" else ()
        if not any(_same(given, secret) for secret in accepted):
            return False
    if credentials.signing:
        given = request.headers.get("X-Webhook-Signature", "").strip().lower()
        return any(
            _same(given, hmac.new(key.encode(), body, hashlib.sha256).hexdigest())
            for key in credentials.signing
        )
    return True


def _same(given: str, secret: str) -> bool:
    # compare_digest takes as long for a near miss as for a wild guess. A header holds
    # no surrogate as a WSGI server gives it, but one given as any str must not crash.
    return hmac.compare_digest(given.encode(errors="surrogatepass"), secret.encode())


def _basic(token: str) -> str:
    """Basic credentials decoded to ``user:password``; "" when they are not base64 of
    text."""
    try:
        return base64.b64decode(token, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return ""


def read_delivery(request: HttpRequest, body: bytes) -> WebhookEvent:
    """The delivery as an unsaved event; raises BadDelivery for what cannot be one.

    What cannot be stored on every database alike, or shown in the admin, is refused
    rather than stored cut or cleaned: an event id must stay the one FirstPromoter
    sent, and a refused delivery comes back once the cause is fixed.
    """
    event_id = request.headers.get("X-Event-Id", "").strip()
    if not event_id:
        raise BadDelivery("no X-Event-Id header")
    if len(event_id) > 255:  # WebhookEvent.event_id's length; never cut, or two would be one
        raise BadDelivery("X-Event-Id is longer than 255 characters")
    header_type = request.headers.get("X-Event-Type")
    for name, value in (("X-Event-Id", event_id), ("X-Event-Type", header_type or "")):
        if problem := text_problem(value):
            raise BadDelivery(f"{name} {problem}")
    if len(body) > MAX_BODY_BYTES:
        raise BadDelivery(f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        payload = json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise BadDelivery("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise BadDelivery("the body is not a JSON object")
    if problem := json_problem(payload):
        raise BadDelivery(f"the body {problem}")
    _timestamp(payload.get("timestamp"))  # raises BadDelivery for one out of range
    event_type = header_type or payload.get("event_type")
    return WebhookEvent(
        event_id=event_id,
        event_type=event_type[:100] if isinstance(event_type, str) else "",
        payload=payload,
    )


def adopt(event: WebhookEvent, commission_id: int) -> str:
    """The event's commission, unknown here, asked of the admin API by id and kept as
    a reward when it is for one of our events, then the event applied: ``store``'s
    result as it now is. The one call FirstPromoter's delivery waits for (``TIMEOUT``,
    well inside its 30 s); should it fail, the event stays stored and the worker's
    follow-up pass tries again."""
    try:
        adopt_commissions(get_config(), [commission_id])
    except Exception as exc:
        logger.warning(
            "webhook %s: commission %s could not be looked up (%s)",
            event.event_id,
            event.commission_id,
            exc,
        )
        return "stored"
    event.refresh_from_db()
    return "applied" if event.applied else "stored"


def _timestamp(value: Any) -> datetime.datetime | None:
    """The event's time in UTC; None when it is no readable time (the event is applied
    unordered). Raises BadDelivery for one outside what can be stored and shown: stored
    on the reward, it would fail every page that shows it, and every later event of
    the commission."""
    try:
        return storable_moment(value)
    except ValueError as exc:
        raise BadDelivery(f"the timestamp is {exc}") from None


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not JSON, and PostgreSQL's JSON columns refuse them.
    raise ValueError(name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999
        raise ValueError(text)
    return value
