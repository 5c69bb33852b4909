"""``ReferralMiddleware``: the visitor's referral on every request, with or without fpr.js."""

from __future__ import annotations

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.deprecation import MiddlewareMixin

from django_firstpromoter.referral import (
    COOKIE_MAX_AGE,
    REF_COOKIE,
    REQUEST_ATTRIBUTE,
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
        setattr(request, REQUEST_ATTRIBUTE, referral_from_request(request))

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
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
