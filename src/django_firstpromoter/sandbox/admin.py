"""FirstPromoter's v2 admin ("company") API for commissions: list, approve, deny.

What an app needs to find out what FirstPromoter recorded for its sales (after a
lost answer, or when someone changed a commission in FirstPromoter's dashboard),
as ``openapi-v2-commissions.json`` describes it. The query string follows Rails'
conventions, as FirstPromoter's does: ``ids[]=1&ids[]=2``, ``filters[status]=...``,
``filters[created_at][from]=2026-01-31``.

An approve or deny of more than five ids is a batch, answered 202 and applied on
the sandbox's next admin call (before that call is answered), so that an app
polling ``GET /commissions`` after a 202 sees it done, while a test can see that
the 202 itself promised nothing.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from django_firstpromoter.sandbox import shapes
from django_firstpromoter.sandbox.api import Reply
from django_firstpromoter.sandbox.world import Batch, Commission, World, now_iso

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
# More ids than this in one approve or deny, and FirstPromoter does it later.
SYNC_LIMIT = 5
ACTIONS = {"approve": "approved", "deny": "denied"}
INVALID = "invalid_parameters"
SORTABLE = ("created_at", "amount", "sale_amount")


class Unmatchable(Exception):
    """A filter value no commission can have: the list is empty, as a SQL ``where`` on a
    value that is never stored would leave it (the spec documents no 4xx for a list)."""


def query(text: str) -> dict[str, list[str]]:
    return parse_qs(text, keep_blank_values=True)


def list_commissions(world: World, params: dict[str, list[str]]) -> Reply:
    """``GET /commissions``: the spec's answer is a bare array, with no paging envelope; a
    page shorter than ``per_page`` is the last."""
    with world.lock:
        run_batches(world)
        try:
            found = [c for c in _candidates(world, params) if _kept(world, c, params)]
        except Unmatchable:
            found = []
        page = _sorted(found, params)[_page_slice(params)]
        return Reply(200, [shapes.admin_commission(world, c) for c in page])


def _first(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


def _candidates(world: World, params: dict[str, list[str]]) -> list[Commission]:
    """Every commission ``q`` and ``ids[]`` name, looked up by key rather than by a scan:
    the benchmarks keep 100,000 sales in the sandbox.

    FirstPromoter's ``q`` is taken as the ``event_id`` exactly, or the referral's email
    (in any case) or uid. The spec does not say whether its search is exact: an app
    should still compare the ``event_id`` of what comes back.
    """
    q = (_first(params, "q") or "").strip()
    # One id that is not a whole number names no commission.
    wanted = {int(v) for v in params["ids[]"] if v.isdigit()} if "ids[]" in params else None
    if q:
        found = world.search_commissions(q)
    elif wanted is not None:
        found = [c for c in map(world.commission, sorted(wanted)) if c is not None]
    else:
        found = world.commissions
    if wanted is not None:
        found = [commission for commission in found if commission.id in wanted]
    return found


def _kept(world: World, commission: Commission, params: dict[str, list[str]]) -> bool:
    return all(check(world, commission, params) for check in FILTERS)


def _status(world: World, commission: Commission, params: dict[str, list[str]]) -> bool:
    wanted = _first(params, "filters[status]")
    return wanted in (None, "", commission.status)


def _paid(world: World, commission: Commission, params: dict[str, list[str]]) -> bool:
    wanted = _first(params, "filters[paid]")
    if wanted in (None, ""):
        return True
    if wanted not in ("yes", "no"):
        raise Unmatchable(wanted)
    return commission.is_paid == (wanted == "yes")


def _created(world: World, commission: Commission, params: dict[str, list[str]]) -> bool:
    """``from`` and ``to`` are dates, both days included."""
    day = commission.created_at[:10]
    start = _date(_first(params, "filters[created_at][from]"))
    end = _date(_first(params, "filters[created_at][to]"))
    return (start is None or start <= day) and (end is None or day <= end)


def _date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return datetime.date.fromisoformat(value).isoformat()
    except ValueError:
        raise Unmatchable(value) from None


def _promoter(world: World, commission: Commission, params: dict[str, list[str]]) -> bool:
    wanted = _first(params, "filters[promoter_id]")
    if not wanted:
        return True
    promoter = world.promoter(commission.promoter)
    return promoter is not None and wanted == str(promoter.id)


FILTERS: tuple[Callable[[World, Commission, dict[str, list[str]]], bool], ...] = (
    _status,
    _paid,
    _created,
    _promoter,
)


def _sorted(found: list[Commission], params: dict[str, list[str]]) -> list[Commission]:
    """Newest first, unless ``sorting[created_at|amount|sale_amount]`` says otherwise."""
    for name in SORTABLE:
        direction = _first(params, f"sorting[{name}]")
        if direction in ("asc", "desc"):
            return sorted(
                found, key=lambda c: (getattr(c, name), c.id), reverse=direction == "desc"
            )
    return sorted(found, key=lambda c: (c.created_at, c.id), reverse=True)


def _page_slice(params: dict[str, list[str]]) -> slice:
    """``page`` from 1, ``per_page`` 20 by default and at most 100; a value that is not a
    positive whole number counts as not given."""
    page = _positive(_first(params, "page")) or 1
    per_page = min(_positive(_first(params, "per_page")) or DEFAULT_PER_PAGE, MAX_PER_PAGE)
    return slice((page - 1) * per_page, page * per_page)


def _positive(value: str | None) -> int | None:
    if value is None or not value.isdigit() or int(value) < 1:
        return None
    return int(value)


def act(world: World, action: str, body: bytes) -> Reply:
    """``POST /commissions/approve`` or ``/deny``: up to five ids at once (200), more as a
    batch (202, ``pending``) that the next admin call applies."""
    ids = _ids(body)
    if isinstance(ids, Reply):
        return ids
    with world.lock:
        run_batches(world)
        now = now_iso()
        batch = Batch(
            id=world.next_id(),
            action=action,
            ids=tuple(ids),
            status="pending",
            created_at=now,
            updated_at=now,
        )
        if len(ids) <= SYNC_LIMIT:
            return Reply(200, batch_v2(world.save_batch(_apply(world, batch))))
        return Reply(202, batch_v2(world.save_batch(batch)))


def _ids(body: bytes) -> list[int] | Reply:
    """The body's ``ids``, or the 422 the spec documents for invalid parameters."""
    try:
        data = json.loads(body or b"null")
    except ValueError:
        data = None
    ids = data.get("ids") if isinstance(data, dict) else None
    if not isinstance(ids, list) or not ids:
        return Reply(
            422, {"message": "ids must be a non-empty array of commission ids.", "code": INVALID}
        )
    if not all(type(id) is int for id in ids):
        return Reply(422, {"message": "ids must be integers.", "code": INVALID})
    return ids


def run_batches(world: World) -> None:
    """Apply every batch still pending, oldest first."""
    with world.lock:
        for batch in world.batches:
            if batch.status == "pending":
                world.save_batch(_apply(world, batch))


def _apply(world: World, batch: Batch) -> Batch:
    """Set each commission's status; an unknown id fails and is listed in the errors."""
    status = ACTIONS[batch.action]
    errors = []
    for id in batch.ids:
        commission = world.commission(id)
        if commission is None:
            errors.append(f"Commission {id} not found.")
        else:
            world.save_commission(commission, status=status)
    return dataclasses.replace(
        batch,
        status="completed",
        updated_at=now_iso(),
        processed_count=len(batch.ids) - len(errors),
        failed_count=len(errors),
        processing_errors=tuple(errors),
    )


def batch_v2(batch: Batch) -> dict[str, Any]:
    """The spec's ``BatchOperationResponse``."""
    done = batch.processed_count + batch.failed_count
    return {
        "id": batch.id,
        "status": batch.status,
        "total": len(batch.ids),
        "selected_total": len(batch.ids),
        "processed_count": batch.processed_count,
        "failed_count": batch.failed_count,
        "action_label": batch.action,
        "created_at": batch.created_at,
        "updated_at": batch.updated_at,
        "meta": {},
        "progress": 100 * done // len(batch.ids),
        "processing_errors": list(batch.processing_errors),
    }
