"""The sandbox's FirstPromoter account: promoters, referral visits, leads, and what they earned.

Plain data behind one lock: the server's threads change it while a test reads it,
and a reader must never see a sale without its lead. Every record is frozen, so a
snapshot handed out stays true to the moment it was taken.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import itertools
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Promoter:
    id: int
    ref_id: str
    name: str
    email: str
    commission_rate: Decimal
    """Percent of each sale, e.g. ``Decimal(20)``."""
    promo_code: str = ""
    banned: bool = False


DEFAULT_PROMOTERS = (
    Promoter(
        id=1001,
        ref_id="alice",
        name="Alice Example",
        email="alice@promoters.example",
        commission_rate=Decimal(20),
        promo_code="ALICE10",
    ),
    Promoter(
        id=1002,
        ref_id="bob",
        name="Bob Example",
        email="bob@promoters.example",
        commission_rate=Decimal(30),
    ),
)


@dataclass(frozen=True)
class Click:
    """A referral visit, as fpr.js reports it: its ``tid`` later names the promoter."""

    tid: str
    promoter: str
    created_at: str


@dataclass(frozen=True)
class Lead:
    id: int
    email: str
    uid: str
    promoter: str
    source: str
    """How it was credited to its promoter: ``tid``, ``ref_id`` or ``promo_code``."""
    state: str
    """``signup``, ``active`` (it has bought) or ``cancelled``."""
    created_at: str
    customer_since: str | None = None
    cancelled_at: str | None = None


@dataclass(frozen=True)
class Event:
    """A sale or a refund FirstPromoter credited to a promoter, with its commission."""

    id: int
    type: str
    event_id: str
    amount: int
    """Minor units as sent; positive for a refund too."""
    currency: str
    email: str
    uid: str
    lead_id: int
    promoter: str
    commission: int
    """Minor units; negative for a refund."""
    commission_id: int
    api_version: int
    created_at: str
    plan: str = ""
    sale_event_id: str = ""


@dataclass(frozen=True)
class Commission:
    """What the admin API lists: one per sale or refund credited, or added by a test.

    Its id is the one the tracking answer gave (``commissions[].id``, ``reward.id``),
    so that an app can match what it was told with what FirstPromoter now says.
    """

    id: int
    event_id: str
    """The sale's or refund's ``event_id`` as sent."""
    status: str
    """``pending``, ``approved`` or ``denied``."""
    amount: int
    """Minor units; negative for a refund."""
    unit: str
    sale_amount: int
    currency: str
    lead_id: int | None
    promoter: str
    created_at: str
    kind: str = "sale"
    """The spec's ``commission_type``: ``sale`` when tracked, ``custom`` when added."""
    is_paid: bool = False
    status_updated_at: str | None = None
    plan: str = ""


COMMISSION_STATUSES = ("pending", "approved", "denied")


@dataclass(frozen=True)
class Batch:
    """An approve or deny of more than five commissions, done later, as FirstPromoter does."""

    id: int
    action: str
    """``approve`` or ``deny``."""
    ids: tuple[int, ...]
    status: str
    """``pending`` until applied, then ``completed``."""
    created_at: str
    updated_at: str
    processed_count: int = 0
    failed_count: int = 0
    processing_errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Request:
    """One call to the tracking API, whatever became of it."""

    id: int
    method: str
    path: str
    api_version: int
    call: str
    params: dict[str, Any]
    at: str
    status: int | None = None
    """What the sandbox answered; None when it answered nothing (a timeout or lost fault)."""
    fault: str = ""


def now_iso() -> str:
    """UTC to the millisecond with a ``Z``, the way FirstPromoter writes its times."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class World:
    def __init__(self, promoters: Iterable[Promoter] = DEFAULT_PROMOTERS) -> None:
        self.lock = threading.RLock()
        self._promoters = {promoter.ref_id: promoter for promoter in promoters}
        # Ids keep counting across resets, so that a record made before a reset is
        # never confused with one made after it (the app keeps commission ids unique).
        self._ids = itertools.count(20001)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.opened_at = now_iso()
            self._clicks: dict[str, Click] = {}
            self._leads: dict[int, Lead] = {}
            self._events: list[Event] = []
            self._requests: dict[int, Request] = {}
            # Lookups by key, so that a call costs the same with 100,000 sales recorded
            # as with one: the benchmarks drain backlogs that big through the sandbox.
            self._lead_by_uid: dict[str, int] = {}
            self._lead_by_email: dict[str, int] = {}
            self._event_by_id: dict[tuple[str, str], Event] = {}
            self._earnings: collections.Counter[str] = collections.Counter()
            self._commissions: dict[int, Commission] = {}
            self._commissions_by_event: dict[str, list[int]] = collections.defaultdict(list)
            self._commissions_by_lead: dict[int, list[int]] = collections.defaultdict(list)
            self._batches: dict[int, Batch] = {}

    def next_id(self) -> int:
        with self.lock:
            return next(self._ids)

    @property
    def promoters(self) -> list[Promoter]:
        return list(self._promoters.values())

    @property
    def clicks(self) -> list[Click]:
        with self.lock:
            return list(self._clicks.values())

    @property
    def leads(self) -> list[Lead]:
        with self.lock:
            return list(self._leads.values())

    @property
    def events(self) -> list[Event]:
        with self.lock:
            return list(self._events)

    @property
    def requests(self) -> list[Request]:
        with self.lock:
            return list(self._requests.values())

    def lead(self, id: int) -> Lead | None:
        with self.lock:
            return self._leads.get(id)

    def promoter(self, ref_id: str) -> Promoter | None:
        return self._promoters.get(ref_id)

    def promoter_of(self, lead: Lead) -> Promoter:
        return self._promoters[lead.promoter]

    def promoter_by_code(self, code: str) -> Promoter | None:
        # Shoppers type coupon codes in any case.
        for promoter in self._promoters.values():
            if promoter.promo_code and promoter.promo_code.casefold() == code.casefold():
                return promoter
        return None

    def click(self, ref_id: str) -> Click | None:
        """A new referral visit for the promoter with ``ref_id``, or None for an unknown one."""
        if ref_id not in self._promoters:
            return None
        click = Click(tid=str(uuid.uuid4()), promoter=ref_id, created_at=now_iso())
        with self.lock:
            self._clicks[click.tid] = click
        return click

    def clicked(self, tid: str) -> Promoter | None:
        """The promoter whose referral visit ``tid`` was, if it was one."""
        with self.lock:
            click = self._clicks.get(tid)
        return None if click is None else self._promoters[click.promoter]

    def find_lead(self, email: str, uid: str) -> Lead | None:
        """The lead with this uid, else with this email: a uid outlives an email change."""
        with self.lock:
            found = (uid and self._lead_by_uid.get(uid)) or (
                email and self._lead_by_email.get(email.casefold())
            )
            return self._leads[found] if found else None

    def new_lead(self, email: str, uid: str, promoter: Promoter, source: str) -> Lead:
        return self.save_lead(
            Lead(
                id=self.next_id(),
                email=email,
                uid=uid,
                promoter=promoter.ref_id,
                source=source,
                state="signup",
                created_at=now_iso(),
            )
        )

    def save_lead(self, lead: Lead, **changes: Any) -> Lead:
        lead = dataclasses.replace(lead, **changes)
        with self.lock:
            before = self._leads.get(lead.id)
            if before is not None:
                for index, key in (
                    (self._lead_by_uid, before.uid),
                    (self._lead_by_email, before.email.casefold()),
                ):
                    if key and index.get(key) == lead.id:
                        del index[key]
            self._leads[lead.id] = lead
            # The first lead with a uid or an email keeps it, as a search in order would.
            if lead.uid:
                self._lead_by_uid.setdefault(lead.uid, lead.id)
            if lead.email:
                self._lead_by_email.setdefault(lead.email.casefold(), lead.id)
        return lead

    def find_event(self, type: str, event_id: str) -> Event | None:
        with self.lock:
            return self._event_by_id.get((type, event_id))

    def add_event(self, event: Event, status: str, unit: str) -> Commission:
        """Record a credited sale or refund and the commission it earned."""
        with self.lock:
            self._events.append(event)
            self._event_by_id.setdefault((event.type, event.event_id), event)
            return self.save_commission(
                Commission(
                    id=event.commission_id,
                    event_id=event.event_id,
                    status=status,
                    amount=event.commission,
                    unit=unit,
                    sale_amount=-event.amount if event.type == "refund" else event.amount,
                    currency=event.currency,
                    lead_id=event.lead_id,
                    promoter=event.promoter,
                    created_at=event.created_at,
                    plan=event.plan,
                )
            )

    def earnings(self, ref_id: str) -> int:
        """What the promoter's commissions add up to, denied ones left out."""
        with self.lock:
            return self._earnings[ref_id]

    @property
    def commissions(self) -> list[Commission]:
        with self.lock:
            return list(self._commissions.values())

    def commission(self, id: int) -> Commission | None:
        with self.lock:
            return self._commissions.get(id)

    def commissions_for(self, event_id: str) -> list[Commission]:
        """Those of that ``event_id``, without a scan: an app looks them up one sale at a time."""
        with self.lock:
            return [self._commissions[id] for id in self._commissions_by_event.get(event_id, ())]

    def search_commissions(self, q: str) -> list[Commission]:
        """Those whose ``event_id`` is ``q``, or whose referral's uid or email (in any
        case) is, oldest first; by key, as ``commissions_for``."""
        with self.lock:
            ids = set(self._commissions_by_event.get(q, ()))
            for lead_id in (self._lead_by_uid.get(q), self._lead_by_email.get(q.casefold())):
                if lead_id is not None:
                    ids.update(self._commissions_by_lead.get(lead_id, ()))
            return [self._commissions[id] for id in sorted(ids)]

    def save_commission(self, commission: Commission, **changes: Any) -> Commission:
        """Add or change one; a new status is stamped with the time it changed."""
        if "status" in changes and changes["status"] != commission.status:
            changes["status_updated_at"] = now_iso()
        commission = dataclasses.replace(commission, **changes)
        if commission.status not in COMMISSION_STATUSES:
            raise ValueError(
                f"status must be one of {COMMISSION_STATUSES}, not {commission.status!r}"
            )
        with self.lock:
            before = self._commissions.get(commission.id)
            if before is None:
                self._commissions_by_event[commission.event_id].append(commission.id)
                if commission.lead_id is not None:
                    self._commissions_by_lead[commission.lead_id].append(commission.id)
            else:
                self._earnings[before.promoter] -= earned(before)
            self._commissions[commission.id] = commission
            self._earnings[commission.promoter] += earned(commission)
        return commission

    def delete_commission(self, id: int) -> Commission | None:
        """Forget it, as FirstPromoter's ``destroy`` does; None if there was none."""
        with self.lock:
            commission = self._commissions.pop(id, None)
            if commission is not None:
                self._commissions_by_event[commission.event_id].remove(id)
                if commission.lead_id is not None:
                    self._commissions_by_lead[commission.lead_id].remove(id)
                self._earnings[commission.promoter] -= earned(commission)
            return commission

    def add_commission(
        self,
        event_id: str,
        amount: int,
        status: str = "pending",
        *,
        promoter: str | None = None,
        is_paid: bool = False,
    ) -> Commission:
        """A ``custom`` commission for ``event_id``: the referral and promoter of that
        event's first commission, else ``promoter``'s with no referral."""
        with self.lock:
            known = self.commissions_for(event_id)
            model = known[0] if known else None
            ref_id = promoter or (model.promoter if model else None)
            if ref_id not in self._promoters:
                raise ValueError(f"name a promoter: no commission has the event_id {event_id!r}")
            return self.save_commission(
                Commission(
                    id=self.next_id(),
                    event_id=event_id,
                    status=status,
                    amount=amount,
                    unit=model.unit if model else "cash",
                    sale_amount=model.sale_amount if model else 0,
                    currency=model.currency if model else "USD",
                    lead_id=model.lead_id if model and ref_id == model.promoter else None,
                    promoter=ref_id,
                    created_at=now_iso(),
                    kind="custom",
                    is_paid=is_paid,
                )
            )

    @property
    def batches(self) -> list[Batch]:
        with self.lock:
            return list(self._batches.values())

    def save_batch(self, batch: Batch) -> Batch:
        with self.lock:
            self._batches[batch.id] = batch
        return batch

    def record_request(
        self, method: str, path: str, api_version: int, call: str, params: dict[str, Any]
    ) -> Request:
        request = Request(
            id=self.next_id(),
            method=method,
            path=path,
            api_version=api_version,
            call=call,
            params=params,
            at=now_iso(),
        )
        with self.lock:
            self._requests[request.id] = request
        return request

    def finish_request(self, request: Request, status: int | None, fault: str = "") -> None:
        with self.lock:
            # A reset while the request was held has forgotten it already.
            if request.id in self._requests:
                self._requests[request.id] = dataclasses.replace(
                    request, status=status, fault=fault
                )

    def state(self) -> dict[str, Any]:
        """Everything, as JSON-ready dicts."""
        with self.lock:
            events = list(self._events)
            return {
                "promoters": [
                    {**_plain(promoter), "earnings": self.earnings(promoter.ref_id)}
                    for promoter in self._promoters.values()
                ],
                "clicks": [_plain(click) for click in self._clicks.values()],
                "leads": [_plain(lead) for lead in self._leads.values()],
                "sales": [_plain(event) for event in events if event.type == "sale"],
                "refunds": [_plain(event) for event in events if event.type == "refund"],
                "commissions": [_plain(commission) for commission in self._commissions.values()],
                "batches": [_plain(batch) for batch in self._batches.values()],
                "requests": [_plain(request) for request in self._requests.values()],
            }


def earned(commission: Commission) -> int:
    """What it adds to its promoter's earnings: a denied commission is never paid."""
    return 0 if commission.status == "denied" else commission.amount


def _plain(record: Any) -> dict[str, Any]:
    return {
        name: str(value) if isinstance(value, Decimal) else value
        for name, value in dataclasses.asdict(record).items()
    }
