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

    def add_event(self, event: Event) -> None:
        with self.lock:
            self._events.append(event)
            self._event_by_id.setdefault((event.type, event.event_id), event)
            self._earnings[event.promoter] += event.commission

    def earnings(self, ref_id: str) -> int:
        with self.lock:
            return self._earnings[ref_id]

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
                "requests": [_plain(request) for request in self._requests.values()],
            }


def _plain(record: Any) -> dict[str, Any]:
    return {
        name: str(value) if isinstance(value, Decimal) else value
        for name, value in dataclasses.asdict(record).items()
    }
