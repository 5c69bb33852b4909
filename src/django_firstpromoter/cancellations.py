"""``track_cancellation``: a subscription ended; FirstPromoter stops its recurring rewards."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError

from django_firstpromoter.conf import get_config
from django_firstpromoter.models import Cancellation
from django_firstpromoter.recording import (
    Errors,
    as_text,
    check_customer,
    check_event_id,
    full_clean,
    record_and_schedule,
)


def track_cancellation(*, email: str = "", uid: str = "", event_id: str = "") -> Cancellation:
    """Record the cancellation of the customer's subscription and schedule its delivery.

    ``event_id`` (the subscription's id, say) makes a repeat a no-op: the cancellation
    is recorded and sent once; without one, each call is a cancellation of its own.
    Raises ``ValidationError`` keyed by field before writing anything.
    """
    config = get_config()
    errors: Errors = {}
    email, uid = as_text(email), as_text(uid)
    check_customer(email, uid, errors)
    if event_id:
        check_event_id(event_id, errors)
    if errors:
        raise ValidationError(errors)
    cancellation = Cancellation(
        event_id=event_id or f"cancellation-{uuid.uuid4()}",
        email=email,
        uid=uid,
        api_version=config.api_version,
    )
    full_clean(cancellation)
    return record_and_schedule(cancellation, config)
