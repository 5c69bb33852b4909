"""What a sender does when something under it breaks: the limiter's cache (Redis) or
the database goes away, or the worker is stopped or killed at a bad moment.

First in one process with fakes (a limiter whose cache is down), on any database;
then with real worker processes, a real Redis, real PostgreSQL and real HTTP to the
sandbox, on PostgreSQL only.
"""

from __future__ import annotations

import datetime
import json
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import responses
from django.db import OperationalError, connection
from django.test import Client
from django.utils import timezone
from pytest_django.asserts import assertContains

from django_firstpromoter import delivery
from django_firstpromoter.conf import get_config
from django_firstpromoter.models import Sale
from django_firstpromoter.sandbox import Sandbox
from django_firstpromoter.sandbox.faults import Faults
from django_firstpromoter.statuses import DeliveryStatus
from django_firstpromoter.worker import Worker
from tests import factories
from tests.conftest import V2_URL, success_body
from tests.ports import free_port
from tests.waiting import poll, wait_until
from tests.workers import start_worker

pytestmark = pytest.mark.django_db(transaction=True)


def make_sales(count: int) -> list[Sale]:
    """``count`` sales, due, with a referral the sandbox credits to alice."""
    due = timezone.now() - datetime.timedelta(minutes=1)
    return factories.make_sales(count, ref_id="alice", next_attempt_at=due)


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
        poll(done, seconds, interval=0.02)
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

    def database_gone(records: list[Sale], **kwargs: Any) -> None:
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
    # Retry now counts the attempts that were made (none here, whatever attempt_count
    # said), and the send that met the error counts none.
    assert (failed.status, failed.attempt_count) == (DeliveryStatus.PENDING, 0)
    assert (pending.status, pending.attempt_count) == (DeliveryStatus.PENDING, 0)


# Real worker processes, Redis, PostgreSQL and HTTP.

postgresql_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'",
    reason="worker processes share the test database on PostgreSQL (DATABASE_URL=postgres://...)",
)
STOP_SECONDS = 15
"""How long a worker may take to exit after SIGTERM, whatever it was doing."""


class PrivateRedis:
    """A redis-server of the test's own, on a port of its own, to kill and start again
    on the same port: the limiter's cache going away under running workers."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """What points a worker process's cache, and so its limiter, at this Redis."""
        return {"CACHE_URL": f"redis://127.0.0.1:{self.port}/0"}

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis(port=self.port, socket_timeout=1)
        wait_until(lambda: answers_ping(client), 10, "redis-server to answer")

    def kill(self) -> None:
        """``kill -9``: no goodbye to its clients."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def answers_ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.exceptions.ConnectionError:
        return False


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.kill()


class Workers:
    """``firstpromoter_deliver --loop`` processes a test starts; any still running at the
    end of the test is killed, so that a failing test leaves none behind."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(
        self, settings: dict[str, Any], *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = self.tmp_path / f"worker-{len(self.started)}.log"
        process = start_worker(settings, log, "--interval", "0.5", *args, env=env)
        self.started.append((process, log))
        return process

    def running(self) -> list[subprocess.Popen[bytes]]:
        return [process for process, _ in self.started if process.poll() is None]

    def logs(self) -> str:
        return "\n".join(f"{log.name}:\n{log.read_text()[-3000:]}" for _, log in self.started)

    def terminate(self) -> list[int | None]:
        """SIGTERM to every worker still running; each one's exit code, or None for one
        that was still running ``STOP_SECONDS`` later."""
        running = self.running()
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        codes: list[int | None] = []
        for process in running:
            try:
                codes.append(process.wait(timeout=max(deadline - time.monotonic(), 0.1)))
            except subprocess.TimeoutExpired:
                codes.append(None)
        return codes

    def kill_all(self) -> None:
        for process in self.running():
            process.kill()
            process.wait()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    started = Workers(tmp_path)
    try:
        yield started
    finally:
        started.kill_all()


def called(sandbox: Sandbox, times: int) -> Callable[[], bool]:
    """Whether the sandbox has been called ``times`` times yet."""
    return lambda: len(sandbox.requests) >= times


def drained() -> bool:
    return not Sale.objects.exclude(status=DeliveryStatus.TRACKED).exists()


def counted(sandbox: Sandbox) -> Counter[str]:
    """How many times FirstPromoter (the sandbox) counted each sale."""
    return Counter(event.event_id for event in sandbox.sales)


def each_once(count: int) -> Counter[str]:
    return Counter({f"evt-{n:03}": 1 for n in range(count)})


def terminate_other_connections() -> int:
    """Kill every other connection to the test database, as a failover or an
    administrator does; how many there were."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return len(cursor.fetchall())


def other_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        (count,) = cursor.fetchone() or (0,)
        return int(count)


def worker_settings(sandbox: Sandbox, **changes: Any) -> dict[str, Any]:
    """A short TIMEOUT, so a lease is the shortest there is (30 s)."""
    return {"BASE_URL": sandbox.base_url(2), "DELIVERY": "worker", "TIMEOUT": 2, **changes}


LIMITED_THROUGH_REDIS = {"RATE_LIMIT": 600, "RATE_LIMIT_CACHE": "default"}
"""A limit the workers share through their cache (``CACHE_URL``, the test's Redis):
600 calls a minute, one every 0.1 s, so that a backlog of a few dozen sales takes a
few seconds to drain and the limiter is asked before every call."""


@postgresql_only
@one_or_two_threads
@pytest.mark.timeout(120)
def test_a_worker_outlives_its_limiters_redis_killed_and_restarted(
    threads: int, private_redis: PrivateRedis, workers: Workers
) -> None:
    make_sales(50)
    with Sandbox() as sandbox:
        settings = worker_settings(sandbox, **LIMITED_THROUGH_REDIS)
        worker = workers.start(settings, "--threads", str(threads), env=private_redis.env)
        wait_until(called(sandbox, 10), 30, "the drain to start")
        private_redis.kill()
        time.sleep(0.5)
        sent_when_down = len(sandbox.requests)
        time.sleep(2.5)
        # No slot can be had without the cache, so no call goes out, and the worker waits.
        assert len(sandbox.requests) == sent_when_down
        assert worker.poll() is None, workers.logs()
        assert not drained()
        private_redis.start()
        restarted = time.monotonic()
        wait_until(drained, 60, "the backlog to drain after Redis came back")
        # Nothing waited for its lease (30 s) to end: what failed was given back.
        assert time.monotonic() - restarted < 20
        exit_codes = workers.terminate()
        assert counted(sandbox) == each_once(50)

    assert exit_codes == [0], workers.logs()
    assert "redis.exceptions.ConnectionError" in workers.logs()


@postgresql_only
@pytest.mark.timeout(120)
def test_workers_outlive_their_database_connections_killed_mid_drain(
    workers: Workers,
) -> None:
    make_sales(120)
    with Sandbox(faults=Faults(latency_ms=100)) as sandbox:
        settings = worker_settings(sandbox)
        workers.start(settings, "--threads", "1")
        workers.start(settings, "--threads", "2")
        killed = 0
        for requests_seen in (15, 45, 75):
            wait_until(called(sandbox, requests_seen), 30, "the drain to go on")
            killed += terminate_other_connections()
        last_killed = time.monotonic()
        wait_until(drained, 60, "the backlog to drain")
        # What a killed connection could not settle was given back at once, not left
        # sending until its lease (30 s) ended.
        assert time.monotonic() - last_killed < 20
        assert len(workers.running()) == 2, workers.logs()
        exit_codes = workers.terminate()
        assert counted(sandbox) == each_once(120)

    assert killed >= 6
    assert exit_codes == [0, 0], workers.logs()
    assert "terminating connection due to administrator command" in workers.logs()


@postgresql_only
@pytest.mark.timeout(120)
def test_a_worker_killed_mid_send_is_replaced_and_its_claims_recovered_after_the_lease(
    workers: Workers,
) -> None:
    make_sales(30)
    with Sandbox(faults=Faults(latency_ms=300)) as sandbox:
        settings = worker_settings(sandbox)
        killed = workers.start(settings, "--threads", "2")
        wait_until(called(sandbox, 6), 30, "the drain to start")
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        left_sending = Sale.objects.filter(status=DeliveryStatus.SENDING).count()
        workers.start(settings, "--threads", "2")
        wait_until(drained, 60, "the replacement to drain the backlog")
        exit_codes = workers.terminate()
        assert counted(sandbox) == each_once(30)

    assert left_sending > 0
    assert exit_codes == [0], workers.logs()


MOMENTS = ["idle", "mid-drain", "cache down", "database connections killed"]


@postgresql_only
@pytest.mark.timeout(120)
@pytest.mark.parametrize("moment", MOMENTS)
def test_sigterm_stops_workers_at_once_and_holding_nothing_whatever_they_do(
    moment: str, private_redis: PrivateRedis, workers: Workers
) -> None:
    if moment != "idle":
        make_sales(40)
    with Sandbox(faults=Faults(latency_ms=50)) as sandbox:
        settings = worker_settings(sandbox, **LIMITED_THROUGH_REDIS)
        for threads in ("1", "2"):
            workers.start(settings, "--threads", threads, env=private_redis.env)
        if moment == "idle":
            wait_until(lambda: other_connections() >= 2, 30, "both workers to poll")
        else:
            wait_until(called(sandbox, 5), 30, "the drain to start")
        if moment == "cache down":
            private_redis.kill()
            time.sleep(1.5)
        elif moment == "database connections killed":
            # A worker between two claims may hold no connection at the instant of a
            # sweep, so sweeps repeat until two connections have been killed.
            killed = 0

            def two_killed() -> bool:
                nonlocal killed
                killed += terminate_other_connections()
                return killed >= 2

            wait_until(two_killed, 30, "two of the workers' connections to be killed")
        exit_codes = workers.terminate()
        seen = counted(sandbox)

    assert set(seen.values()) <= {1}
    # A sale counted whose answer could not be settled (its connection killed) was given
    # back: it is pending, to be sent again and answered 409.
    tracked = Sale.objects.filter(status=DeliveryStatus.TRACKED).values_list("event_id", flat=True)
    assert set(tracked) <= set(seen)
    assert exit_codes == [0, 0], workers.logs()
    assert not Sale.objects.filter(status=DeliveryStatus.SENDING).exists()
    assert set(Sale.objects.filter(status="pending").values_list("attempt_count", flat=True)) <= {0}
