"""Who referred the visitor: fpr.js's cookies, or a referral link's query parameter.

FirstPromoter credits a sale sent with a ``tid`` (the visit fpr.js tracked) or a
``ref_id`` (the promoter's referral id) without any signup call first, so keeping
them on the order at checkout is all a shop needs to do for its promoters.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import models
from django.http import HttpRequest

from django_firstpromoter.fprjs import LINK_PARAMETERS, REF_COOKIE, TID_COOKIES

REQUEST_ATTRIBUTE = "firstpromoter_referral"

MAX_LENGTH = 255
# Ids are FirstPromoter's slugs and UUIDs: URL-safe characters cover them, and
# nothing that could close a quote or a tag gets past, wherever a shop shows them.
SAFE_VALUE = re.compile(r"[A-Za-z0-9._~-]+")


@dataclass(frozen=True)
class Referral:
    """A visit's referral; either id may be empty, and both are when nobody referred it."""

    tid: str = ""
    ref_id: str = ""

    def __bool__(self) -> bool:
        return bool(self.tid or self.ref_id)


current_referral: contextvars.ContextVar[Referral | None] = contextvars.ContextVar(
    "firstpromoter_current_referral", default=None
)
"""The referral of the request being handled, set by ``ReferralMiddleware``: a user's
``post_save`` has no request to read it from."""


def clean_value(value: str | None) -> str:
    """``value`` stripped when it is a plausible id, else "".

    Cookies and query strings are the visitor's to write: a crafted one is
    ignored rather than sent to FirstPromoter or stored with an order.
    """
    value = (value or "").strip()
    if len(value) > MAX_LENGTH or not SAFE_VALUE.fullmatch(value):
        return ""
    return value


def first_valid(values: Iterable[str | None]) -> str:
    return next(filter(None, map(clean_value, values)), "")


def link_ref_id(request: HttpRequest) -> str:
    """The referral id of the link this request came from, or "" if none."""
    return first_valid(request.GET.get(name) for name in LINK_PARAMETERS)


def referral_from_request(request: HttpRequest) -> Referral:
    """The request's referral, read from its query string and cookies.

    A referral link's id wins over the cookies (FirstPromoter credits the last
    click), and the cookies' ``tid`` is then left out: it belongs to an earlier
    click, and FirstPromoter would credit that one first.
    """
    ref_id = link_ref_id(request)
    if ref_id:
        return Referral(ref_id=ref_id)
    return Referral(
        tid=first_valid(request.COOKIES.get(name) for name in TID_COOKIES),
        ref_id=clean_value(request.COOKIES.get(REF_COOKIE)),
    )


def get_referral(request: HttpRequest) -> Referral:
    """The referral ``ReferralMiddleware`` found, or, without it, the request's own."""
    found = getattr(request, REQUEST_ATTRIBUTE, None)
    if isinstance(found, Referral):
        return found
    return referral_from_request(request)


def remember_referral(request: HttpRequest | None, order: models.Model) -> Referral:
    """Link the visitor's referral (``get_referral``) to ``order`` in the app's own
    table, for the order's sale to be sent with; the referral, falsy when there is none.

    The first referral an order is linked to stays: the request that placed it
    saw the click that counts. One ``INSERT`` that ignores a known order, so it
    cannot abort the host's transaction; nothing is written for an order not yet
    saved or a visitor nobody referred. With no ``request``, the one
    ``ReferralMiddleware`` is handling (``current_referral``) is used.
    """
    from django_firstpromoter.models import OrderReferral
    from django_firstpromoter.recording import order_fields

    referral = get_referral(request) if request is not None else current_referral.get()
    if not referral or order.pk is None:
        return referral or Referral()
    link = OrderReferral(tid=referral.tid, ref_id=referral.ref_id, **order_fields(order))
    OrderReferral.objects.bulk_create([link], ignore_conflicts=True)
    return referral


def referral_for(order: models.Model | None) -> Referral:
    """The referral ``remember_referral`` linked to ``order``; falsy when there is none."""
    from django_firstpromoter.models import OrderReferral

    if order is None or order.pk is None:
        return Referral()
    found = OrderReferral.objects.for_order(order).values_list("tid", "ref_id").first()
    return Referral(*found) if found else Referral()


def copy_referral(
    request: HttpRequest,
    order: models.Model,
    *,
    tid_field: str | None = "referral_tid",
    ref_field: str | None = "referral_ref_id",
) -> bool:
    """Put the visitor's referral on ``order``, for ``SALE_FROM_ORDER`` to send as
    ``tid`` and ``ref_id``; True if the order got an id.

    It does not save: call it before the save that confirms the order, so that
    save records the sale with its referral, in one write. With no referral the
    order is left as it is, so one kept earlier (e.g. on a cart) survives; with
    one, both fields are written, an empty id too, so that no half of an older
    click stays paired with the new one. An id longer than its column is left out
    rather than cut, which would make it someone else's or nobody's. ``None`` for
    a field skips that id; a field name the order does not have raises
    ``FieldDoesNotExist``.
    """
    referral = get_referral(request)
    if not referral:
        return False
    copied = False
    for field_name, value in ((tid_field, referral.tid), (ref_field, referral.ref_id)):
        if field_name is None:
            continue
        max_length = getattr(order._meta.get_field(field_name), "max_length", None)
        if max_length is not None and len(value) > max_length:
            value = ""
        setattr(order, field_name, value)
        copied = copied or bool(value)
    return copied
