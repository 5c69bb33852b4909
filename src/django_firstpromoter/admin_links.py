"""The links between records on the admin's pages, both ways: a sale to its order,
refunds, rewards, webhook events and its customer's cancellation, and each of those
back. An operator follows a sale's story by clicking, never by searching.

A cancellation belongs to a customer, not to an order: it is linked to the sales of
the same customer, by ``uid`` when it has one (FirstPromoter's own key for a
customer), else by email.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.db.models import Model, QuerySet
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from django_firstpromoter.models import Cancellation, Refund, Reward, Sale, WebhookEvent

SHOWN = 5
"""Records linked one by one; past that, one link to the filtered list."""


def change_url(record: Model) -> str:
    return reverse(
        f"admin:{record._meta.app_label}_{record._meta.model_name}_change", args=[record.pk]
    )


def change_link(record: Model, label: Any) -> str:
    return format_html('<a href="{}">{}</a>', change_url(record), label)


def link_in_text(url: str, label: Any) -> str:
    """A link among words, underlined: there, colour alone does not mark a link."""
    return format_html('<a href="{}" style="text-decoration:underline">{}</a>', url, label)


def changelist_link(model: type[Model], query: dict[str, Any], label: str) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return link_in_text(f"{url}?{urlencode(query)}", label)


def of_customer(model: type[Any], record: Any) -> QuerySet[Any]:
    """The ``model`` rows of ``record``'s customer: by uid, else by email."""
    if record.uid:
        return model._default_manager.filter(uid=record.uid)
    if record.email:
        return model._default_manager.filter(email=record.email, uid="")
    return model._default_manager.none()


def customer_query(record: Any) -> dict[str, str]:
    """The changelist's search for ``record``'s customer."""
    return {"q": record.uid or record.email}


def links(records: QuerySet[Any], list_query: dict[str, Any], label: Any = str) -> str:
    """Up to ``SHOWN`` records, each linked to its page, and the rest as one link to
    the list; a dash when there are none."""
    found = list(records[: SHOWN + 1])
    if not found:
        return "—"
    shown = format_html_join(
        ", ", "{}", ((link_in_text(change_url(each), label(each)),) for each in found[:SHOWN])
    )
    if len(found) <= SHOWN:
        return shown
    model = records.model
    more = changelist_link(model, list_query, _("all of them"))
    return format_html("{}, … ({})", shown, more)


def cancellations_of(record: Sale) -> str:
    """The sale's customer's cancellation: FirstPromoter stops their recurring
    commissions from it."""
    return links(
        of_customer(Cancellation, record).order_by("-recorded_at"),
        customer_query(record),
        lambda each: each.event_id,
    )


def sales_of(cancellation: Cancellation) -> str:
    """The sales of the cancellation's customer, each with its order."""
    return links(
        of_customer(Sale, cancellation).order_by("-recorded_at"),
        customer_query(cancellation),
        lambda sale: sale.event_id,
    )


def event_of(reward: Reward) -> str:
    """The sale the reward was granted for, or the refund that took it back."""
    event: Sale | Refund | None = reward.refund or reward.sale
    return "—" if event is None else change_link(event, event.event_id)


def webhook_events_of(record: Sale | Refund | Reward) -> str:
    """The webhook events FirstPromoter sent about the record's rewards."""
    if isinstance(record, Reward):
        events = WebhookEvent.objects.filter(reward=record)
        query = {"reward__id__exact": record.pk}
    else:
        field = record._meta.model_name
        events = WebhookEvent.objects.filter(**{f"reward__{field}": record})
        query = {f"reward__{field}__id__exact": record.pk}
    return links(
        events.order_by("-received_at"),
        query,
        lambda event: f"{event.event_type} ({event.event_id})",
    )
