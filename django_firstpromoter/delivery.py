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
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from django_firstpromoter import client
from django_firstpromoter.conf import Config, get_config
from django_firstpromoter.models import TrackedEvent
from django_firstpromoter.statuses import AttemptOutcome, DeliveryStatus

logger = logging.getLogger("django_firstpromoter")

MAX_BACKOFF = 6 * 3600.0
SUCCESS = (AttemptOutcome.TRACKED, AttemptOutcome.DUPLICATE)
DUE_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
FINAL = {
    AttemptOutcome.TRACKED: DeliveryStatus.TRACKED,
    # Already counted by FirstPromoter, e.g. an earlier answer that was lost.
    AttemptOutcome.DUPLICATE: DeliveryStatus.TRACKED,
    AttemptOutcome.NOT_REFERRAL: DeliveryStatus.NOT_REFERRAL,
    AttemptOutcome.REJECTED: DeliveryStatus.FAILED,
}


def backoff_seconds(attempt: int, config: Config, retry_after: float | None = None) -> float:
    """``RETRY_BACKOFF`` doubling per attempt, capped at six hours, with ±20 % jitter
    so that a backlog does not retry in lockstep. A server's ``Retry-After`` wins."""
    if retry_after is not None:
        return min(retry_after, MAX_BACKOFF)
    delay = config.retry_backoff * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)
    return min(delay, MAX_BACKOFF)


def due(model: type[TrackedEvent], now: datetime.datetime | None = None):  # type: ignore[no-untyped-def]
    return model._default_manager.filter(
        status__in=DUE_STATUSES, next_attempt_at__lte=now or timezone.now()
    )


def claim(model: type[TrackedEvent], pk: int, config: Config) -> TrackedEvent | None:
    """Take the record for one send; the record as claimed (its ``attempt_count`` is this
    attempt's number), or None if it is not ours to send."""
    now = timezone.now()
    claimed = (
        due(model, now)
        .filter(pk=pk)
        .update(
            status=DeliveryStatus.SENDING,
            next_attempt_at=now + datetime.timedelta(seconds=config.lease_seconds),
            attempt_count=F("attempt_count") + 1,
            updated_at=now,
        )
    )
    if not claimed:
        return None
    return model._default_manager.get(pk=pk)


def deliver(model: type[TrackedEvent], pk: int, config: Config | None = None) -> str | None:
    """Send one record if it is due and nobody else is sending it; its new status, or None.

    A configuration error is raised before anything is claimed: it is never
    turned into a failed attempt, and the record waits until it is fixed.
    """
    config = config or get_config()
    record = claim(model, pk, config)
    if record is None:
        return None
    params = record.tracking_params(config.api_version)
    started_at = timezone.now()
    answer = client.send(config, record.tracking_call, params)
    return settle(record, record.attempt_count, answer, params, started_at, config)


def settle(
    record: TrackedEvent,
    attempt: int,
    answer: client.Answer,
    params: dict,
    started_at: datetime.datetime,
    config: Config,
) -> str:
    now = timezone.now()
    if answer.outcome in FINAL:
        status = FINAL[answer.outcome]
        fields: dict[str, Any] = {"last_error": answer.error}
        if status == DeliveryStatus.TRACKED:
            fields["tracked_at"] = now
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
    with transaction.atomic():
        won = rows.update(status=status, api_version=config.api_version, updated_at=now, **fields)
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
        if answer.outcome == AttemptOutcome.TRACKED:
            record.store_answer(answer)
    if not won:
        logger.info(
            "%s %s: attempt %s finished after its lease; left as it was",
            record._meta.verbose_name,
            record.pk,
            attempt,
        )
        return type(record)._default_manager.values_list("status", flat=True).get(pk=record.pk)
    _log(record, attempt, status, answer)
    _notify(record, status)
    return status


def deliver_due(
    model: type[TrackedEvent], *, limit: int | None = None, config: Config | None = None
) -> Counter[str]:
    """Send every record due now, oldest first; how many ended in each status."""
    config = config or get_config()
    pks = due(model).order_by("next_attempt_at", "pk").values_list("pk", flat=True)
    return deliver_each(model, list(pks[:limit] if limit else pks), config)


def deliver_each(model: type[TrackedEvent], pks: list[int], config: Config) -> Counter[str]:
    """``deliver`` each record in turn; how many ended in each status (records another
    sender had, or that were not due, are not counted)."""
    results: Counter[str] = Counter()
    for pk in pks:
        status = deliver(model, pk, config)
        if status is not None:
            results[status] += 1
    return results


def _log(record: TrackedEvent, attempt: int, status: str, answer: client.Answer) -> None:
    name = f"{record._meta.verbose_name} {record.pk}"
    if status == DeliveryStatus.FAILED:
        logger.error("%s failed on attempt %s: %s", name, attempt, answer.error)
    elif status == DeliveryStatus.PENDING:
        logger.warning("%s will be retried after attempt %s: %s", name, attempt, answer.error)
    else:
        logger.info("%s is %s (HTTP %s)", name, status, answer.http_status)


def _notify(record: TrackedEvent, status: str) -> None:
    signal = record.outcome_signals.get(status)
    if signal is None:
        return
    # The row is settled already: a host receiver's bug must not undo or hide that.
    for receiver, result in signal.send_robust(
        sender=type(record), **{record.tracking_call: record}
    ):
        if isinstance(result, Exception):
            logger.error("receiver %r of %s raised", receiver, status, exc_info=result)
