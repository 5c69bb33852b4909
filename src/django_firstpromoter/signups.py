"""``track_signup``: a referred visitor signed up, and becomes the promoter's lead
before paying; and the receiver that does it for every new user when switched on."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest

from django_firstpromoter.conf import get_config
from django_firstpromoter.models import Signup
from django_firstpromoter.recording import (
    Errors,
    as_text,
    check_customer,
    full_clean,
    record_and_schedule,
)
from django_firstpromoter.referral import Referral, current_referral, get_referral

logger = logging.getLogger("django_firstpromoter")


def track_signup(
    request_or_referral: HttpRequest | Referral, *, email: str = "", uid: str = ""
) -> Signup | None:
    """Record the signup of the visitor ``request_or_referral`` came from, once per
    customer, and schedule its delivery; None, recording nothing, when nobody referred
    the visitor (FirstPromoter would answer that the visitor is invalid).

    FirstPromoter's answers 404 (visitor invalid) and 422 (already a lead) are final:
    the signup ends ``not_referral`` or ``tracked``, and is not retried.
    Raises ``ValidationError`` keyed by field before writing anything.
    """
    referral = (
        request_or_referral
        if isinstance(request_or_referral, Referral)
        else get_referral(request_or_referral)
    )
    config = get_config()
    errors: Errors = {}
    email, uid = as_text(email), as_text(uid)
    check_customer(email, uid, errors)
    if errors:
        raise ValidationError(errors)
    if not referral:
        return None
    signup = Signup(
        event_id=f"uid:{uid}" if uid else f"email:{email.lower()}",
        email=email,
        uid=uid,
        tid=referral.tid,
        ref_id=referral.ref_id,
        api_version=config.api_version,
    )
    full_clean(signup)
    return record_and_schedule(signup, config)


def on_user_created(sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
    """With ``SIGNUP_ON_USER_CREATED``: a user created during a referred visit's request
    is that visitor's signup. Errors are logged: creating the user must not fail."""
    if not created or kwargs.get("raw"):
        return
    referral = current_referral.get()
    if not referral:
        return
    try:
        if not get_config().signup_on_user_created:
            return
        email = getattr(instance, instance.get_email_field_name(), "") or ""
        track_signup(referral, email=email, uid=str(instance.pk))
    except Exception:
        logger.exception("could not record a FirstPromoter signup for user %s", instance.pk)
