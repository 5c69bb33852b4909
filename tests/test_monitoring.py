"""The queue summary an operator and a health check read: what each number counts."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_firstpromoter.delivery import due
from django_firstpromoter.models import Sale
from django_firstpromoter.monitoring import QueueStatus, format_age, queue_status
from django_firstpromoter.statuses import DeliveryStatus

pytestmark = pytest.mark.django_db

NOW = timezone.now()
MINUTE = datetime.timedelta(minutes=1)


def sale(event_id: str, status: str, *, age: datetime.timedelta, **fields: Any) -> Sale:
    """A sale recorded ``age`` before NOW."""
    return Sale.objects.create(
        event_id=event_id,
        amount=Decimal("10"),
        amount_minor=1000,
        email=f"{event_id}@example.com",
        api_version=2,
        status=status,
        recorded_at=NOW - age,
        **fields,
    )


@pytest.fixture
def queue() -> None:
    """Two of each category, and finished sales older than any of them."""
    pending, sending = DeliveryStatus.PENDING, DeliveryStatus.SENDING
    # due now: never tried; retried and due again (exactly now counts); a dead sender's lease
    sale("new", pending, age=MINUTE, next_attempt_at=NOW - MINUTE)
    sale("due-again", pending, age=10 * MINUTE, attempt_count=3, next_attempt_at=NOW)
    sale("lease-over", sending, age=90 * MINUTE, attempt_count=1, next_attempt_at=NOW - MINUTE)
    # waiting for retry
    sale("retry-1", pending, age=5 * MINUTE, attempt_count=1, next_attempt_at=NOW + MINUTE)
    sale("retry-2", pending, age=6 * MINUTE, attempt_count=4, next_attempt_at=NOW + 60 * MINUTE)
    # in a sender's hands
    sale("in-flight", sending, age=2 * MINUTE, attempt_count=1, next_attempt_at=NOW + MINUTE)
    # failed, and finished: none of them is waiting, however old
    sale("rejected", DeliveryStatus.FAILED, age=900 * MINUTE, attempt_count=1)
    sale("gave-up", DeliveryStatus.FAILED, age=800 * MINUTE, attempt_count=12)
    for done in (DeliveryStatus.TRACKED, DeliveryStatus.NOT_REFERRAL, DeliveryStatus.IGNORED):
        sale(f"done-{done}", done, age=1000 * MINUTE, next_attempt_at=NOW - MINUTE)


def test_each_sale_is_counted_in_its_one_category(queue: None) -> None:
    assert queue_status(Sale, now=NOW) == QueueStatus(
        due_now=3,
        waiting_for_retry=2,
        sending=1,
        failed=2,
        oldest_waiting=90 * MINUTE,
        # Of those due now, due for a minute: "new" and the dead sender's "lease-over".
        overdue=2,
    )


def test_due_now_is_what_the_next_delivery_run_would_send(queue: None) -> None:
    later = NOW + 2 * MINUTE
    assert queue_status(Sale, now=later).due_now == due(Sale, later).count() == 5


def test_an_empty_queue_is_healthy() -> None:
    sale("done", DeliveryStatus.TRACKED, age=1000 * MINUTE)

    status = queue_status()

    assert status == QueueStatus(0, 0, 0, 0, None)
    assert status.problems(max_age=MINUTE) == []
    assert status.lines()[-1] == "oldest waiting: none"


def test_a_sale_from_a_clock_ahead_has_waited_nothing() -> None:
    sale("future", DeliveryStatus.PENDING, age=-MINUTE)

    assert queue_status(now=NOW).oldest_waiting == datetime.timedelta(0)


def test_it_takes_one_query_however_many_sales(queue: None, django_assert_num_queries) -> None:
    with django_assert_num_queries(1):
        queue_status(Sale, now=NOW)


def test_the_due_index_finds_the_unfinished_rows(queue: None) -> None:
    """The summary reads only pending, sending and failed rows through the
    (status, next_attempt_at) index, not every tracked sale ever recorded."""
    with CaptureQueriesContext(connection) as captured:
        queue_status(Sale, now=NOW)
    (query,) = captured.captured_queries
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A few rows make a sequential scan cheapest; ask whether the index can serve.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + query["sql"])
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + query["sql"])
        plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
    assert "fp_sale_due" in plan, plan
    if connection.vendor == "postgresql":
        assert "Index Cond: ((status)::text = ANY" in plan, plan
    else:
        assert "(status=?)" in plan, plan


def test_lines_are_what_the_admin_and_the_command_show(queue: None) -> None:
    assert queue_status(Sale, now=NOW).lines() == [
        "due now: 3",
        "overdue: 2",
        "waiting for retry: 2",
        "sending: 1",
        "failed: 2",
        "oldest waiting: 1h 30m",
    ]


@pytest.mark.parametrize(
    ("status", "max_age", "problems"),
    [
        (QueueStatus(3, 2, 1, 0, 30 * MINUTE), None, []),
        (QueueStatus(3, 2, 1, 0, 30 * MINUTE), 30 * MINUTE, []),
        (
            QueueStatus(3, 2, 1, 0, 31 * MINUTE),
            30 * MINUTE,
            ["oldest waiting: 31m 0s, longer than the 30m 0s allowed"],
        ),
        (
            QueueStatus(0, 0, 0, 2, None),
            MINUTE,
            ["failed: 2, not sent again until someone chooses Retry now"],
        ),
        (
            QueueStatus(0, 0, 0, 1, 2 * MINUTE),
            MINUTE,
            [
                "failed: 1, not sent again until someone chooses Retry now",
                "oldest waiting: 2m 0s, longer than the 1m 0s allowed",
            ],
        ),
    ],
)
def test_problems_are_failed_sales_and_a_sale_waiting_too_long(
    status: QueueStatus, max_age: datetime.timedelta | None, problems: list[str]
) -> None:
    assert status.problems(max_age) == problems


@pytest.mark.parametrize(
    ("age", "shown"),
    [
        (datetime.timedelta(0), "0s"),
        (datetime.timedelta(seconds=45.9), "45s"),
        (datetime.timedelta(minutes=12, seconds=5), "12m 5s"),
        (datetime.timedelta(hours=3, minutes=20, seconds=59), "3h 20m"),
        (datetime.timedelta(days=2, hours=4, minutes=1), "2d 4h"),
        (datetime.timedelta(days=400), "400d 0h"),
    ],
)
def test_format_age(age: datetime.timedelta, shown: str) -> None:
    assert format_age(age) == shown
