"""What a sender does when something under it breaks: the limiter's cache (Redis) or
the database goes away, or the worker is stopped at a bad moment.

In one process with fakes (a limiter whose cache is down), on any database.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import redis
import responses
from django.db import OperationalError
from django.test import Client
from django.utils import timezone
from pytest_django.asserts import assertContains

from django_firstpromoter import delivery
from django_firstpromoter.conf import get_config
from django_firstpromoter.models import Sale
from django_firstpromoter.statuses import DeliveryStatus
from django_firstpromoter.worker import Worker
from tests.conftest import V2_URL, success_body

pytestmark = pytest.mark.django_db(transaction=True)


def make_sales(count: int) -> list[Sale]:
    """``count`` sales, due, with a referral the sandbox credits to alice."""
    due = timezone.now() - datetime.timedelta(minutes=1)
    fields = {"amount": Decimal(10), "amount_minor": 1000, "api_version": 2, "ref_id": "alice"}
    return [
        Sale.objects.create(
            event_id=f"evt-{n:03}", email=f"buyer{n}@example.com", next_attempt_at=due, **fields
        )
        for n in range(count)
    ]


def by_status() -> Counter[str]:
    return Counter(Sale.objects.values_list("status", flat=True))


class CacheDown:
    """A limiter whose cache refuses the connection for its first ``failures`` calls,
    as Django's Redis cache does while Redis is down."""

    def __init__(self, failures: float) -> None:
        self.failures = failures
        self.calls = 0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            self.calls += 1
            if self.calls <= self.failures:
                raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379.")


@pytest.fixture
def limiter(monkeypatch: pytest.MonkeyPatch) -> CacheDown:
    """The limiter every send takes its slot from; down for three calls unless changed."""
    down = CacheDown(failures=3)
    monkeypatch.setattr(delivery, "limiter_for", lambda config: down)
    return down


@pytest.fixture
def firstpromoter(mocked: responses.RequestsMock) -> Iterator[list[str]]:
    """FirstPromoter answering 200; the event ids it was sent, in order."""
    sent: list[str] = []

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        sent.append(json.loads(request.body)["event_id"])
        return 200, {}, json.dumps(success_body(2) | {"commissions": []})

    mocked.add_callback(responses.POST, V2_URL, callback=answer)
    yield sent


def run_until(worker: Worker, done: Callable[[], bool], seconds: float = 20) -> None:
    """``worker.run()`` here, stopped from another thread once ``done()`` is true."""

    def watch() -> None:
        deadline = time.monotonic() + seconds
        while not done() and time.monotonic() < deadline:
            time.sleep(0.02)
        worker.stop()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        worker.run()
    finally:
        worker.stop()
        watcher.join()


one_or_two_threads = pytest.mark.parametrize("threads", [1, 2], ids=["1 thread", "2 threads"])


@one_or_two_threads
@pytest.mark.timeout(60)
def test_a_loop_outlives_the_limiters_cache_going_away(
    threads: int, limiter: CacheDown, firstpromoter: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    make_sales(6)
    worker = Worker(get_config(), threads=threads, loop=True, interval=0.05)

    run_until(worker, lambda: len(firstpromoter) == 6)

    assert by_status() == {DeliveryStatus.TRACKED: 6}
    assert sorted(firstpromoter) == [f"evt-{n:03}" for n in range(6)]
    # A send the cache refused was given back uncounted: each sale has one attempt.
    assert set(Sale.objects.values_list("attempt_count", flat=True)) == {1}
    logged = [record for record in caplog.records if record.exc_info]
    assert len(logged) == 3
    assert {type(record.exc_info[1]) for record in logged if record.exc_info} == {
        redis.exceptions.ConnectionError
    }
    assert "error while sending sale" in caplog.text


@one_or_two_threads
@pytest.mark.timeout(60)
def test_stopping_while_the_cache_is_down_returns_at_once_holding_nothing(
    threads: int, limiter: CacheDown, firstpromoter: list[str]
) -> None:
    limiter.failures = float("inf")
    make_sales(6)
    # A long pause after each error: only the stop can end it.
    worker = Worker(get_config(), threads=threads, loop=True, interval=60)

    started = time.monotonic()
    run_until(worker, lambda: limiter.calls >= 1)

    assert time.monotonic() - started < 5
    assert firstpromoter == []
    assert by_status() == {DeliveryStatus.PENDING: 6}
    assert set(Sale.objects.values_list("attempt_count", flat=True)) == {0}


@one_or_two_threads
@pytest.mark.timeout(60)
def test_a_cron_run_stops_at_an_error_gives_back_what_it_holds_and_raises_it(
    threads: int, limiter: CacheDown, firstpromoter: list[str]
) -> None:
    limiter.failures = float("inf")
    make_sales(6)

    with pytest.raises(redis.exceptions.ConnectionError):
        Worker(get_config(), threads=threads).run()

    assert firstpromoter == []
    assert by_status() == {DeliveryStatus.PENDING: 6}
    assert set(Sale.objects.values_list("attempt_count", flat=True)) == {0}


def test_a_send_after_commit_that_fails_before_the_call_gives_its_claim_back(
    limiter: CacheDown, firstpromoter: list[str]
) -> None:
    (sale,) = make_sales(1)

    with pytest.raises(redis.exceptions.ConnectionError):
        delivery.deliver(Sale, sale.pk)

    sale.refresh_from_db()
    assert (sale.status, sale.attempt_count) == (DeliveryStatus.PENDING, 0)
    assert sale.next_attempt_at <= timezone.now()
    assert firstpromoter == []


def test_a_claim_that_cannot_be_given_back_is_logged_and_the_first_error_raised(
    monkeypatch: pytest.MonkeyPatch,
    limiter: CacheDown,
    firstpromoter: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    (sale,) = make_sales(1)

    def database_gone(records: list[Sale]) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(delivery, "release", database_gone)

    with pytest.raises(redis.exceptions.ConnectionError):
        delivery.deliver(Sale, sale.pk)

    assert f"could not give back sale {sale.pk}" in caplog.text
    assert "server closed the connection unexpectedly" in caplog.text
    # Left to its lease, which makes it due again.
    sale.refresh_from_db()
    assert sale.status == DeliveryStatus.SENDING


def test_retry_now_reports_an_error_instead_of_failing_the_page(
    admin_client: Client, limiter: CacheDown, firstpromoter: list[str]
) -> None:
    limiter.failures = 1
    failed, pending = make_sales(2)
    Sale.objects.filter(pk=failed.pk).update(status=DeliveryStatus.FAILED, attempt_count=3)

    response = admin_client.post(
        "/admin/django_firstpromoter/sale/",
        {"action": "retry_sales", "_selected_action": [failed.pk, pending.pk], "index": "0"},
        follow=True,
    )

    assert response.status_code == 200
    (message,) = response.context["messages"]
    assert message.level_tag == "error"
    assertContains(response, "0 sales sent. Then sending stopped: Error 111 connecting to")
    assert firstpromoter == []
    failed.refresh_from_db()
    pending.refresh_from_db()
    assert (failed.status, failed.attempt_count) == (DeliveryStatus.PENDING, 3)
    assert (pending.status, pending.attempt_count) == (DeliveryStatus.PENDING, 0)
