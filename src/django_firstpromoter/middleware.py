"""``ReferralMiddleware``: the visitor's referral on every request, with or without fpr.js."""

from __future__ import annotations

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.deprecation import MiddlewareMixin

from django_firstpromoter.fprjs import COOKIE_MAX_AGE, REF_COOKIE
from django_firstpromoter.referral import (
    REQUEST_ATTRIBUTE,
    current_referral,
    link_ref_id,
    referral_from_request,
)


class ReferralMiddleware(MiddlewareMixin):
    """Sets ``request.firstpromoter_referral`` (a ``Referral``) for the views, and keeps
    a referral link's id in a ``_fprom_ref`` cookie, as fpr.js would, for the visit
    that ends in a checkout later: a new link replaces it, as FirstPromoter's last
    click wins.
    """

    def process_request(self, request: HttpRequest) -> None:
        referral = referral_from_request(request)
        setattr(request, REQUEST_ATTRIBUTE, referral)
        # For SIGNUP_ON_USER_CREATED: a user's post_save has no request to read it from.
        current_referral.set(referral)

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        # Cleared, not reset to a token: under ASGI the two halves run in different
        # copies of the context, and a token only resets the context that made it.
        current_referral.set(None)
        ref_id = link_ref_id(request)
        if ref_id:
            # Not HttpOnly: where fpr.js runs too, it reads and rewrites this very
            # cookie, and a browser refuses a script's write over an HttpOnly one.
            # The id is no secret: it is in the link.
            response.set_cookie(
                REF_COOKIE,
                ref_id,
                max_age=COOKIE_MAX_AGE,
                path="/",
                secure=request.is_secure(),
                httponly=False,
                samesite="Lax",
            )
        return response
