"""The receivers that turn a paid order into a recorded sale, a refunded one into a
refund, and an ended subscription into a cancellation.

Whatever goes wrong here is logged at ERROR with its traceback and swallowed:
the host's order save or payment webhook must never fail because of us. No
savepoint is needed to keep the host's transaction usable: every check runs before
the one write, and that write cannot fail on a known ``event_id`` (``track_order``
says more).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.http import HttpRequest
from django.utils.module_loading import import_string

from django_firstpromoter.cancellations import track_cancellation
from django_firstpromoter.conf import Config, get_config, raw_settings
from django_firstpromoter.models import Refund, Sale
from django_firstpromoter.referral import current_referral, remember_referral
from django_firstpromoter.refunds import track_refund
from django_firstpromoter.sales import record_sale, track_sale

logger = logging.getLogger("django_firstpromoter")

ORDER_SAVED_UID = "firstpromoter.order_saved"
"""How ``on_model_saved`` is connected, so that code that switches it off for a while
(the benchmark's bare save) finds the same registration."""


def track_order(order: models.Model) -> Sale | None:
    """``SALE_FROM_ORDER(order)`` then ``track_sale``; None when there is nothing to track.

    No savepoint of its own: it runs on every save of an order, and a savepoint costs
    two round trips to the database. ``track_sale`` validates before it writes, and
    its one write cannot fail on a known ``event_id`` (``recording.record_once``), so
    an error here never leaves the host's transaction broken; the adapter is the
    host's code, running in the host's transaction.
    """
    return _from_order(order, "SALE_FROM_ORDER", track_sale, "sale", told=True)


def refund_order(order: models.Model, *, told: bool = False) -> Refund | None:
    """``REFUND_FROM_ORDER(order)`` then ``track_refund``, as ``track_order`` does for
    sales; None when there is nothing to refund or no adapter is set.

    ``told``: the host said the order was refunded (``order_refunded``), so a missing
    adapter is an error to log, not a shop that does not report refunds.
    """
    return _from_order(order, "REFUND_FROM_ORDER", track_refund, "refund", told=told)


def _from_order(
    order: models.Model, key: str, track: Callable[..., Any], what: str, *, told: bool
) -> Any:
    """``track(adapter(order), order=order)`` for the adapter named by setting ``key``;
    None when it answers None or, unless ``told``, when none is set. Whatever goes
    wrong is logged, never raised into the host's save or signal."""
    try:
        # The settings checked first, as before any adapter runs: broken ones are an
        # error to log, not a reason to run the shop's adapter for nothing.
        path = getattr(get_config(), key.lower())
        if not path:
            if told:
                logger.error(
                    "order %s: FIRSTPROMOTER['%s'] is not set, so no %s is recorded",
                    order.pk,
                    key,
                    what,
                )
            return None
        data = import_string(path)(order)
        if data is None:
            return None
        return track(data, order=order)
    except Exception:
        logger.exception("could not record a FirstPromoter %s for order %s", what, order.pk)
        return None


def on_order_paid(
    sender: Any, order: models.Model, request: HttpRequest | None = None, **kwargs: Any
) -> None:
    if request is not None:
        try:
            remember_referral(request, order)
        except Exception:
            logger.exception("could not keep the referral of order %s", order.pk)
    track_order(order)


def on_order_refunded(sender: Any, order: models.Model, **kwargs: Any) -> None:
    refund_order(order, told=True)


def on_subscription_cancelled(
    sender: Any, email: str = "", uid: str = "", event_id: str = "", **kwargs: Any
) -> None:
    try:
        track_cancellation(email=email, uid=uid, event_id=event_id)
    except Exception:
        logger.exception("could not record a FirstPromoter cancellation")


def on_model_saved(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    # Connected for every model and filtered here, so that ORDER_MODEL is read
    # when used and override_settings works like for every other key.
    if kwargs.get("raw"):
        return
    config: Config | None = None
    try:
        try:
            config = get_config()  # kept, so cheap on every save
            order_model = config.order_model
        except ImproperlyConfigured:
            # Still the order's: _from_order logs what is wrong with the settings.
            order_model = raw_settings()["ORDER_MODEL"]
    except Exception:
        logger.exception("FIRSTPROMOTER settings are unreadable")
        return
    if order_model and sender._meta.label_lower == str(order_model).lower():
        if kwargs.get("created") and current_referral.get():
            # Kept at the order's first save: it may be paid later, in a request
            # (a payment provider's webhook) that no visitor's referral came with.
            try:
                remember_referral(None, instance)
            except Exception:
                logger.exception("could not keep the referral of order %s", instance.pk)
        # track_order's way, but the sale is not made into a record nobody uses.
        _from_order(instance, "SALE_FROM_ORDER", record_sale, "sale", told=True)
        if config is None or config.refund_from_order:  # none: nothing to ask
            refund_order(instance)
