"""Where a shop shows an order, for the admin's link from a sale or refund to it.

A shop framework's orders often have a page of their own (Oscar's dashboard) that
says more than the Django admin's change form, or the order model is not
registered with the admin at all. The integration that knows that page registers
it here; every other order gets the admin's change page, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import models

logger = logging.getLogger("django_firstpromoter")

_urls: dict[str, Callable[[models.Model], str]] = {}


def _label(model: type[models.Model] | str) -> str:
    return (model if isinstance(model, str) else model._meta.label).lower()


def register(model: type[models.Model] | str, url: Callable[[models.Model], str]) -> None:
    """Show ``model``'s orders (a class or an ``"app_label.Model"`` label) at
    ``url(order)``; a later registration for the same model replaces the earlier."""
    _urls[_label(model)] = url


def unregister(model: type[models.Model] | str) -> None:
    _urls.pop(_label(model), None)


def url_for(order: models.Model) -> str | None:
    """The registered page of ``order``, or None (no page registered, or it could not
    be made: the admin page that asks must still render)."""
    url = _urls.get(_label(type(order)))
    if url is None:
        return None
    try:
        return url(order)
    except Exception:
        logger.exception("could not make the page address of order %s", order.pk)
        return None
