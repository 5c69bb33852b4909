"""RATE_LIMIT: no sliding window holds more calls than the limit, whoever makes them.

The limiter's window is FirstPromoter's minute in production; these tests shorten
it to a second or less so that filling it many times over takes seconds.
"""

from __future__ import annotations

import datetime
import json
import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import redis
import responses
from django.core.cache import caches
from django.core.management import call_command
from django.db import DatabaseError, OperationalError, connection, transaction
from django.test import override_settings
from django.utils import timezone

from django_firstpromoter import delivery, ratelimit
from django_firstpromoter.conf import get_config
from django_firstpromoter.models import RateLimitSlot, Sale
from django_firstpromoter.ratelimit import RateLimiter, SlotRefused, limiter_for
from django_firstpromoter.statuses import DeliveryStatus
from tests.conftest import V2_URL, firstpromoter, success_body
from tests.rate_sender import take_slots
from tests.test_delivery import make_sale

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")


def redis_is_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


needs_redis = pytest.mark.skipif(not redis_is_up(), reason=f"no Redis server at {REDIS_URL}")


def busiest(times: list[float], window: float) -> int:
    """The most calls in any ``window`` seconds, counted as the sandbox counts them."""
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t - start < window) for i, start in enumerate(times))


def take(limiter: RateLimiter, count: int) -> list[float]:
    """When each of ``count`` calls got its slot."""
    times = []
    for _ in range(count):
        limiter.acquire()
        times.append(time.time())
    return times


def cache_settings(backend: str, location: str = "") -> dict[str, Any]:
    """A fresh cache under the alias "limits": its own keys, whatever ran before."""
    return {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "limits": {
            "BACKEND": backend,
            "LOCATION": location or f"limits-{uuid.uuid4().hex}",
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        },
    }


@pytest.fixture
def locmem() -> Iterator[str]:
    with override_settings(CACHES=cache_settings("django.core.cache.backends.locmem.LocMemCache")):
        yield "limits"


@pytest.fixture
def redis_cache() -> Iterator[dict[str, Any]]:
    if not redis_is_up():
        pytest.skip(f"no Redis server at {REDIS_URL}")
    redis_caches = cache_settings("django.core.cache.backends.redis.RedisCache", REDIS_URL)
    with override_settings(CACHES=redis_caches):
        yield redis_caches


@pytest.fixture
def database_slots(db: None) -> None:
    """No cache named: the limiter keeps its slots in the app's table."""


@pytest.fixture
def database_cache(db: None) -> Iterator[str]:
    table = f"fp_limits_{uuid.uuid4().hex[:12]}"
    with override_settings(
        CACHES=cache_settings("django.core.cache.backends.db.DatabaseCache", table)
    ):
        call_command("createcachetable", verbosity=0)
        yield "limits"


# One process


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["database_slots", "locmem", "database_cache", "redis_cache"])
def test_no_window_holds_more_than_the_limit(backend: str, request: pytest.FixtureRequest) -> None:
    request.getfixturevalue(backend)
    limiter = RateLimiter(3, None if backend == "database_slots" else "limits", window=0.6)

    times = take(limiter, 7)

    assert busiest(times, 0.6) == 3
    # Paced, not stalled: seven calls need six slots of 0.3 s after the first.
    assert times[-1] - times[0] < 6 * 0.3 + 1.0


def test_a_lone_call_does_not_wait(locmem: str, monkeypatch: pytest.MonkeyPatch) -> None:
    naps: list[float] = []
    # The limiter's own reference to ``time``: the real clock, its sleeps recorded.
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=time.time, sleep=naps.append))
    RateLimiter(380, locmem).acquire()
    assert naps == []


def test_one_call_a_minute_is_refused() -> None:
    with pytest.raises(ValueError, match="2 or more"):
        RateLimiter(1)


@pytest.mark.parametrize("limit", [None, 0])
def test_no_limit_never_touches_the_cache(limit: int | None) -> None:
    RateLimiter(limit, "no-such-cache").acquire()


class FakeClock:
    """``time`` for the limiter: ``sleep`` moves the clock on, or not at all when
    ``frozen``, which is how senders waiting side by side look."""

    def __init__(self, now: float, frozen: bool = False, oversleep: float = 0.0) -> None:
        self.now, self.frozen, self.oversleep = now, frozen, oversleep
        self.naps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.naps.append(seconds)
        if not self.frozen:
            self.now += seconds + self.oversleep


class CountingCaches:
    """``caches`` for the limiter, counting the calls it makes to the cache."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache
        self.calls: list[str] = []

    def __getitem__(self, alias: str) -> CountingCaches:
        return self

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.cache, name)


def test_a_free_slot_costs_one_cache_call_and_a_taken_one_three(
    locmem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = CountingCaches(caches[locmem])
    monkeypatch.setattr(ratelimit, "caches", counting)
    monkeypatch.setattr(ratelimit, "time", FakeClock(now=3000.0, frozen=True))
    limiter = RateLimiter(61, locmem)
    limiter.acquire()
    assert counting.calls == ["add"]

    counting.calls.clear()
    limiter.acquire()
    assert counting.calls == ["add", "get_many", "add"]


def test_senders_waiting_at_once_each_get_a_slot_of_their_own(
    locmem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(now=3000.0, frozen=True)
    monkeypatch.setattr(ratelimit, "time", clock)
    limiter = RateLimiter(61, locmem)  # a slot a second

    for _ in range(ratelimit.LOOKAHEAD + 10):
        limiter.acquire()

    # The first takes the current slot; each next one sleeps a second longer, also
    # past the slots one look ahead can see.
    assert clock.naps == [float(n) for n in range(1, ratelimit.LOOKAHEAD + 10)]


def test_a_slot_over_before_its_sender_wakes_is_not_used(
    locmem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(now=3000.5, oversleep=1.2)
    monkeypatch.setattr(ratelimit, "time", clock)
    limiter = RateLimiter(61, locmem)  # a slot a second
    limiter.acquire()  # slot 3000, at once
    limiter.acquire()  # slot 3001, but it wakes at 3002.2: it takes slot 3002 instead

    limiter.acquire()

    # Had the second used slot 3001 late, 3002 would be free and two calls would
    # have gone within 3002.2.
    assert clock.naps == pytest.approx([0.5, 0.8])


# Several senders at once


def acquire_from_threads(limiter: RateLimiter, threads: int, each: int) -> list[float]:
    times: list[float] = []
    barrier = threading.Barrier(threads)

    def sender() -> None:
        barrier.wait()
        try:
            times.extend(take(limiter, each))
        finally:
            connection.close()

    workers = [threading.Thread(target=sender) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return times


@pytest.mark.slow
def test_threads_of_one_process_share_the_limit(locmem: str) -> None:
    times = acquire_from_threads(RateLimiter(4, locmem, window=0.6), threads=4, each=3)
    assert len(times) == 12
    assert busiest(times, 0.6) <= 4


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    "connection.vendor != 'postgresql'",
    reason="true concurrency needs PostgreSQL; SQLite serialises",
)
def test_senders_with_their_own_database_connections_share_the_limit() -> None:
    table = f"fp_limits_{uuid.uuid4().hex[:12]}"
    with override_settings(
        CACHES=cache_settings("django.core.cache.backends.db.DatabaseCache", table)
    ):
        call_command("createcachetable", verbosity=0)
        times = acquire_from_threads(RateLimiter(4, "limits", window=0.6), threads=4, each=3)
    assert len(times) == 12
    assert busiest(times, 0.6) <= 4


def sender_processes(
    settings: dict[str, Any],
    alias: str | None,
    limit: int,
    window: float,
    processes: int,
    each: int,
) -> list[float]:
    """When each slot was granted to ``processes`` senders taking ``each``, all at once."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    ready = context.Barrier(processes)
    args = (settings, alias, limit, window, each, ready, results)
    senders = [context.Process(target=take_slots, args=args) for _ in range(processes)]
    for sender in senders:
        sender.start()
    granted = [results.get(timeout=60) for _ in senders]
    for sender in senders:
        sender.join(timeout=10)
    failures = [each for each in granted if isinstance(each, str)]
    assert not failures, failures
    return [t for times in granted for t in times]


@pytest.mark.slow
@needs_redis
def test_processes_sharing_redis_never_go_over_the_limit_together(
    redis_cache: dict[str, Any],
) -> None:
    limit, window, processes, each = 5, 0.8, 4, 4
    times = sender_processes({"CACHES": redis_cache}, "limits", limit, window, processes, each)

    assert len(times) == processes * each
    # Less 50 ms: a call's time is read here just after the limiter let it go.
    assert busiest(times, window - 0.05) <= limit
    # At the limit's pace, not slower: a slot every 0.2 s.
    assert max(times) - min(times) < processes * each * 0.2 + 2.0


# The database's slots, when no cache is named


def test_by_default_the_slots_are_kept_in_the_database() -> None:
    with firstpromoter(RATE_LIMIT=380):
        assert limiter_for(get_config()).cache_alias is None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_threads_with_their_own_connections_share_the_databases_slots() -> None:
    times = acquire_from_threads(RateLimiter(4, window=0.6), threads=4, each=3)
    assert len(times) == 12
    assert busiest(times, 0.6) <= 4


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_processes_sharing_only_the_database_never_go_over_the_limit_together() -> None:
    database = {
        key: connection.settings_dict[key]
        for key in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
    }
    limit, window, processes, each = 5, 0.8, 3, 4
    times = sender_processes(
        {"DATABASES": {"default": database}}, None, limit, window, processes, each
    )

    assert len(times) == processes * each
    assert busiest(times, window - 0.05) <= limit
    assert max(times) - min(times) < processes * each * 0.2 + 2.0


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    "connection.vendor != 'postgresql'",
    reason="what waits here is a row of PostgreSQL's primary key; SQLite locks the whole file",
)
def test_a_slot_taken_in_a_transaction_makes_another_sender_wait_for_it_and_lose_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock(now=3000.0, frozen=True)
    monkeypatch.setattr(ratelimit, "time", clock)
    limiter = RateLimiter(61)  # a slot a second
    taken, commit = threading.Event(), threading.Event()

    def in_a_transaction() -> None:
        try:
            with transaction.atomic():
                limiter.acquire()  # slot 3000, unseen by others until the commit
                taken.set()
                commit.wait(10)
        finally:
            connection.close()

    def another() -> None:
        try:
            limiter.acquire()
        finally:
            connection.close()

    first, second = threading.Thread(target=in_a_transaction), threading.Thread(target=another)
    first.start()
    assert taken.wait(10)
    second.start()
    second.join(0.5)
    waited = second.is_alive()
    commit.set()
    first.join(10)
    second.join(10)

    assert waited
    assert clock.naps == [1.0]  # the second lost slot 3000 and took 3001
    assert RateLimitSlot.objects.count() == 2


def slot_rows(count: int, expires: datetime.datetime, prefix: str) -> list[RateLimitSlot]:
    return [
        RateLimitSlot(cache_key=f"{prefix}{n}", value="MQ==", expires=expires) for n in range(count)
    ]


@pytest.mark.django_db
def test_a_full_table_culls_the_expired_slots_and_no_live_one() -> None:
    now = timezone.now()
    over = ratelimit.SLOT_TABLE_MAX_ENTRIES + 1
    RateLimitSlot.objects.bulk_create(
        slot_rows(over, now - datetime.timedelta(minutes=1), "expired:")
        + slot_rows(over, now + datetime.timedelta(minutes=1), "live:")
    )

    # Slots of a minute: culling a thousand rows on a loaded machine can outlast a
    # short slot, and the limiter would rightly take the next one too.
    RateLimiter(2).acquire()

    assert not RateLimitSlot.objects.filter(cache_key__startswith="expired:").exists()
    # Django's default culling would have dropped a third of them.
    assert RateLimitSlot.objects.filter(cache_key__startswith="live:").count() == over
    assert RateLimitSlot.objects.count() == over + 1


class RecordingRouter:
    """Sends everything to "default", noting the models it was asked about."""

    def __init__(self) -> None:
        self.models: set[type] = set()

    def db_for_read(self, model: type, **hints: Any) -> str:
        self.models.add(model)
        return "default"

    db_for_write = db_for_read


@pytest.mark.django_db
def test_routers_see_the_slots_as_the_model_migrate_made_the_table_for() -> None:
    router = RecordingRouter()
    limiter = RateLimiter(380)
    with override_settings(DATABASE_ROUTERS=[router]):
        limiter.acquire()
        limiter.acquire()  # a slot taken: the look for the next is a read
    assert router.models == {RateLimitSlot}


# The database down while a slot is taken


def failing(statements: tuple[str, ...]) -> Any:
    """An execute wrapper under which ``statements`` on the slot table fail, as a
    database that refuses writes, or is gone, makes them fail. It gives up after
    a thousand, so that a limiter that keeps trying fails the test, not hangs it."""
    table = RateLimitSlot._meta.db_table
    failed: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if table in sql and sql.lstrip().upper().startswith(statements):
            failed.append(sql)
            if len(failed) > 1000:
                raise AssertionError("the limiter kept trying a store that refuses every write")
            raise OperationalError("the database is read-only")
        return execute(sql, params, many, context)

    wrapper.failed = failed  # type: ignore[attr-defined]
    return wrapper


@pytest.mark.django_db
def test_a_store_that_refuses_every_write_raises_after_a_few_tries() -> None:
    refusing = failing(("INSERT", "UPDATE"))
    with connection.execute_wrapper(refusing), pytest.raises(SlotRefused):
        RateLimiter(380).acquire()
    assert len(refusing.failed) == ratelimit.REFUSALS_TOLERATED + 1
    assert not RateLimitSlot.objects.exists()


@pytest.mark.django_db
def test_a_database_that_does_not_answer_raises_its_own_error() -> None:
    with connection.execute_wrapper(failing(("SELECT",))), pytest.raises(OperationalError):
        RateLimiter(380).acquire()


@pytest.mark.django_db
def test_a_write_refused_once_is_tried_again_on_the_next_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock(now=3000.0)
    monkeypatch.setattr(ratelimit, "time", clock)
    refusing = failing(("INSERT",))

    def refuse_once(*args: Any) -> Any:
        if refusing.failed:
            return args[0](*args[1:])
        return refusing(*args)

    with connection.execute_wrapper(refuse_once):
        RateLimiter(61).acquire()  # a slot a second

    # Slot 3000 refused; after a pause, 3001 taken and waited for.
    assert len(clock.naps) == 2 and clock.naps[0] <= ratelimit.REFUSAL_PAUSE_SECONDS
    assert sum(clock.naps) == pytest.approx(1.0)
    assert list(RateLimitSlot.objects.values_list("cache_key", flat=True)) == [
        f":1:{ratelimit.KEY_PREFIX}3001"
    ]


@pytest.mark.django_db
def test_deliver_raises_and_sends_nothing_when_no_slot_can_be_taken() -> None:
    sale = make_sale()
    with (
        firstpromoter(RATE_LIMIT=380),
        responses.RequestsMock(),  # any call would fail the test: none is registered
        connection.execute_wrapper(failing(("INSERT", "UPDATE"))),
        pytest.raises(DatabaseError),
    ):
        delivery.deliver(Sale, sale.pk)
    sale.refresh_from_db()
    # Given back, due at once with no attempt counted: any sender may take it now.
    assert (sale.status, sale.attempt_count, sale.attempts.count()) == (
        DeliveryStatus.PENDING,
        0,
        0,
    )


# Delivery


@pytest.mark.django_db
def test_deliver_waits_for_a_slot_before_each_call(locmem: str) -> None:
    sent: list[float] = []

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        sent.append(time.time())
        return 200, {}, json.dumps(success_body(2))

    with (
        firstpromoter(RATE_LIMIT=306, RATE_LIMIT_CACHE=locmem),  # a slot every 61 / 305 = 0.2 s
        responses.RequestsMock() as mocked,
    ):
        mocked.add_callback(responses.POST, V2_URL, callback=answer)
        for n in range(3):
            sale = make_sale(event_id=f"evt-{n}")
            assert delivery.deliver(Sale, sale.pk) == DeliveryStatus.TRACKED
        assert limiter_for(get_config()).interval == pytest.approx(0.2)

    # Three calls in three different slots: more than a slot apart from first to last.
    assert max(sent) - min(sent) > 0.2
