"""RQ and Celery, behind Django's Tasks framework, deliver every record once though
their workers are killed on the way.

One bounded run per engine on the machine's Redis: a few hundred paid orders, every
fifth partly refunded, placed while two workers run (this process queues each task
after its commit, as a shop's web process does); FirstPromoter's sandbox answers a
tenth of the calls 500 and loses the answer to one in twenty after counting it. Mid-run
a worker is SIGKILLed with all it runs, and one job's process too (RQ's work-horse,
a Celery pool process), each inside a call: FirstPromoter is slowed for a moment so
that every sender is in one when the kill comes. A fresh worker replaces the dead one.

Only what docs/tasks.md tells a shop to run runs: the engine's workers and the sweep,
``firstpromoter_deliver --enqueue``, here every ``SWEEP_EVERY`` seconds where cron
would run it every minute. Then every record ends tracked or not_referral, none is
counted twice, and none waits past its due time (pending) or its lease (sending) for
longer than the sweep takes to find it: one period of the sweep past the lease, and
for a pending record ``monitoring.OVERDUE_AFTER`` (a minute) more.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection
from django.db.models import Count, Sum
from django.utils import timezone

from django_firstpromoter import delivery, lookups
from django_firstpromoter.models import Refund, Sale
from django_firstpromoter.monitoring import OVERDUE_AFTER
from django_firstpromoter.sandbox import Sandbox
from django_firstpromoter.sandbox.faults import Faults
from django_firstpromoter.statuses import DeliveryStatus
from tests.shop.models import Order
from tests.workers import ROOT, start_deliver, worker_environment

ORDERS = 300
REFUND_EVERY = 5
# A shop's pace, which two workers of either engine keep up with: a record then waits
# past its due time only when something went wrong, not in a queue behind the rest.
ORDERS_PER_SECOND = 8.0
# The sweep's period here; a shop's cron runs it every minute.
SWEEP_EVERY = 5.0
# A pending record no sender took is swept once due for OVERDUE_AFTER, one stranded in
# `sending` by a kill once its lease (30 s) has ended, each at the next sweep; the
# slack is the sweep's own start-up and the worker's turn to run the task. A swept job
# joins the back of the queue: on a loaded machine the workers fall behind the orders
# for a while and every job waits its turn, the swept ones too, so the `sending` bound
# also allows the queue's wait in the same run (the longest a pending record waited
# short of being overdue); the sweep is held to its own delay.
SLACK = 10.0
LATE_BOUND = {
    DeliveryStatus.PENDING: OVERDUE_AFTER.total_seconds() + SWEEP_EVERY + SLACK,
    DeliveryStatus.SENDING: SWEEP_EVERY + SLACK,
}
DRAIN_SECONDS = 150.0
# Long enough for a worker to start; only a broken run waits this long.
START_SECONDS = 60.0
# The workers' settings: a lease of 30 s (the shortest there is), quick retries.
TIMEOUT = 2.0
# How long FirstPromoter takes to answer, but while a kill comes.
LATENCY_MS = 20.0
# How slow FirstPromoter is while a kill comes: under TIMEOUT, so the calls of the
# senders that live are answered.
SLOW_MS = 1500.0
WAITING = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
# Redis databases of their own, flushed before and after each run.
RQ_DB = 5
CELERY_DB = 6


def redis_is_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(360),
    pytest.mark.skipif(
        "connection.vendor != 'postgresql'",
        reason="the engines' test runs worker processes on PostgreSQL (DATABASE_URL=postgres://...)",
    ),
    pytest.mark.skipif(not redis_is_up(), reason=f"no Redis server at {REDIS_URL}"),
    pytest.mark.skipif(sys.platform != "linux", reason="a worker's processes are found in /proc"),
]


def children(pid: int) -> list[tuple[int, int]]:
    """The processes whose parent is ``pid``, each with its process group: /proc's
    ``stat`` says both (after the command's name, which may hold spaces)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append((int(entry.name), int(fields[2])))
    return found


def descendants(pid: int) -> list[int]:
    found = []
    for child, _ in children(pid):
        found += [child, *descendants(child)]
    return found


def kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class Run:
    """One engine's run, as its shop would have it: the sandbox, the settings every
    process shares, the workers, and the sweep on its schedule. Every wait of the test
    goes through ``wait``, which keeps the sweep running and watches how late the
    records wait."""

    def __init__(
        self,
        engine: str,
        sandbox: Sandbox,
        tmp_path: Path,
        settings: Any,
        tasks: dict[str, Any],
        extra_settings: dict[str, Any],
        apps: list[str],
    ) -> None:
        self.engine = engine
        self.sandbox = sandbox
        self.tmp_path = tmp_path
        firstpromoter = {
            "BASE_URL": sandbox.base_url(2),
            "DELIVERY": "task",
            "TIMEOUT": TIMEOUT,
            "RETRY_BACKOFF": 1,
            "MAX_ATTEMPTS": 30,
            "REFUND_FROM_ORDER": "tests.shop.firstpromoter.refund_from_order",
        }
        # This process queues on the same broker as the workers take from.
        settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, **firstpromoter}
        settings.TASKS = tasks
        for name, value in extra_settings.items():
            setattr(settings, name, value)
        self.env = worker_environment(
            firstpromoter, tasks=tasks, extra_settings=extra_settings, apps=apps
        )
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.kills: list[str] = []
        self.started = time.monotonic()
        self.sweep_log = tmp_path / "sweep.log"
        self.sweep: subprocess.Popen[bytes] | None = None
        self.sweeps = 0
        self.next_sweep = time.monotonic()
        # The worst seen of each record's wait past its due time, by (kind, pk, status).
        self.late: dict[tuple[str, int, str], float] = {}
        self.next_watch = time.monotonic()
        self.expected: dict[str, str] = {}
        self.expected_refunds: dict[str, str] = {}

    def log(self, name: str) -> Path:
        return self.tmp_path / f"{name}.log"

    def start(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        """A worker in a session of its own: killing its group kills what it forked
        (except RQ's work-horse, which makes a group of its own)."""
        with self.log(name).open("ab") as output:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers[name] = process
        return process

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}:\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.tmp_path.glob("*.log"))
        )

    # What every wait does.

    def tick(self) -> None:
        if time.monotonic() >= self.next_watch:
            self.watch()
            self.next_watch = time.monotonic() + 0.2
        if self.sweep is not None and self.sweep.poll() is not None:
            self.sweep = None
        if self.sweep is None and time.monotonic() >= self.next_sweep:
            with self.sweep_log.open("ab") as output:
                self.sweep = start_deliver("--enqueue", env=self.env, output=output)
            self.sweeps += 1
            self.next_sweep = time.monotonic() + SWEEP_EVERY

    def watch(self) -> None:
        """How long past its due time each record that may be sent now has waited. A
        refund may be sent once its sale is settled, not before: it is due from the
        later of its own due time and its sale's settling (the sale's last update)."""
        now = timezone.now()
        sales = delivery.due(Sale, now).values_list("pk", "status", "next_attempt_at")
        for pk, status, due_at in sales:
            self.saw("Sale", pk, status, now - due_at)
        refunds = delivery.due(Refund, now).values_list(
            "pk", "status", "next_attempt_at", "sale__updated_at"
        )
        for pk, status, due_at, sale_settled_at in refunds:
            self.saw("Refund", pk, status, now - max(due_at, sale_settled_at))

    def saw(self, kind: str, pk: int, status: str, late: datetime.timedelta) -> None:
        key = (kind, pk, status)
        self.late[key] = max(self.late.get(key, 0.0), late.total_seconds())

    def wait(self, predicate: Callable[[], bool], seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.engine}: waited {seconds:g} s for {what}\n{self.logs()}")
            self.tick()
            time.sleep(0.2)

    # The shop.

    def place_orders(self, count: int) -> None:
        """Paid orders, and the refunds of every fifth: half through alice's tracked
        click, a quarter through bob's link, a quarter through no promoter (as in the
        chaos test), each event id with what FirstPromoter should make of it; at
        ``ORDERS_PER_SECOND``."""
        for _ in range(count):
            next_order = time.monotonic() + 1 / ORDERS_PER_SECOND
            n = len(self.expected)
            referral: dict[str, Any] = {}
            if n % 4 in (0, 1):
                referral["referral_tid"] = self.sandbox.click("alice")
            elif n % 4 == 2:
                referral["referral_ref_id"] = "bob"
            order = Order.objects.create(
                email=f"buyer{n}@example.com", total=Decimal("19.99"), paid=True, **referral
            )
            event_id = f"order-{order.pk}"
            self.expected[event_id] = (
                DeliveryStatus.NOT_REFERRAL if n % 4 == 3 else DeliveryStatus.TRACKED
            )
            if n % REFUND_EVERY == 0:
                order.refunded = Decimal("5.00")
                order.save()
                self.expected_refunds[f"{event_id}-refunded-5.00"] = self.expected[event_id]
            self.tick()
            time.sleep(max(0.0, next_order - time.monotonic()))

    def in_flight(self, since: int) -> int:
        """Sends since request ``since`` that FirstPromoter will not answer for a while
        yet (made under 60 % of ``SLOW_MS`` ago): a kill that comes now lands before
        the answer. Not the look-ups of rewards, which a task makes after its record is
        settled: a kill in one of those strands nothing."""
        recent = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(
            milliseconds=0.6 * SLOW_MS
        )
        return sum(
            1
            for request in self.sandbox.requests
            if request.id > since
            and request.call in ("sale", "refund")
            and request.status is None
            and not request.fault
            and datetime.datetime.fromisoformat(request.at.replace("Z", "+00:00")) > recent
        )

    @contextlib.contextmanager
    def every_sender_in_a_call(self, senders: int) -> Iterator[None]:
        """FirstPromoter slowed down until each of ``senders`` is inside a call, a few
        orders more placed to keep them busy: a kill then lands mid-send. Few, since
        what waits behind the slow calls waits past its due time."""
        since = max((request.id for request in self.sandbox.requests), default=0)
        self.sandbox.faults.latency_ms = SLOW_MS
        try:
            self.place_orders(senders + 2)

            def all_busy() -> bool:
                if self.in_flight(since) >= senders:
                    return True
                # A sender whose call was answered needs another order to be in one.
                self.place_orders(1)
                return False

            self.wait(all_busy, 60, f"{senders} senders in a call")
            yield
        finally:
            self.sandbox.faults.latency_ms = LATENCY_MS

    def drained(self) -> bool:
        return not (
            Sale.objects.filter(status__in=WAITING).exists()
            or Refund.objects.filter(status__in=WAITING).exists()
        )

    def drain(self) -> float:
        """Seconds from the start of the run until every record settled."""
        self.wait(self.drained, DRAIN_SECONDS, "every record to settle")
        return time.monotonic() - self.started

    def stop(self) -> dict[str, int | None]:
        """SIGTERM to every worker (a warm shutdown for both engines), SIGKILL to what
        is left of it after 30 s; the sweep, if running, is waited for."""
        if self.sweep is not None:
            self.sweep.wait(timeout=30)
        forked = {name: descendants(process.pid) for name, process in self.workers.items()}
        for process in self.workers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for name, process in self.workers.items():
            try:
                codes[name] = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                codes[name] = None
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            kill(forked[name])
        return codes

    def report(self, drained_in: float, codes: dict[str, int | None]) -> dict[str, Any]:
        """The end state, and the numbers of the run, printed for the record."""
        statuses = dict(Sale.objects.values_list("event_id", "status"))
        refund_statuses = dict(Refund.objects.values_list("event_id", "status"))
        counted = Counter(event.event_id for event in self.sandbox.sales)
        refunds_counted = Counter(event.event_id for event in self.sandbox.refunds)
        claims = attempts = retried = rewards_unknown = 0
        for model in (Sale, Refund):
            claims += model.objects.aggregate(n=Sum("attempt_count"))["n"] or 0
            attempts += model.objects.aggregate(n=Count("attempts"))["n"] or 0
            retried += model.objects.filter(attempt_count__gt=1).count()
            rewards_unknown += lookups.unknown(model).count()
        faults_met = Counter(
            f"{request.call} {request.fault or request.status}" for request in self.sandbox.requests
        )
        swept: Counter[str] = Counter()
        for line in self.sweep_log.read_text(errors="replace").splitlines():
            if line.startswith("queued "):
                swept.update({kind: int(n) for n, kind in re.findall(r"(\d+) (\w+)", line)})
        late = {
            status: max(
                (seconds for (_, _, each), seconds in self.late.items() if each == status),
                default=0.0,
            )
            for status in WAITING
        }
        backlog = max(
            (
                seconds
                for (_, _, status), seconds in self.late.items()
                if status == DeliveryStatus.PENDING and seconds < OVERDUE_AFTER.total_seconds()
            ),
            default=0.0,
        )
        waited = [(kind, pk, status, s) for (kind, pk, status), s in self.late.items() if s > 5]
        longest = sorted(waited, key=lambda each: -each[3])[:5]
        result = {
            "statuses": statuses,
            "refund_statuses": refund_statuses,
            "counted": counted,
            "refunds_counted": refunds_counted,
            "late": late,
            "backlog": backlog,
            "codes": codes,
        }
        lines = [
            f"{self.engine}: {len(statuses)} sales, {len(refund_statuses)} refunds settled in "
            f"{drained_in:.0f} s: sales {dict(Counter(statuses.values()))}, "
            f"refunds {dict(Counter(refund_statuses.values()))}",
            f"kills: {'; '.join(self.kills)}",
            f"{len(self.sandbox.requests)} calls: {dict(sorted(faults_met.items()))}",
            f"{claims} claims, {attempts} attempts logged ({claims - attempts} cut off by a "
            f"kill), {retried} records claimed more than once; counted twice: "
            f"{sum(n > 1 for n in counted.values())} sales, "
            f"{sum(n > 1 for n in refunds_counted.values())} refunds",
            f"the sweep ran {self.sweeps} times, queued {swept['sales']} sales, "
            f"{swept['refunds']} refunds",
            f"tracked with their rewards still unknown: {rewards_unknown}",
            f"longest wait past due: pending {late[DeliveryStatus.PENDING]:.1f} s, sending "
            f"past its lease {late[DeliveryStatus.SENDING]:.1f} s (bounds "
            f"{LATE_BOUND[DeliveryStatus.PENDING]:g} s and "
            f"{LATE_BOUND[DeliveryStatus.SENDING]:g} s + the queue's wait, {backlog:.1f} s); "
            f"{len(waited)} waited over 5 s, the longest: "
            + ", ".join(f"{kind} {pk} {status} {s:.1f} s" for kind, pk, status, s in longest),
            f"workers' exit codes: {codes}",
        ]
        print("\n" + "\n  ".join(lines))
        result["cut_off"] = claims - attempts
        return result

    def check(self, result: dict[str, Any], killed_in_a_send: int) -> None:
        """What the issue asks of every engine; and that the kills came in the middle
        of ``killed_in_a_send`` sends, or the run proved less than it says."""
        statuses, counted = result["statuses"], result["counted"]
        refund_statuses, refunds_counted = result["refund_statuses"], result["refunds_counted"]
        assert len(statuses) == len(self.expected) >= ORDERS
        assert {e: s for e, s in statuses.items() if s != self.expected[e]} == {}
        assert {e: s for e, s in refund_statuses.items() if s != self.expected_refunds[e]} == {}
        assert len(refund_statuses) == len(self.expected_refunds)
        tracked = {e for e, s in self.expected.items() if s == DeliveryStatus.TRACKED}
        assert set(counted) == tracked
        assert {e for e, n in counted.items() if n > 1} == set()
        tracked_refunds = {
            e for e, s in self.expected_refunds.items() if s == DeliveryStatus.TRACKED
        }
        assert set(refunds_counted) == tracked_refunds
        assert {e for e, n in refunds_counted.items() if n > 1} == set()
        assert result["late"][DeliveryStatus.PENDING] <= LATE_BOUND[DeliveryStatus.PENDING]
        assert (
            result["late"][DeliveryStatus.SENDING]
            <= LATE_BOUND[DeliveryStatus.SENDING] + result["backlog"]
        )
        # Claims whose answer no attempt row logged.
        assert result["cut_off"] >= killed_in_a_send


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    faults = Faults(latency_ms=LATENCY_MS, error_rate=0.1, lost_rate=0.05)
    with Sandbox(faults=faults, seed=5) as sandbox:
        yield sandbox


@contextlib.contextmanager
def redis_db(number: int) -> Iterator[str]:
    url = f"{REDIS_URL}/{number}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


# RQ through django-tasks-rq.


def rq_worker(name: str) -> list[str]:
    """docs/tasks.md's RQ worker, named."""
    return [
        *(sys.executable, "-m", "django", "rqworker", "--with-scheduler"),
        *("--job-class", "django_tasks_rq.Job", "--name", name, "default"),
    ]


def test_rq_delivers_every_record_once_through_killed_workers(
    sandbox: Sandbox, tmp_path: Path, settings: Any
) -> None:
    assert connection.vendor == "postgresql"
    pytest.importorskip("django_tasks_rq")
    from rq import Worker as RQWorker

    with redis_db(RQ_DB) as url:
        broker = redis.Redis.from_url(url)
        run = Run(
            "RQ",
            sandbox,
            tmp_path,
            settings,
            tasks={"default": {"BACKEND": "django_tasks_rq.RQBackend"}},
            extra_settings={"RQ_QUEUES": {"default": {"URL": url}}},
            apps=["django_rq", "django_tasks_rq"],
        )

        def registered(*names: str) -> Callable[[], bool]:
            return lambda: set(names) <= {w.name for w in RQWorker.all(connection=broker)}

        try:
            # A first, so that it holds the scheduler: B, not it, is killed whole.
            run.start("a", rq_worker("a"))
            run.wait(
                lambda: registered("a")() and bool(broker.exists("rq:scheduler-lock:default")),
                START_SECONDS,
                "worker a and its scheduler",
            )
            run.start("b", rq_worker("b"))
            run.wait(registered("b"), START_SECONDS, "worker b")

            run.place_orders(ORDERS // 4)
            with run.every_sender_in_a_call(2):
                (horse,) = [pid for pid, group in children(run.workers["a"].pid) if pid == group]
                os.kill(horse, signal.SIGKILL)
            run.kills.append(f"worker a's work-horse {horse}")

            run.place_orders(ORDERS // 4)
            with run.every_sender_in_a_call(2):
                b = run.workers["b"]
                tree = descendants(b.pid)
                os.killpg(b.pid, signal.SIGKILL)
                kill(tree)  # its work-horse, in a group of its own
                b.wait()
            run.kills.append(f"worker b ({len(tree)} processes under it)")
            run.start("c", rq_worker("c"))

            run.place_orders(ORDERS - len(run.expected))
            drained_in = run.drain()
        finally:
            codes = run.stop()
        result = run.report(drained_in, codes)
    run.check(result, killed_in_a_send=2)  # a's work-horse, b's
    # b was killed: its code is the SIGKILL's.
    assert codes == {"a": 0, "b": -signal.SIGKILL, "c": 0}, run.logs()


# Celery through django-tasks-fennel.


def celery_worker(name: str) -> list[str]:
    """A shop's Celery worker: the prefork pool, two processes."""
    return [
        *(sys.executable, "-m", "celery", "-A", "django_tasks_fennel.app", "worker"),
        *("--pool", "prefork", "--concurrency", "2", "--hostname", f"{name}@%h"),
        *("--loglevel", "INFO"),
    ]


def celery_settings(url: str) -> dict[str, Any]:
    return {
        "CELERY_BROKER_URL": url,
        # A task is acknowledged once it ran, so a worker killed before that leaves
        # it to another; a pool process killed under it puts it back at once.
        "CELERY_TASK_ACKS_LATE": True,
        "CELERY_TASK_REJECT_ON_WORKER_LOST": True,
        "CELERY_WORKER_PREFETCH_MULTIPLIER": 1,
        # Nothing reads a delivery task's result.
        "CELERY_TASK_IGNORE_RESULT": True,
        "CELERY_RESULT_BACKEND": None,
        "CELERY_WORKER_HIJACK_ROOT_LOGGER": False,
    }


def test_celery_delivers_every_record_once_through_killed_workers(
    sandbox: Sandbox, tmp_path: Path, settings: Any
) -> None:
    assert connection.vendor == "postgresql"
    pytest.importorskip("django_tasks_fennel")

    with redis_db(CELERY_DB) as url:
        run = Run(
            "Celery",
            sandbox,
            tmp_path,
            settings,
            tasks={"default": {"BACKEND": "django_tasks_fennel.CeleryBackend"}},
            extra_settings=celery_settings(url),
            apps=["django_tasks_fennel"],
        )
        # This process's app, as django_tasks_fennel's ready() would install it: from
        # the settings above, which it reads on import.
        from django_tasks_fennel.app import app

        app.set_current()
        app.set_default()

        def ready(name: str) -> Callable[[], bool]:
            return lambda: " ready." in run.log(name).read_text(errors="replace")

        try:
            run.start("a", celery_worker("a"))
            run.start("b", celery_worker("b"))
            run.wait(lambda: ready("a")() and ready("b")(), START_SECONDS, "workers a and b")

            run.place_orders(ORDERS // 4)
            with run.every_sender_in_a_call(4):
                child = children(run.workers["b"].pid)[0][0]
                os.kill(child, signal.SIGKILL)
            run.kills.append(f"worker b's pool process {child}")

            run.place_orders(ORDERS // 4)
            with run.every_sender_in_a_call(4):
                a = run.workers["a"]
                tree = descendants(a.pid)
                os.killpg(a.pid, signal.SIGKILL)
                kill(tree)
                a.wait()
            run.kills.append(f"worker a ({len(tree)} processes under it)")
            run.start("c", celery_worker("c"))

            run.place_orders(ORDERS - len(run.expected))
            drained_in = run.drain()
        finally:
            codes = run.stop()
            app.close()
        result = run.report(drained_in, codes)
    run.check(result, killed_in_a_send=3)  # b's pool process, a's two
    assert codes == {"a": -signal.SIGKILL, "b": 0, "c": 0}, run.logs()
