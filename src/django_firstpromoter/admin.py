"""Sales, refunds, cancellations, signups and rewards for an operator: inspect, retry, skip.

Everything FirstPromoter sent back goes through ``format_html``/auto-escaping:
a promoter called ``<script>`` is shown, never run.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import model_ngettext
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from django_firstpromoter import admin_links, commissions, lookups, overview
from django_firstpromoter.conf import Config, get_config
from django_firstpromoter.delivery import deliver_each, settled_attempts
from django_firstpromoter.kinds import kind_of
from django_firstpromoter.models import (
    Attempt,
    Cancellation,
    Overview,
    Refund,
    Reward,
    Sale,
    Signup,
    TrackedEvent,
    WebhookEvent,
)
from django_firstpromoter.money import format_amount, format_money
from django_firstpromoter.monitoring import queue_status
from django_firstpromoter.statuses import DeliveryStatus
from django_firstpromoter.storable import clean_json, parse_json
from django_firstpromoter.strategies import strategy_for

# Each at least 4.5:1 against the badge's white text (WCAG AA), as axe checks it.
BADGE_COLOURS: dict[str, str] = {
    DeliveryStatus.PENDING: "#8a6200",
    DeliveryStatus.SENDING: "#1b6db0",
    DeliveryStatus.TRACKED: "#1a7f37",
    DeliveryStatus.NOT_REFERRAL: "#767676",
    DeliveryStatus.FAILED: "#db2828",
    DeliveryStatus.DUPLICATE: "#c35400",
    DeliveryStatus.IGNORED: "#595959",
}
logger = logging.getLogger("django_firstpromoter")

SEND_AT_ONCE = 10
""""Retry now" sends this many at once, in the admin's request; the rest are made
due for the worker (or queued as tasks)."""
RETRYABLE = (DeliveryStatus.PENDING, DeliveryStatus.FAILED, DeliveryStatus.IGNORED)
# Not a duplicate: sent again, its 409 would read as our own earlier call's, and
# count as tracked a sale FirstPromoter never counted.
IGNORABLE = (DeliveryStatus.PENDING, DeliveryStatus.FAILED, DeliveryStatus.DUPLICATE)


def pretty_json(text: str) -> str:
    """Indented JSON when the text is JSON; escaped by the caller either way. Made
    storable first: a body may escape a lone surrogate, which no page can encode,
    or nest deeper than indenting it can recurse."""
    data = parse_json(text)
    if data is None:
        return text
    return json.dumps(clean_json(data), indent=2, ensure_ascii=False)


def json_block(value: Any) -> str:
    """What FirstPromoter sent, indented and escaped; cleaned first, so that a row
    stored before its value was checked (too deep to indent, or holding a lone
    surrogate no page can be encoded with) still shows."""
    return format_html("<pre>{}</pre>", json.dumps(clean_json(value), indent=2, ensure_ascii=False))


class ViewOnlyAdmin(admin.ModelAdmin):
    """For what FirstPromoter told us: an operator may read it, never edit it."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AttemptInline(ReadOnlyInline):
    readonly_fields = (
        "started",
        "api_version",
        "http_status",
        "outcome",
        "duration_ms",
        "error",
        "body",
    )
    fields = readonly_fields

    @admin.display(description=_("started at"))
    def started(self, attempt: Attempt) -> str:
        return moment(attempt.started_at)

    @admin.display(description=_("response"))
    def body(self, attempt: Attempt) -> str:
        # Folded: a row per attempt, not a wall of JSON per attempt. Focusable: a
        # keyboard can scroll a long answer only once it has the focus.
        if not attempt.response_body:
            return "—"
        return format_html(
            "<details><summary>{}</summary>"
            "<pre tabindex='0' style='max-height:12em;overflow:auto'>{}</pre></details>",
            ngettext("%d character", "%d characters", len(attempt.response_body))
            % len(attempt.response_body),
            pretty_json(attempt.response_body),
        )


class RewardInline(ReadOnlyInline):
    model = Reward
    fk_name: str | None = None
    readonly_fields = (
        "reward_link",
        "status",
        "paid_words",
        "amount_display",
        "tier",
        "promoter_email",
        "lead_email",
    )
    fields = readonly_fields

    @admin.display(description=_("FirstPromoter id"))
    def reward_link(self, reward: Reward) -> str:
        return admin_links.change_link(reward, reward.firstpromoter_id or reward.pk)

    @admin.display(description=_("paid"))
    def paid_words(self, reward: Reward) -> str:
        return paid_in_words(reward)

    @admin.display(description=_("amount"))
    def amount_display(self, reward: Reward) -> str:
        return reward.amount_display


class SaleRewardInline(RewardInline):
    fk_name = "sale"


class RefundRewardInline(RewardInline):
    fk_name = "refund"


class RefundInline(ReadOnlyInline):
    """The sale's refunds, on the sale's page."""

    model = Refund
    fk_name = "sale"
    readonly_fields = ("refund_link", "amount_display", "status", "recorded")
    fields = readonly_fields

    @admin.display(description=_("recorded at"))
    def recorded(self, refund: Refund) -> str:
        return moment(refund.recorded_at)

    @admin.display(description=_("refund"))
    def refund_link(self, refund: Refund) -> str:
        return admin_links.change_link(refund, refund.event_id)

    @admin.display(description=_("amount"))
    def amount_display(self, refund: Refund) -> str:
        return format_money(refund.amount, refund.currency)


class NeedsAttentionFilter(admin.SimpleListFilter):
    """What no sender settles by itself: failed and duplicate records, and sales whose
    order changed after they were reported. The overview counts the same rows."""

    title = _("needs attention")
    parameter_name = "attention"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", str(_("Yes")))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() != "yes":
            return queryset
        return queryset.filter(overview.needs_attention(queryset.model))


class DeliveryAdmin(admin.ModelAdmin):
    """What every kind of tracked event shares: the queue above the list, the status
    badge, a read-only page with its attempts, and the two actions, "Retry now" and
    "Don't send", named for the records (``retry_sales``, ``ignore_sales``)."""

    list_filter = [NeedsAttentionFilter, "status", "api_version", "recorded_at"]
    date_hierarchy = "recorded_at"

    records = ""
    """The records' name in the actions' names, set by each kind's admin."""
    more_actions: tuple[str, ...] = ()
    """Actions after the two, by name, the same for every kind that has them."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if records := cls.__dict__.get("records"):
            setattr(cls, f"retry_{records}", DeliveryAdmin.retry)
            setattr(cls, f"ignore_{records}", DeliveryAdmin.ignore)
            cls.actions = [f"retry_{records}", f"ignore_{records}", *cls.more_actions]

    def __init__(self, model: type[TrackedEvent], admin_site: admin.AdminSite) -> None:
        super().__init__(model, admin_site)
        self.attempt_inline = type(
            f"{model.__name__}AttemptInline",
            (AttemptInline,),
            {"model": kind_of(model).attempt_model},
        )

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> list[type[Any]]:
        # The kind's attempts, last: what was tried, under what it brought. An inline
        # with nothing to list is left out rather than shown as bare headers.
        inlines = [*super().get_inlines(request, obj), self.attempt_inline]
        if obj is None:
            return inlines
        return [inline for inline in inlines if inline_rows(inline, obj).exists()]

    # The last response, raw JSON, after the rewards and attempts, folded: the story
    # first, the wire last.
    change_form_template = "admin/django_firstpromoter/record_change_form.html"

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        record = self.get_object(request, object_id)
        attempt = None if record is None else record.attempts.first()
        extra = {}
        if attempt is not None:
            extra = {
                "last_response": format_html(
                    "<pre>{}</pre>", pretty_json(attempt.response_body) or "(empty)"
                ),
                "last_request": json_block(attempt.request_params),
            }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # No red button on a record's view-only page: what was sent stays on record.
        # Deleting selected rows from the list is still the permission's to allow.
        return obj is None and super().has_delete_permission(request, obj)

    @admin.display(description=_("in short"))
    def summary(self, record: TrackedEvent) -> str:
        """The record's story in one sentence, before its fields."""
        attempts = ngettext("%d attempt", "%d attempts", record.attempt_count) % (
            record.attempt_count
        )
        status = DeliveryStatus(record.status)
        if status == DeliveryStatus.TRACKED:
            text = _("Tracked on %(when)s after %(attempts)s") % {
                "when": moment(record.tracked_at),
                "attempts": attempts,
            }
        elif status == DeliveryStatus.PENDING:
            text = _("Waiting to be sent, due at %(when)s (%(attempts)s so far)") % {
                "when": moment(record.next_attempt_at),
                "attempts": attempts,
            }
        else:
            text = _("%(status)s after %(attempts)s") % {
                "status": status.label,
                "attempts": attempts,
            }
        rewards = getattr(record, "rewards", Reward.objects.none()).all()
        # What was earned first, then what refunds took back.
        earned = [reward_in_words(each) for each in sorted(rewards, key=lambda r: r.amount < 0)]
        return "; ".join([str(text), *map(str, earned)]) + "."

    @admin.display(description=_("recorded at"), ordering="recorded_at")
    def recorded_short(self, record: TrackedEvent) -> str:
        return in_a_column(record.recorded_at)

    @admin.display(description=_("next attempt at"))
    def next_attempt(self, record: TrackedEvent) -> str:
        # Only a pending record has one: a sending record's is its lease's end, and a
        # settled one's is left over from its last claim.
        if record.status != DeliveryStatus.PENDING:
            return "—"
        return moment(record.next_attempt_at)

    @admin.display(description=_("tracked at"))
    def tracked(self, record: TrackedEvent) -> str:
        return moment(record.tracked_at)

    @admin.display(description=_("recorded at"))
    def recorded(self, record: TrackedEvent) -> str:
        return moment(record.recorded_at)

    @admin.display(description=_("updated at"))
    def updated(self, record: TrackedEvent) -> str:
        return moment(record.updated_at)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The whole queue, whatever the filters: the summary template says so.
        extra_context = {**(extra_context or {}), "queue_status": queue_status(self.model)}
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # They come from the shop's own events; one typed in by hand would be sent as real.
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The change permission is what the actions need; a record's own page stays
        # read-only, so a stale form can never overwrite what a sender just wrote.
        return obj is None and super().has_change_permission(request, obj)

    @admin.display(description=_("customer"))
    def customer(self, record: Any) -> str:
        return str(record.email or record.uid)

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, record: TrackedEvent) -> str:
        return format_html(
            '<span class="fp-status fp-status-{}" style="background:{};color:#fff;'
            'padding:2px 8px;border-radius:8px;white-space:nowrap">{}</span>',
            record.status,
            BADGE_COLOURS.get(record.status, "#767676"),
            record.get_status_display(),
        )

    @admin.action(description=_("Retry now"), permissions=["change"])
    def retry(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        try:
            config = get_config()
        except ImproperlyConfigured as exc:
            self.message_user(request, _("Nothing was sent: %s") % exc, messages.ERROR)
            return
        chosen = list(queryset.values_list("pk", "status"))
        retry = [pk for pk, status in chosen if status in RETRYABLE]
        left = len(chosen) - len(retry)
        results: Counter[str] = Counter()
        now = timezone.now()
        try:
            self.model._default_manager.filter(pk__in=retry, status__in=RETRYABLE).update(
                status=DeliveryStatus.PENDING,
                next_attempt_at=now,
                updated_at=now,
                attempt_count=settled_attempts(self.model),
            )
            strategy = strategy_for(config)
            # A few are sent now, for the operator to see; the rest are due now, for
            # the worker or their tasks: the admin's request never waits on dozens
            # of calls.
            now_pks, later = retry[:SEND_AT_ONCE], retry[SEND_AT_ONCE:]
            deliver_each(self.model, now_pks, config, results, on_retry=strategy.retry_due)
            for pk in later:
                strategy.made_due(self.model, pk)
        except Exception as exc:
            # The limiter's cache or the database down, say: the operator is told what
            # happened instead of shown a server error. What was not sent is due.
            logger.exception("Retry now stopped by an error")
            text = _(
                "%(sent)s Then sending stopped: %(error)s. The rest are due: the worker "
                "sends them when it can."
            ) % {
                "sent": retry_message(self.model._meta, results, left),
                "error": str(exc).rstrip("."),
            }
            self.message_user(request, text, messages.ERROR)
            return
        text = retry_message(self.model._meta, results, left)
        if later:
            text += " " + ngettext(
                "%d more is due now: the worker sends it.",
                "%d more are due now: the worker sends them.",
                len(later),
            ) % len(later)
        self.message_user(request, text, messages.SUCCESS)

    @admin.action(description=_("Don't send"), permissions=["change"])
    def ignore(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        total = queryset.count()
        ignored = queryset.filter(status__in=IGNORABLE).update(
            status=DeliveryStatus.IGNORED, updated_at=timezone.now()
        )
        text = _("%(count)d %(items)s will not be sent.") % {
            "count": ignored,
            "items": model_ngettext(self.model._meta, ignored),
        }
        if total > ignored:
            text += " " + ngettext(
                "%d was left alone: it is already sent or being sent.",
                "%d were left alone: they are already sent or being sent.",
                total - ignored,
            ) % (total - ignored)
        self.message_user(request, text, messages.SUCCESS)


DELIVERY_FIELDS = (
    "api_version",
    "attempt_count",
    "next_attempt",
    "tracked",
    "recorded",
    "updated",
)
TIMES = ("summary", "next_attempt", "tracked", "recorded", "updated")


def moment(value: datetime.datetime | None) -> str:
    """A time to the second, in the current time zone: two attempts a second apart
    must not read the same."""
    if value is None:
        return "—"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


def paid_in_words(reward: Reward) -> str:
    # Words, not the admin's bare icons: "?" said nothing of a reward not yet known.
    if reward.paid is None:
        return str(_("not known yet"))
    return str(_("paid") if reward.paid else _("not paid"))


def reward_in_words(reward: Reward) -> str:
    """ "alice earned 9.80 USD (approved)", or for a refund's, what it took back."""
    words = {
        "promoter": reward.promoter_email or reward.promoter_id or "?",
        "amount": format_amount(abs(reward.amount), reward.unit, reward.currency),
        "status": reward.status or "—",
    }
    if reward.amount < 0:
        return str(_("%(promoter)s gave back %(amount)s (%(status)s)") % words)
    return str(_("%(promoter)s earned %(amount)s (%(status)s)") % words)


def in_a_column(value: datetime.datetime | None) -> str:
    """A time to the second for a list's column: the date and the time may go on two
    lines, neither is broken."""
    if value is None:
        return "—"
    when = timezone.localtime(value)
    return format_html(
        '<span style="white-space:nowrap">{}</span> <span style="white-space:nowrap">{}</span>',
        when.strftime("%Y-%m-%d"),
        when.strftime("%H:%M:%S"),
    )


def inline_rows(inline: type[Any], obj: Any) -> QuerySet[Any]:
    """What ``inline`` lists for ``obj``: the rows of its model that point at it."""
    link = inline.fk_name or next(
        field.name
        for field in inline.model._meta.get_fields()
        if field.many_to_one and field.related_model is type(obj)
    )
    return inline.model._default_manager.filter(**{link: obj})


class MoneyEventAdmin(DeliveryAdmin):
    """What sales and refunds share: an amount, the rewards it brought, an order."""

    more_actions = ("refresh_from_firstpromoter",)

    @admin.action(description=_("Refresh from FirstPromoter"), permissions=["view"])
    def refresh_from_firstpromoter(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        chosen = list(queryset.order_by("pk")[: lookups.REFRESH_AT_MOST + 1])
        left = chosen[lookups.REFRESH_AT_MOST :]
        refresh(
            self,
            request,
            lambda config: lookups.refresh_records(config, chosen[: lookups.REFRESH_AT_MOST]),
            ngettext(
                "Only the first %d were looked up: select fewer, or run firstpromoter_reconcile.",
                "Only the first %d were looked up: select fewer, or run firstpromoter_reconcile.",
                lookups.REFRESH_AT_MOST,
            )
            % lookups.REFRESH_AT_MOST
            if left
            else "",
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).prefetch_related("rewards")

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, record: Sale | Refund) -> str:
        return format_money(record.amount, record.currency)

    @admin.display(description=_("commission"))
    def commission(self, record: Sale | Refund) -> str:
        """What the record earned (or took back) and whom: one column, so that the
        list reads whole at 1280 px."""
        rewards = record.rewards.all()
        total = reward_total(rewards, record.currency)
        promoters = sorted({reward.promoter_email for reward in rewards if reward.promoter_email})
        if not promoters:
            return total
        return format_html("{}<br>{}", total, ", ".join(promoters))

    @admin.display(description=_("order"))
    def order_link(self, record: Sale | Refund) -> str:
        return order_link(record)

    @admin.display(description=_("webhook events"))
    def webhook_events(self, record: Sale | Refund) -> str:
        return admin_links.webhook_events_of(record)


def money_fieldsets(links: list[str], sent: list[str]) -> list[Any]:
    """A sale's or a refund's page: what it is, how its delivery went, what was sent."""
    head = [
        "summary",
        "event_id",
        "status_badge",
        *links,
        "amount_display",
        "email",
        "uid",
        "last_error",
    ]
    return [
        (None, {"fields": head}),
        (_("Delivery"), {"fields": DELIVERY_FIELDS}),
        (_("Sent to FirstPromoter"), {"classes": ["collapse"], "fields": sent}),
    ]


def money_list(*link: str) -> tuple[str, ...]:
    """A sales or refunds list's columns, with ``link`` before the time recorded."""
    # Read whole at 1280 px with the admin's sidebar open: the attempts are on the
    # record's page and in its summary.
    columns = ("event_id", "customer", "amount_display", "status_badge", "commission")
    return (*columns, *link, "recorded_short")


class OrderChangedFilter(admin.SimpleListFilter):
    """The sales whose order changed after they were reported: a person settles each."""

    title = _("order changed after it was reported")
    parameter_name = "order_changed"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", str(_("Yes"))), ("no", str(_("No")))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(order_changed_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(order_changed_at__isnull=True)
        return queryset


@admin.register(Sale)
class SaleAdmin(MoneyEventAdmin):
    records = "sales"
    list_display = money_list()
    list_filter = [*DeliveryAdmin.list_filter, OrderChangedFilter]
    search_fields = ["event_id", "email", "uid", "rewards__promoter_email"]
    inlines = [SaleRewardInline, RefundInline]
    # The page is view-only (see has_change_permission), so every model field shows
    # read-only already; these are the computed ones the fieldsets use.
    readonly_fields = [
        "status_badge",
        "amount_display",
        "order_link",
        "cancellations",
        "webhook_events",
        *TIMES,
    ]
    fieldsets = money_fieldsets(
        ["order_link", "cancellations", "webhook_events"],
        [
            "amount_minor",
            "mrr",
            "mrr_minor",
            "quantity",
            "plan",
            "promo_code",
            "tid",
            "ref_id",
            "skip_email_notification",
            "created_at",
            "subscription_id",
            "start_recurring_reward_in",
            "recurring_reward_frequency",
            "max_recurring",
            "ecom_sale",
        ],
    )

    def get_fieldsets(self, request: HttpRequest, obj: Sale | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or obj.order_changed_at is None:
            return fieldsets
        # First on the page: FirstPromoter counted what was sent, and only a person
        # can settle the difference (a refund, or a correction in FirstPromoter).
        changed = (
            _("The order changed after it was reported"),
            {
                "fields": ["order_changed_at", "order_changes"],
                "description": _(
                    "FirstPromoter keeps what was sent. Report a lower amount as a "
                    "refund, or correct the sale in FirstPromoter's dashboard."
                ),
            },
        )
        return [changed, *fieldsets]

    @admin.display(description=_("the customer's cancellation"))
    def cancellations(self, sale: Sale) -> str:
        return admin_links.cancellations_of(sale)


@admin.register(Refund)
class RefundAdmin(MoneyEventAdmin):
    records = "refunds"
    list_display = money_list("sale_link")
    search_fields = ["event_id", "sale_event_id", "email", "uid"]
    list_select_related = ["sale"]
    inlines = [RefundRewardInline]
    readonly_fields = [
        "status_badge",
        "amount_display",
        "sale_link",
        "order_link",
        "webhook_events",
        *TIMES,
    ]
    fieldsets = money_fieldsets(
        ["sale_link", "order_link", "webhook_events"],
        ["amount_minor", "quantity", "sale_event_id", "skip_email_notification", "created_at"],
    )

    @admin.display(description=_("sale"))
    def sale_link(self, refund: Refund) -> str:
        if refund.sale is None:
            return refund.sale_event_id or "—"
        return admin_links.change_link(refund.sale, refund.sale.event_id)


def customer_fieldsets(*fields: str) -> list[Any]:
    """A cancellation's or a signup's page: its story, its customer, how it went."""
    head = ["summary", "event_id", "status_badge", "email", "uid", *fields, "last_error"]
    return [(None, {"fields": head}), (_("Delivery"), {"fields": DELIVERY_FIELDS})]


@admin.register(Cancellation)
class CancellationAdmin(DeliveryAdmin):
    records = "cancellations"
    list_display = ["event_id", "customer", "status_badge", "attempt_count", "recorded_short"]
    search_fields = ["event_id", "email", "uid"]
    readonly_fields = ["status_badge", "sales", *TIMES]
    fieldsets = customer_fieldsets("sales")

    @admin.display(description=_("the customer's sales"))
    def sales(self, cancellation: Cancellation) -> str:
        return admin_links.sales_of(cancellation)


@admin.register(Signup)
class SignupAdmin(DeliveryAdmin):
    records = "signups"
    list_display = [
        "event_id",
        "customer",
        "referral",
        "status_badge",
        "attempt_count",
        "recorded_short",
    ]
    search_fields = ["event_id", "email", "uid", "tid", "ref_id"]
    readonly_fields = ["status_badge", *TIMES]
    fieldsets = customer_fieldsets("tid", "ref_id")

    @admin.display(description=_("referral"))
    def referral(self, signup: Signup) -> str:
        return signup.tid or signup.ref_id


def reward_total(rewards: Iterable[Reward], currency: str) -> str:
    totals: Counter[str] = Counter()
    for reward in rewards:
        totals[reward.unit] += reward.amount
    if not totals:
        return "—"
    return ", ".join(
        format_amount(amount, unit, currency) for unit, amount in sorted(totals.items())
    )


def order_link(record: Sale | Refund) -> str:
    from django_firstpromoter.order_urls import url_for

    if record.order_content_type is None:
        return "—"
    order = record.order
    if order is None:
        return f"#{record.order_object_id} (deleted)"
    label = str(order)
    # A shop framework's own order page (order_urls), else the admin's change form.
    url = url_for(order)
    if url is None:
        ct = record.order_content_type
        try:
            url = reverse(f"admin:{ct.app_label}_{ct.model}_change", args=[record.order_object_id])
        except NoReverseMatch:
            return label
    return format_html('<a href="{}">{}</a>', url, label)


def retry_message(opts: Any, results: Counter[str], left_alone: int) -> str:
    sent = sum(results.values())
    parts = [_("%(count)d %(items)s sent") % {"count": sent, "items": model_ngettext(opts, sent)}]
    if sent:
        labels = dict(DeliveryStatus.choices)
        parts[0] += ": " + ", ".join(
            f"{count} {str(labels[status]).lower()}" for status, count in sorted(results.items())
        )
    if left_alone:
        parts.append(
            ngettext(
                "%d left alone: it is tracked, not a referral or being sent.",
                "%d left alone: they are tracked, not referrals or being sent.",
                left_alone,
            )
            % left_alone
        )
    return ". ".join(parts) + "."


def admin_config(modeladmin: admin.ModelAdmin, request: HttpRequest) -> Config | None:
    """The settings, for an action that calls FirstPromoter's admin API; None, the
    operator told why, when it cannot be called."""
    try:
        config = get_config()
    except ImproperlyConfigured as exc:
        modeladmin.message_user(request, _("Nothing was asked: %s") % exc, messages.ERROR)
        return None
    if not commissions.available(config):
        modeladmin.message_user(
            request,
            _("FirstPromoter's admin API needs FIRSTPROMOTER['ACCOUNT_ID'], for v1 accounts too."),
            messages.ERROR,
        )
        return None
    return config


def refresh(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    work: Callable[[Config], list[str]],
    note: str = "",
) -> None:
    """Run a refresh and tell the operator what changed, or why it stopped."""
    config = admin_config(modeladmin, request)
    if config is None:
        return
    try:
        changed = work(config)
    except commissions.AdminError as exc:
        modeladmin.message_user(
            request, _("FirstPromoter could not be asked: %s") % exc, messages.ERROR
        )
        return
    text = (
        _("Refreshed from FirstPromoter: %s.") % "; ".join(changed)
        if changed
        else _("Refreshed from FirstPromoter: nothing changed.")
    )
    modeladmin.message_user(request, " ".join(filter(None, [str(text), note])), messages.SUCCESS)


@admin.register(Reward)
class RewardAdmin(ViewOnlyAdmin):
    list_display = [
        "firstpromoter_id",
        "promoter_email",
        "amount_display",
        "status",
        "paid_words",
        "sale_link",
        "created",
    ]
    list_filter = ["status", "paid", "unit"]
    search_fields = ["promoter_email", "lead_email"]
    list_select_related = ["sale", "refund"]
    readonly_fields = (
        "firstpromoter_id",
        "sale_link",
        "webhook_events",
        "promoter_id",
        "promoter_email",
        "amount_display",
        "status",
        "paid",
        "firstpromoter_updated_at",
        "status_updated_at",
        "confirmed",
        "tier",
        "unit",
        "lead_id",
        "lead_email",
        "created_at",
        "recorded_at",
        "raw_json",
    )
    fields = readonly_fields

    actions = ["refresh_from_firstpromoter", "approve_rewards", "deny_rewards"]

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, reward: Reward) -> str:
        return reward.amount_display

    @admin.display(description=_("created at"), ordering="created_at")
    def created(self, reward: Reward) -> str:
        return in_a_column(reward.created_at)

    @admin.display(description=_("paid"), ordering="paid")
    def paid_words(self, reward: Reward) -> str:
        return paid_in_words(reward)

    @admin.display(description=_("last confirmed with FirstPromoter"))
    def confirmed(self, reward: Reward) -> str:
        if reward.confirmed_at is None:
            return "—"
        return _("%(when)s, by %(source)s") % {
            "when": formats.localize(timezone.localtime(reward.confirmed_at)),
            "source": reward.get_confirmed_by_display(),
        }

    def has_approve_permission(self, request: HttpRequest) -> bool:
        """Approving or denying pays or withholds a promoter's money: a permission of
        its own (``approve_reward``), not just a view or change of the rows."""
        opts = self.model._meta
        return bool(request.user.has_perm(f"{opts.app_label}.approve_{opts.model_name}"))

    @admin.action(description=_("Refresh from FirstPromoter"), permissions=["view"])
    def refresh_from_firstpromoter(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        refresh(self, request, lambda config: lookups.refresh_rewards(config, queryset))

    @admin.action(description=_("Approve commission"), permissions=["approve"])
    def approve_rewards(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        return self.act(request, queryset, "approve")

    @admin.action(description=_("Deny commission"), permissions=["approve"])
    def deny_rewards(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        return self.act(request, queryset, "deny")

    def act(self, request: HttpRequest, queryset: QuerySet[Any], action: str) -> Any:
        """A confirmation page first (FirstPromoter's decision is the promoter's money);
        then the one call, and what FirstPromoter answered."""
        rewards = list(queryset.exclude(firstpromoter_id=None).select_related("sale", "refund"))
        if request.POST.get("post") != "yes":
            return TemplateResponse(
                request,
                "admin/django_firstpromoter/reward/confirm_commission_action.html",
                {
                    **self.admin_site.each_context(request),
                    "title": _("Approve commissions?")
                    if action == "approve"
                    else _("Deny commissions?"),
                    "opts": self.model._meta,
                    "rewards": rewards,
                    "action": f"{action}_rewards",
                    "verb": _("Approve") if action == "approve" else _("Deny"),
                    "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )
        config = admin_config(self, request)
        if config is None or not rewards:
            return None
        ids = sorted(reward.firstpromoter_id for reward in rewards)
        try:
            answer = commissions.act(config, action, ids)
        except commissions.AdminError as exc:
            self.message_user(request, _("FirstPromoter refused: %s") % exc, messages.ERROR)
            return None
        if answer.batch_status == "completed":
            changed = lookups.refresh_rewards(
                config, Reward.objects.filter(firstpromoter_id__in=ids)
            )
            text = _("FirstPromoter did it: %s.") % ("; ".join(changed) or _("nothing changed"))
        else:
            text = _(
                "FirstPromoter took the %(count)d commissions as a batch (%(status)s): it works "
                "through them shortly; refresh them later to see the result."
            ) % {"count": len(ids), "status": answer.batch_status or _("no status")}
        self.message_user(request, text, messages.SUCCESS)
        return None

    @admin.display(description=_("for"))
    def sale_link(self, reward: Reward) -> str:
        return admin_links.event_of(reward)

    @admin.display(description=_("webhook events"))
    def webhook_events(self, reward: Reward) -> str:
        return admin_links.webhook_events_of(reward)

    @admin.display(description=_("as received"))
    def raw_json(self, reward: Reward) -> str:
        return json_block(reward.raw)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ViewOnlyAdmin):
    list_display = [
        "event_id",
        "event_type",
        "applied",
        "reward_link",
        "note",
        "received",
    ]
    list_filter = ["applied", "event_type", "received_at"]
    search_fields = ["event_id"]
    date_hierarchy = "received_at"
    list_select_related = ["reward"]
    readonly_fields = (
        "event_id",
        "event_type",
        "received_at",
        "applied",
        "note",
        "commission_id",
        "reward_link",
        "record_link",
        "payload_json",
    )
    fields = readonly_fields
    # The links from a sale's or a refund's page to the events about its rewards.
    RECORD_LOOKUPS = ("reward__sale__id__exact", "reward__refund__id__exact")

    def lookup_allowed(self, lookup: str, value: str, request: Any = None) -> bool:
        return lookup in self.RECORD_LOOKUPS or super().lookup_allowed(lookup, value, request)

    @admin.display(description=_("commission"))
    def reward_link(self, event: WebhookEvent) -> str:
        # The commission's id, linked to its reward when one is recorded here.
        if event.reward is None:
            return str(event.commission_id or "—")
        return admin_links.change_link(event.reward, event.reward.firstpromoter_id)

    @admin.display(description=_("received at"), ordering="received_at")
    def received(self, event: WebhookEvent) -> str:
        return in_a_column(event.received_at)

    @admin.display(description=_("for"))
    def record_link(self, event: WebhookEvent) -> str:
        return "—" if event.reward is None else admin_links.event_of(event.reward)

    @admin.display(description=_("payload"))
    def payload_json(self, event: WebhookEvent) -> str:
        return json_block(event.payload)


PERIODS = ("7", "30", "90")
"""The overview's periods, in days, that the page offers."""


@admin.register(Overview)
class OverviewAdmin(ViewOnlyAdmin):
    """The FirstPromoter overview: is affiliate tracking healthy, without reading rows.
    For staff who may view sales."""

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.overview_view)
        # The contract's name, and the one the app index links a model by.
        return [
            path("", view, name="django_firstpromoter_overview"),
            path("", view, name="django_firstpromoter_overview_changelist"),
        ]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("django_firstpromoter.view_sale"))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def overview_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        # The period: a week, a month (the default) or a quarter, from the query string.
        asked = request.GET.get("days", "")
        days = int(asked) if asked in PERIODS else overview.DAYS
        found = overview.build(period_days=days)
        queues = [
            (
                {
                    "label": str(kind.model._meta.verbose_name_plural).capitalize(),
                    "url": f"admin:django_firstpromoter_{kind.model._meta.model_name}_changelist",
                },
                status.rows(),
            )
            for kind, status in found.queues
        ]
        waiting = any(status.due_now for _, status in found.queues)
        last = found.last_attempt_at
        idle = waiting and (last is None or timezone.now() - last > datetime.timedelta(hours=1))

        def shown(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [
                {
                    **row,
                    "amount_display": format_amount(
                        row["amount"] or 0, row["unit"], row["sale__currency"] or ""
                    ),
                }
                for row in rows
            ]

        context = {
            **self.admin_site.each_context(request),
            "title": _("FirstPromoter overview"),
            "last_tracked_at": moment(found.last_tracked_at),
            "last_attempt_at": moment(last),
            "app_label_name": self.model._meta.app_config.verbose_name,
            "opts": self.model._meta,
            "overview": found,
            "queues": queues,
            "first_queue_rows": queues[0][1] if queues else [],
            "sender_idle": idle,
            "days": days,
            "periods": [(int(each), int(each) == days) for each in PERIODS],
            "charts": [
                overview.chart(
                    str(model._meta.verbose_name_plural).capitalize(),
                    found.days[model._meta.model_name or ""],
                )
                for model in overview.CHARTED
            ],
            "commissions_by_status": shown(found.commissions_by_status),
            "commissions_by_promoter": shown(found.commissions_by_promoter),
        }
        return TemplateResponse(
            request, "admin/django_firstpromoter/overview/overview.html", context
        )
