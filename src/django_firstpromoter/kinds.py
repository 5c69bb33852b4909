"""The four kinds of event, each described once: its model, its call to FirstPromoter,
its outcome signals, its task and where its rewards belong.

The worker's rotation, the tasks, the admin's inlines, the signals sent and the
checks are built from ``KINDS``. A fifth kind is a model (and its attempt model),
a call in ``protocol``, its three signals, a task, an admin, its ``track_*``
function, and an entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.dispatch import Signal

from django_firstpromoter import protocol, signals
from django_firstpromoter.conf import Config
from django_firstpromoter.models import Cancellation, Refund, Sale, Signup, TrackedEvent
from django_firstpromoter.statuses import DeliveryStatus

#: The statuses a record's fate is told by, each with a signal ``<kind>_<status>``.
OUTCOMES = (
    DeliveryStatus.TRACKED,
    DeliveryStatus.NOT_REFERRAL,
    DeliveryStatus.FAILED,
    DeliveryStatus.DUPLICATE,
)


@dataclass(frozen=True)
class Kind:
    name: str
    """The call's name (``POST …/sale``), the outcome signals' prefix and their
    keyword argument (``sale_tracked.send(sender=Sale, sale=…)``)."""
    model: type[TrackedEvent]
    reward_links: Callable[[Any], dict[str, Any]] | None = None
    """Where the rewards of this kind's answers belong; None: it has none."""
    dependents: Callable[[int], QuerySet[Any]] | None = None
    """The records about one of this kind (by its pk) that are sent after it (a
    sale's refunds): when it turns out a duplicate, those still waiting are settled
    with it, unsent, since FirstPromoter would apply them to another's event; in task
    mode, once it is settled, its task queues theirs."""

    def params(self, record: TrackedEvent, config: Config) -> dict[str, Any]:
        return protocol.request_params(
            self.name, record, config.api_version, config.event_id_prefix
        )

    def signal(self, status: str) -> Signal | None:
        """The signal that tells ``status``, or None when that status is no outcome."""
        return getattr(signals, f"{self.name}_{status}") if status in OUTCOMES else None

    @property
    def attempt_model(self) -> type[Any]:
        return self.model._meta.get_field("attempts").related_model  # type: ignore[misc]

    @property
    def task_name(self) -> str:
        """Its task's name in ``tasks``: a documented import path, kept as queued."""
        return f"deliver_{self.name}"


KINDS: tuple[Kind, ...] = (
    Kind("signup", Signup),
    Kind(
        "sale",
        Sale,
        reward_links=lambda sale: {"sale": sale},
        dependents=lambda sale_pk: Refund.objects.filter(sale_id=sale_pk),
    ),
    Kind(
        "refund", Refund, reward_links=lambda refund: {"sale_id": refund.sale_id, "refund": refund}
    ),
    Kind("cancellation", Cancellation),
)
"""In the order a customer's events happen: a lead before its sale, a sale before
its refund. The worker drains them in this order; ``Refund.ready`` keeps a refund
behind its sale."""

TRACKED_MODELS: tuple[type[TrackedEvent], ...] = tuple(kind.model for kind in KINDS)
_BY_MODEL = {kind.model: kind for kind in KINDS}
_BY_NAME = {kind.name: kind for kind in KINDS}


def kind_of(model_or_record: type[TrackedEvent] | TrackedEvent) -> Kind:
    model = model_or_record if isinstance(model_or_record, type) else type(model_or_record)
    return _BY_MODEL[model]


def kind_named(name: str) -> Kind:
    """The kind called ``name``, as a queued job names it; KeyError for no kind."""
    return _BY_NAME[name]
