"""Claim a due record, send it, log the attempt, settle the record.

Works on any ``TrackedEvent`` subclass and knows nothing of sales. Claiming is
a conditional UPDATE (``pending``/due or an expired ``sending`` lease ->
``sending``): exactly one sender's UPDATE matches, on every database Django
supports, so one record is never sent twice at the same time. A sender that
dies leaves its record ``sending``; once the lease is over the record is due
again, and resending is safe because FirstPromoter answers 409 to a known
``event_id``.
"""

from __future__ import annotations

import datetime
import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from django.db import DatabaseError, connections, router, transaction
from django.db.models import Count, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from django_firstpromoter import client, rewards
from django_firstpromoter.conf import Config, get_config
from django_firstpromoter.kinds import kind_of
from django_firstpromoter.models import TrackedEvent
from django_firstpromoter.notify import log_fields, send_robust
from django_firstpromoter.protocol import MAX_DELAY, Answer
from django_firstpromoter.ratelimit import limiter_for
from django_firstpromoter.statuses import WAITING, AttemptOutcome, DeliveryStatus

logger = logging.getLogger("django_firstpromoter")

RetryHook = Callable[[TrackedEvent, datetime.datetime], None]
"""Told of each record an attempt leaves due again, and when: the delivery mode's
(``strategies``), so that this module needs to know none of them."""

SUCCESS = (AttemptOutcome.TRACKED, AttemptOutcome.DUPLICATE)
FINAL = {
    AttemptOutcome.TRACKED: DeliveryStatus.TRACKED,
    # Already counted by FirstPromoter, e.g. an earlier answer that was lost.
    AttemptOutcome.DUPLICATE: DeliveryStatus.TRACKED,
    AttemptOutcome.NOT_REFERRAL: DeliveryStatus.NOT_REFERRAL,
    AttemptOutcome.REJECTED: DeliveryStatus.FAILED,
}


COLLISION = (
    "FirstPromoter already had this event id before it was first sent: another "
    "sale's (another shop on the account, staging, or an order number reused); "
    "not counted for this one. EVENT_ID_PREFIX keeps shops apart."
)

COLLIDED_WITH = (
    "Not sent: the event id of the sale it belongs to was another's at FirstPromoter "
    "(that sale is a duplicate), so FirstPromoter would apply it to that one."
)


def is_collision(answer: Answer, attempt: int, params: dict[str, Any]) -> bool:
    """A 409 to the first attempt of an event: no earlier attempt of ours can have
    reached FirstPromoter, so the id it knows is somebody else's event. From the
    second attempt on a 409 is our own earlier call whose answer was lost. Every
    attempt is counted at its claim, a sender killed mid-call included, so
    ``attempt`` is 1 only when nothing was sent before."""
    return answer.http_status == 409 and attempt == 1 and "event_id" in params


def backoff_seconds(attempt: int, config: Config, retry_after: float | None = None) -> float:
    """``RETRY_BACKOFF`` doubling per attempt, capped at six hours, with ±20 % jitter
    so that a backlog does not retry in lockstep. A server's ``Retry-After`` wins,
    but never below ``RETRY_BACKOFF``: a ``Retry-After: 0``, or a date in the past
    from a server whose clock is behind, would spend every attempt in a second."""
    if retry_after is not None:
        return min(max(retry_after, config.retry_backoff), MAX_DELAY)
    delay = config.retry_backoff * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)
    return min(delay, MAX_DELAY)


def due(model: type[TrackedEvent], now: datetime.datetime | None = None):  # type: ignore[no-untyped-def]
    """The records due by ``now`` and ready to go (``TrackedEvent.ready``), oldest first:
    the order the partial index ``fp_<model>_waiting`` keeps them in, so a claim reads
    them without sorting."""
    return (
        model._default_manager.filter(
            status__in=WAITING, next_attempt_at__lte=now or timezone.now()
        )
        .filter(model.ready())
        .order_by("next_attempt_at", "pk")
    )


def claim(
    model: type[TrackedEvent],
    pk: int,
    config: Config,
    due_by: datetime.datetime | None = None,
) -> TrackedEvent | None:
    """Take the record for one send if it is due by ``due_by`` (default: now); the
    record as claimed (its ``attempt_count`` is this attempt's number), or None if it
    is not ours to send."""
    now = timezone.now()
    if not take(due(model, max(now, due_by or now)).filter(pk=pk), now, config):
        return None
    return model._default_manager.get(pk=pk)


def take(rows: QuerySet[Any], now: datetime.datetime, config: Config) -> int:
    """The claim's ``UPDATE``: ``rows`` to ``sending`` under a lease, their attempt
    counted; how many it took."""
    return rows.update(
        status=DeliveryStatus.SENDING,
        next_attempt_at=now + datetime.timedelta(seconds=config.lease_seconds),
        attempt_count=F("attempt_count") + 1,
        updated_at=now,
    )


def claim_batch(
    model: type[TrackedEvent],
    config: Config,
    size: int,
    due_by: datetime.datetime | None = None,
) -> list[TrackedEvent]:
    """Take up to ``size`` due records at once, oldest first, under one lease.

    ``SELECT … FOR UPDATE SKIP LOCKED`` lets several workers claim side by side
    without waiting on each other's rows; only a database that has it (PostgreSQL,
    MySQL 8, Oracle) may call this: the others claim one row at a time (``claim``).
    """
    now = timezone.now()
    manager = model._default_manager
    with transaction.atomic(using=manager.db):
        # Only the records' own rows are locked, not those ``ready`` joins (a refund's sale).
        of = ("self",) if connections[manager.db].features.has_select_for_update_of else ()
        pks = list(
            due(model, min(now, due_by or now))
            .select_for_update(skip_locked=True, of=of)
            .values_list("pk", flat=True)[:size]
        )
        if not pks:
            return []
        take(manager.filter(pk__in=pks), now, config)
        # Read in the claim's transaction: a connection lost before this read would
        # otherwise leave claims nobody knows of, sending until their lease ends.
        claimed = manager.in_bulk(pks)
    return [claimed[pk] for pk in pks]


def release(records: list[TrackedEvent], *, counted: bool = False) -> None:
    """Give claimed records back, due at once, with their attempt not counted (unsent),
    or ``counted`` (the call may have been made).

    Only a claim that is still this sender's is given back: once its lease is
    over, another sender may hold the record, and its claim is left alone.
    """
    now = timezone.now()
    for record in records:
        type(record)._default_manager.filter(
            pk=record.pk,
            status=DeliveryStatus.SENDING,
            attempt_count=record.attempt_count,
            next_attempt_at=record.next_attempt_at,
        ).update(
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
            attempt_count=F("attempt_count") - (0 if counted else 1),
            updated_at=now,
        )


def give_back(records: list[TrackedEvent], *, counted: bool = False) -> None:
    """``release`` claims that will not be sent now (a send failed, the worker stops),
    logging instead of raising when even that fails (the database gone): those
    records are then due again when their lease ends."""
    for alias in {router.db_for_write(type(record)) for record in records}:
        connection = connections[alias]
        # The database may have restarted or killed this thread's connection since its
        # last query: a fresh one can still give the claims back. A connection inside
        # a caller's transaction is the caller's, and is left alone.
        open_and_ours = connection.connection is not None and not connection.in_atomic_block
        if open_and_ours and not connection.is_usable():
            connection.close()
    try:
        release(records, counted=counted)
    except Exception:
        logger.exception(
            "could not give back %s; due again when the lease ends",
            ", ".join(f"{record._meta.verbose_name} {record.pk}" for record in records),
        )


def lease_left(record: TrackedEvent) -> float:
    """Seconds before another sender may take over ``record`` as claimed."""
    return (record.next_attempt_at - timezone.now()).total_seconds()


def deliver(
    model: type[TrackedEvent],
    pk: int,
    config: Config | None = None,
    *,
    on_retry: RetryHook | None = None,
    due_by: datetime.datetime | None = None,
) -> str | None:
    """Send one record if it is due (by ``due_by``, default now) and nobody else is
    sending it; its new status, or None.

    A configuration error is raised before anything is claimed: it is never
    turned into a failed attempt, and the record waits until it is fixed. Any
    other error is raised after the claim is given back (``send_claimed``).
    """
    config = config or get_config()
    record = claim(model, pk, config, due_by)
    if record is None:
        return None
    return send_claimed(record, config, on_retry=on_retry)


def send_claimed(record: TrackedEvent, config: Config, *, on_retry: RetryHook | None = None) -> str:
    """Make the one HTTP call for a record this sender has claimed, and settle it.

    An error on the way (the limiter's cache down, the database gone, a bug) is
    raised after the claim is given back, due at once: any sender can then take the
    record straight away instead of after its lease. Before the call the attempt is
    not counted, so an outage spends none; from the call on it is, since the call
    may have been made (sending again is safe: FirstPromoter answers 409 to a known
    ``event_id``), and so a record whose sends always fail still ends ``failed``
    (``give_up``).
    """
    unsettled = unsettled_claims(record, config)
    if unsettled > config.max_attempts:
        return give_up(record, unsettled - 1)
    try:
        limiter_for(config).acquire()
    except Exception:
        give_back([record])
        raise
    kind = kind_of(record)
    try:
        params = kind.params(record, config)
        started_at = timezone.now()
        answer = client.send(config, kind.name, params)
        return settle(
            record, record.attempt_count, answer, params, started_at, config, on_retry=on_retry
        )
    except Exception:
        give_back([record], counted=True)
        raise


def unsettled_claims(record: TrackedEvent, config: Config) -> int:
    """How many of the record's counted attempts, this one included, left no attempt
    row: a sender killed mid-send, or an error after the call. Counted only past
    ``MAX_ATTEMPTS``, where it matters, so an ordinary send makes no extra query;
    "Retry now" on a failed record leaves just one."""
    if record.attempt_count <= config.max_attempts:
        return 0
    return record.attempt_count - record.attempts.count()  # type: ignore[attr-defined]


def settled_attempts(model: type[TrackedEvent]) -> Coalesce:
    """A record's attempt rows counted, for an UPDATE: what "Retry now" sets
    ``attempt_count`` to, forgetting the claims that never settled, so that a person's
    retry always makes its call (``unsettled_claims`` counts those claims)."""
    relation = model._meta.get_field("attempts")  # type: ignore[misc]
    link = relation.field.name
    rows = (
        relation.related_model._default_manager.filter(**{link: OuterRef("pk")})
        .order_by()
        .values(link)
        .annotate(count=Count("pk"))
        .values("count")
    )
    return Coalesce(Subquery(rows), 0)


def give_up(record: TrackedEvent, unsettled: int) -> str:
    """End a record whose last ``unsettled`` claims, more than ``MAX_ATTEMPTS``, could
    not be settled: sent again, it would fail the same way for ever."""
    now = timezone.now()
    error = f"gave up: {unsettled} attempts ended without their answer settled"
    won = (
        type(record)
        ._default_manager.filter(
            pk=record.pk, status=DeliveryStatus.SENDING, attempt_count=record.attempt_count
        )
        .update(status=DeliveryStatus.FAILED, last_error=error, next_attempt_at=now, updated_at=now)
    )
    if not won:
        return type(record)._default_manager.values_list("status", flat=True).get(pk=record.pk)
    logger.error("%s %s: %s", record._meta.verbose_name, record.pk, error)
    _notify(record, DeliveryStatus.FAILED)
    return DeliveryStatus.FAILED


def settle(
    record: TrackedEvent,
    attempt: int,
    answer: Answer,
    params: dict,
    started_at: datetime.datetime,
    config: Config,
    *,
    on_retry: RetryHook | None = None,
) -> str:
    """Record the attempt and the record's new status in one transaction, its rewards
    with them; then log, signal, and tell ``on_retry`` of a retry now due later."""
    now = timezone.now()
    if is_collision(answer, attempt, params):
        status = DeliveryStatus.DUPLICATE
        fields: dict[str, Any] = {"last_error": COLLISION}
    elif answer.outcome in FINAL:
        status = FINAL[answer.outcome]
        fields = {"last_error": answer.error}
        if status == DeliveryStatus.TRACKED:
            fields["tracked_at"] = now
            if kind_of(record).reward_links:
                fields["rewards_unknown"] = answer.rewards_unknown
    elif attempt >= config.max_attempts:
        status = DeliveryStatus.FAILED
        fields = {"last_error": f"{answer.error} (gave up after {attempt} attempts)"}
    else:
        status = DeliveryStatus.PENDING
        delay = backoff_seconds(attempt, config, answer.retry_after)
        fields = {
            "last_error": answer.error,
            "next_attempt_at": now + datetime.timedelta(seconds=delay),
        }
    rows = type(record)._default_manager.filter(pk=record.pk)
    if answer.outcome in SUCCESS:
        # Counted by FirstPromoter is a fact, whoever holds the lease by now.
        rows = rows.exclude(status__in=(DeliveryStatus.TRACKED, DeliveryStatus.IGNORED))
    else:
        rows = rows.filter(status=DeliveryStatus.SENDING, attempt_count=attempt)

    def write(answer: Answer, keep_rewards: bool = True) -> int:
        with transaction.atomic():
            won = rows.update(
                status=status, api_version=config.api_version, updated_at=now, **fields
            )
            record.create_attempt(
                started_at=started_at,
                duration_ms=answer.duration_ms,
                api_version=config.api_version,
                url=answer.url[:500],
                http_status=answer.http_status,
                outcome=answer.outcome,
                error=answer.error,
                request_params=params,
                response_body=answer.body,
            )
            kind = kind_of(record)
            if keep_rewards and kind.reward_links and answer.outcome == AttemptOutcome.TRACKED:
                rewards.store_rewards(answer.rewards, **kind.reward_links(record))
            if won and status == DeliveryStatus.DUPLICATE and kind.dependents:
                # In the same transaction: once the sale is settled, its refunds are
                # ready to go, and a sender would take them.
                waiting = kind.dependents(record.pk).filter(status__in=WAITING)
                along[:] = waiting.select_for_update()
                waiting.filter(pk__in=[each.pk for each in along]).update(
                    status=DeliveryStatus.DUPLICATE, last_error=COLLIDED_WITH, updated_at=now
                )
        return won

    along: list[Any] = []

    try:
        won = write(answer)
    except DatabaseError as exc:
        # The answer is cleaned to fit (protocol.interpret), so this is a database
        # refusing what another accepts. The call's outcome still counts: it is
        # settled with what the answer held left out, rather than stuck in sending.
        # Should the database be gone instead, this write fails too, and raises.
        logger.exception(
            "%s %s: its answer could not be stored", record._meta.verbose_name, record.pk
        )
        note = (
            f"the answer could not be stored ({type(exc).__name__}): its body and rewards left out"
        )
        error = "; ".join(part for part in (answer.error, note) if part)
        if "rewards_unknown" in fields:
            fields["rewards_unknown"] = True  # they were left out: look them up
        won = write(replace(answer, body="", error=error), keep_rewards=False)
    if not won:
        logger.info(
            "%s %s: attempt %s finished after its lease; left as it was",
            record._meta.verbose_name,
            record.pk,
            attempt,
        )
        return type(record)._default_manager.values_list("status", flat=True).get(pk=record.pk)
    retry_at = fields.get("next_attempt_at")
    _log(record, attempt, status, answer, None if retry_at is None else retry_at - now)
    _notify(record, status)
    for each in along:
        each.status, each.last_error = DeliveryStatus.DUPLICATE, COLLIDED_WITH
        logger.warning(
            "%s %s: not sent, its sale %s is a duplicate event id",
            each._meta.verbose_name,
            each.event_id,
            record.event_id,
        )
        _notify(each, DeliveryStatus.DUPLICATE)
    if status == DeliveryStatus.PENDING and on_retry is not None:
        on_retry(record, fields["next_attempt_at"])
    return status


def deliver_each(
    model: type[TrackedEvent],
    pks: list[int],
    config: Config,
    results: Counter[str] | None = None,
    *,
    on_retry: RetryHook | None = None,
) -> Counter[str]:
    """``deliver`` each record in turn; how many ended in each status (records another
    sender had, or that were not due, are not counted).

    The first error stops it and is raised, the record's claim given back: the cause
    (the limiter's cache or the database down) is likely to fail the rest too. Pass
    ``results`` to keep what was sent before it.
    """
    results = Counter() if results is None else results
    for pk in pks:
        status = deliver(model, pk, config, on_retry=on_retry)
        if status is not None:
            results[status] += 1
    return results


def _log(
    record: TrackedEvent,
    attempt: int,
    status: str,
    answer: Answer,
    retry_in: datetime.timedelta | None,
) -> None:
    """One line per settled attempt (``notify.log_fields``)."""
    fields: dict[str, Any] = {
        "event_id": record.event_id,
        "attempt": attempt,
        "http_status": answer.http_status,
        "outcome": str(answer.outcome),
        "status": str(status),
        "duration_ms": answer.duration_ms,
    }
    if retry_in is not None:
        fields["next_attempt_in_s"] = round(retry_in.total_seconds())
    if answer.error or status == DeliveryStatus.DUPLICATE:
        fields["error"] = answer.error or COLLISION
    if status == DeliveryStatus.FAILED:
        level = logging.ERROR
    elif status in (DeliveryStatus.PENDING, DeliveryStatus.DUPLICATE):
        level = logging.WARNING
    else:
        level = logging.INFO
    log_fields(level, kind_of(record).name, fields)


def _notify(record: TrackedEvent, status: str) -> None:
    kind = kind_of(record)
    signal = kind.signal(status)
    if signal is not None:
        # The row is settled already: a host receiver's bug must not undo or hide that.
        send_robust(signal, f"{kind.name}_{status}", type(record), **{kind.name: record})
