"""The worker behind ``firstpromoter_deliver``: batch claims, threads, stopping cleanly."""

from __future__ import annotations

import contextlib
import datetime
import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import responses
from django.db import OperationalError, connection, connections, transaction
from django.utils import timezone

from django_firstpromoter import delivery, worker
from django_firstpromoter.conf import get_config
from django_firstpromoter.models import Sale
from django_firstpromoter.statuses import DeliveryStatus
from django_firstpromoter.worker import Worker
from tests.conftest import V2_URL, success_body
from tests.factories import make_sale

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'",
    reason="SELECT ... FOR UPDATE SKIP LOCKED: PostgreSQL here; SQLite claims row by row",
)


def make_sales(count: int, *, minutes_ago: float = 5) -> list[Sale]:
    """``count`` due sales, oldest first."""
    now = timezone.now()
    return [
        make_sale(
            f"evt-{n:03}",
            next_attempt_at=now - datetime.timedelta(minutes=minutes_ago, seconds=count - n),
        )
        for n in range(count)
    ]


def statuses() -> dict[str, str]:
    return dict(Sale.objects.values_list("event_id", "status"))


def sent(mocked: responses.RequestsMock) -> list[str]:
    return [json.loads(call.request.body or "{}")["event_id"] for call in mocked.calls]


@pytest.fixture
def answers(mocked: responses.RequestsMock) -> Iterator[list[Any]]:
    """FirstPromoter answering 200; append callables to run during each call, in turn."""
    during: list[Any] = []

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        if during:
            during.pop(0)()
        return 200, {}, json.dumps(success_body(2) | {"commissions": []})

    mocked.add_callback(responses.POST, V2_URL, callback=answer)
    yield during


@postgresql_only
def test_batch_claim_takes_the_oldest_due_under_one_lease() -> None:
    sales = make_sales(5)
    make_sales_later = Sale.objects.create(
        event_id="evt-later", amount=Decimal("1"), amount_minor=100, email="l@example.com",
        api_version=2, next_attempt_at=timezone.now() + datetime.timedelta(hours=1),
    )  # fmt: skip
    config = get_config()

    claimed: list[Any] = delivery.claim_batch(Sale, config, 3)

    assert [sale.event_id for sale in claimed] == ["evt-000", "evt-001", "evt-002"]
    assert {sale.status for sale in claimed} == {DeliveryStatus.SENDING}
    assert {sale.attempt_count for sale in claimed} == {1}
    assert len({sale.next_attempt_at for sale in claimed}) == 1
    assert delivery.lease_left(claimed[0]) == pytest.approx(config.lease_seconds, abs=5)
    rest: list[Any] = delivery.claim_batch(Sale, config, 10)
    assert [sale.event_id for sale in rest] == [sale.event_id for sale in sales[3:]]
    assert make_sales_later.event_id not in [sale.event_id for sale in claimed + rest]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_batch_claims_skip_rows_another_worker_has_locked_instead_of_waiting() -> None:
    make_sales(6)
    config = get_config()
    locked = threading.Event()
    release_lock = threading.Event()

    def other_worker_mid_claim() -> None:
        try:
            with transaction.atomic():
                rows = Sale.objects.order_by("next_attempt_at").select_for_update()[:3]
                list(rows)
                locked.set()
                release_lock.wait(10)
        finally:
            connection.close()

    other = threading.Thread(target=other_worker_mid_claim)
    other.start()
    try:
        assert locked.wait(10)
        claimed: list[Any] = delivery.claim_batch(Sale, config, 10)
    finally:
        release_lock.set()
        other.join()

    assert [sale.event_id for sale in claimed] == ["evt-003", "evt-004", "evt-005"]


def test_release_gives_a_claim_back_uncounted_but_not_a_claim_taken_over() -> None:
    mine, taken_over = make_sales(2)
    config = get_config()
    claimed = [delivery.claim(Sale, sale.pk, config) for sale in (mine, taken_over)]
    assert all(claimed)
    # After this sender's lease ran out, another sender claimed the second sale.
    Sale.objects.filter(pk=taken_over.pk).update(attempt_count=2)

    delivery.release([record for record in claimed if record is not None])

    mine.refresh_from_db()
    taken_over.refresh_from_db()
    assert (mine.status, mine.attempt_count) == (DeliveryStatus.PENDING, 0)
    assert mine.next_attempt_at <= timezone.now()
    assert (taken_over.status, taken_over.attempt_count) == (DeliveryStatus.SENDING, 2)


def test_stopping_finishes_the_send_in_flight_and_gives_back_the_rest(
    mocked: responses.RequestsMock, answers: list[Any]
) -> None:
    make_sales(5)
    running = Worker(get_config(), loop=True)
    # SIGTERM arrives while the second sale is being sent.
    answers.extend([lambda: None, running.stop])

    results = running.run()

    assert results == {DeliveryStatus.TRACKED: 2}
    assert sent(mocked) == ["evt-000", "evt-001"]
    assert statuses() == {
        "evt-000": "tracked",
        "evt-001": "tracked",
        "evt-002": "pending",
        "evt-003": "pending",
        "evt-004": "pending",
    }
    assert set(Sale.objects.filter(status="pending").values_list("attempt_count", flat=True)) == {0}


@postgresql_only
def test_a_batch_whose_lease_runs_short_is_given_back_not_sent(
    monkeypatch: pytest.MonkeyPatch, mocked: responses.RequestsMock, answers: list[Any]
) -> None:
    make_sales(3)
    leases = iter([60.0, 0.5])
    monkeypatch.setattr(worker, "lease_left", lambda record: next(leases, 0.0))

    assert Worker(get_config()).run() == {DeliveryStatus.TRACKED: 1}

    assert sent(mocked) == ["evt-000"]
    assert statuses() == {"evt-000": "tracked", "evt-001": "pending", "evt-002": "pending"}


def test_a_cron_run_does_not_resend_what_fell_due_again_during_it(
    mocked: responses.RequestsMock,
) -> None:
    make_sales(1)
    # Retry-After: 0 makes the sale due again at once.
    mocked.post(V2_URL, status=429, headers={"Retry-After": "0"})

    assert Worker(get_config()).run() == {DeliveryStatus.PENDING: 1}

    assert len(mocked.calls) == 1


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("server closed the connection unexpectedly"),
        # Not only the database fails a claim: a bug, say.
        RuntimeError("not a database error"),
    ],
    ids=["database", "other"],
)
def test_a_loop_outlives_an_error_in_a_claim(
    monkeypatch: pytest.MonkeyPatch,
    mocked: responses.RequestsMock,
    answers: list[Any],
    caplog: pytest.LogCaptureFixture,
    error: Exception,
) -> None:
    make_sales(1)
    running = Worker(get_config(), loop=True, interval=0.01)
    claim = Worker._claim
    passes: list[int] = []

    def flaky_claim(self: Worker, size: int) -> Any:
        passes.append(1)
        if len(passes) == 1:
            raise error
        if len(passes) == 3:
            self.stop()
        return claim(self, size)

    monkeypatch.setattr(Worker, "_claim", flaky_claim)

    assert running.run() == {DeliveryStatus.TRACKED: 1}
    assert "error while claiming" in caplog.text


def test_a_database_error_does_not_raise_the_limit(
    monkeypatch: pytest.MonkeyPatch, mocked: responses.RequestsMock, answers: list[Any]
) -> None:
    make_sales(3)
    claim = Worker._claim
    failed: list[int] = []

    def fails_once(self: Worker, size: int) -> Any:
        if not failed:
            failed.append(1)
            raise OperationalError("server closed the connection unexpectedly")
        return claim(self, size)

    monkeypatch.setattr(Worker, "_claim", fails_once)

    assert Worker(get_config(), loop=True, interval=0.01, limit=1).run() == {
        DeliveryStatus.TRACKED: 1
    }
    assert len(mocked.calls) == 1


def test_a_cron_run_raises_a_database_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Worker, size: int) -> Any:
        raise OperationalError("no database")

    monkeypatch.setattr(Worker, "_claim", broken)
    with pytest.raises(OperationalError):
        Worker(get_config()).run()


def test_limit_is_shared_by_the_passes(mocked: responses.RequestsMock, answers: list[Any]) -> None:
    make_sales(worker.BATCH_SIZE + 5)

    assert Worker(get_config(), limit=worker.BATCH_SIZE + 2).run() == {
        DeliveryStatus.TRACKED: worker.BATCH_SIZE + 2
    }
    assert len(mocked.calls) == worker.BATCH_SIZE + 2


@pytest.mark.django_db(transaction=True)
def test_threads_send_at_once_and_each_sale_once(mocked: responses.RequestsMock) -> None:
    make_sales(12)
    lock = threading.Lock()
    calls = [0]
    all_in = threading.Barrier(4, timeout=10)

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        with lock:
            calls[0] += 1
            first_four = calls[0] <= 4
        # The first four calls meet here: they can only all arrive if sent at once.
        if first_four:
            with contextlib.suppress(threading.BrokenBarrierError):
                all_in.wait()
        return 200, {}, json.dumps(success_body(2) | {"commissions": []})

    mocked.add_callback(responses.POST, V2_URL, callback=answer)

    results = Worker(get_config(), threads=4).run()

    assert not all_in.broken, "fewer than four calls were in flight at once"
    assert results == {DeliveryStatus.TRACKED: 12}
    assert sorted(sent(mocked)) == [f"evt-{n:03}" for n in range(12)]


@postgresql_only
def test_the_claim_reads_due_sales_in_order_from_an_index_instead_of_sorting_them() -> None:
    make_sales(3)
    query = delivery.due(Sale).select_for_update(skip_locked=True).values_list("pk", flat=True)[:20]
    with connections["default"].cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = query.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "fp_sale_waiting" in plan
    assert "Sort" not in plan
