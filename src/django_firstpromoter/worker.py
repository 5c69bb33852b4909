"""The sender behind ``firstpromoter_deliver``: it claims due records and sends them,
until nothing is due (a cron run) or until stopped (``--loop``).

Each call to FirstPromoter mostly waits on the network, so with ``threads`` the
worker's main thread claims and several sender threads send, each with its own
database connection. On a database with ``SKIP LOCKED`` (PostgreSQL) a batch is
claimed in one query and several workers never wait on each other's rows;
elsewhere each row is claimed by its sender right before it is sent.

Stopping (``stop()``, which the command calls on SIGTERM and SIGINT) lets the
sends in flight finish, gives back what was claimed and not yet sent, and
leaves nothing ``sending``. No thread waits on the queue, another thread or a
pause without a timeout, so a stop is seen within a fraction of a second, or once
the send in flight is over (about two ``TIMEOUT``s at most).

Any error, in a claim or a send (the database or the limiter's cache gone, a
bug), is logged and its claim given back; a ``--loop`` worker then gives back
what else it holds, pauses ``interval`` and goes on, so it outlives a restart of
either. A cron run stops instead, gives back what it holds and raises the error.
"""

from __future__ import annotations

import datetime
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

from django.db import connections, router
from django.utils import timezone

from django_firstpromoter.conf import Config
from django_firstpromoter.delivery import (
    claim_batch,
    deliver,
    due,
    give_back,
    lease_left,
    send_claimed,
)
from django_firstpromoter.kinds import TRACKED_MODELS
from django_firstpromoter.lookups import follow_up
from django_firstpromoter.models import TrackedEvent
from django_firstpromoter.strategies import strategy_for

logger = logging.getLogger("django_firstpromoter")

BATCH_SIZE = 20
"""Records claimed at a time by a worker without threads: enough to spare a claim
query per send, few enough that a batch is sent well within its lease."""
REPORT_SECONDS = 10.0
"""How often a busy loop reports what it sent; an idle one reports once, going idle."""

Job = TrackedEvent | tuple[type[TrackedEvent], int]
"""A record claimed with its batch, or the model and pk of one its sender claims (no
SKIP LOCKED)."""


class Worker:
    """Send due records of every kind in ``models``, ``threads`` at a time.

    With ``loop`` it polls every ``interval`` seconds until ``stop()``; without, it
    sends what was due when it started (at most ``limit``) and returns. An error in
    a loop is logged and the worker goes on after ``interval``: it outlives a
    restart of the database or of the limiter's cache. A run without ``loop``
    raises it, after giving back what it had claimed.
    """

    def __init__(
        self,
        config: Config,
        *,
        models: Sequence[type[TrackedEvent]] = TRACKED_MODELS,
        threads: int = 1,
        loop: bool = False,
        interval: float = 5.0,
        limit: int | None = None,
        on_sent: Callable[[Counter[str]], None] | None = None,
    ) -> None:
        """``on_sent`` is called in the main thread with what was sent since its last
        call: every ``REPORT_SECONDS`` while busy, and when nothing more is due."""
        self.models = list(models)
        self.config = config
        self.on_retry = strategy_for(config).retry_due
        self.threads = threads
        self.loop = loop
        self.interval = interval
        self.on_sent = on_sent
        self.results: Counter[str] = Counter()
        self._unreported: Counter[str] = Counter()
        self._reported_at = 0.0
        self._remaining = limit
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._resume_at = 0.0
        self._look_up_after = 0.0
        self._error: Exception | None = None
        self._started_at: datetime.datetime | None = None
        self._batch_claims = all(
            connections[router.db_for_write(model)].features.has_select_for_update_skip_locked
            for model in self.models
        )

    def stop(self) -> None:
        """Finish the sends in flight, give back the rest, return from ``run()``.

        Only sets a flag, so it is safe in a signal handler."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def pause(self, seconds: float) -> None:
        """Wait before polling again; ``stop()`` cuts the wait short."""
        self._stopping.wait(seconds)

    def run(self) -> Counter[str]:
        """Send until done or stopped; how many records ended in each status."""
        self._started_at = timezone.now()
        if self.threads == 1:
            self._run_alone()
        else:
            self._run_with_senders()
        self._report()
        if self._error is not None:
            raise self._error
        return self.results

    def _run_alone(self) -> None:
        while jobs := self._next_jobs(BATCH_SIZE):
            for index, job in enumerate(jobs):
                if self._holding_back():
                    self._drop(jobs[index:])
                    break
                self._send(job)

    def _run_with_senders(self) -> None:
        # A short queue: records wait for a free sender, not for their lease to run out.
        jobs: queue.Queue[Job] = queue.Queue(maxsize=self.threads)
        claiming = threading.Event()
        claiming.set()
        senders = [
            threading.Thread(target=self._sender, args=(jobs, claiming), name=f"firstpromoter-{n}")
            for n in range(self.threads)
        ]
        for sender in senders:
            sender.start()
        try:
            while batch := self._next_jobs(self.threads):
                for index, job in enumerate(batch):
                    if not self._hand_over(jobs, job):
                        self._drop(batch[index:])
                        break
        finally:
            claiming.clear()
            # join() with a timeout, so that this thread still runs signal handlers.
            while any(sender.is_alive() for sender in senders):
                for sender in senders:
                    sender.join(timeout=0.2)
            # Nothing is left unless a sender died of something other than an Exception.
            self._drop(drain(jobs))

    def _hand_over(self, jobs: queue.Queue[Job], job: Job) -> bool:
        """Queue ``job`` for a sender; False if the worker was stopped meanwhile, or an
        error made it pause."""
        while not self._holding_back():
            try:
                jobs.put(job, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _sender(self, jobs: queue.Queue[Job], claiming: threading.Event) -> None:
        """Send what the main thread hands over until it stops claiming and the queue is
        empty. Never waits without a timeout, and never dies of an error in a send."""
        try:
            while claiming.is_set() or not jobs.empty():
                try:
                    job = jobs.get(timeout=0.2)
                except queue.Empty:
                    continue
                if self._holding_back():
                    self._drop([job])
                else:
                    self._send(job)
        finally:
            # A thread's connections are its own: closing them is its job.
            connections.close_all()

    def _holding_back(self) -> bool:
        """Whether to give back what this worker holds instead of sending it: it is
        stopping, or pausing after an error."""
        return self.stopping or time.monotonic() < self._resume_at

    def _next_jobs(self, size: int) -> list[Job]:
        """The next records to send, waiting for some with ``loop``; [] when done."""
        while not self.stopping:
            if (wait := self._resume_at - time.monotonic()) > 0:
                self.pause(wait)
                continue
            if time.monotonic() - self._reported_at >= REPORT_SECONDS:
                self._report()
            wanted = self._take(size)
            try:
                jobs = self._claim(wanted) if wanted else []
            except Exception as error:
                self._give_back(wanted)
                self._failed(error, "claiming")
                continue
            self._give_back(wanted - len(jobs))
            if jobs:
                return jobs
            self._look_up_rewards()
            self._report()
            if not self.loop or self._limit_reached():
                return []
            self.pause(self.interval)
            refresh_connections()
        return []

    def _look_up_rewards(self) -> None:
        """With nothing left to send, what FirstPromoter did not say of rewards
        (``lookups.follow_up``): a worker is never in a buyer's request."""
        if time.monotonic() < self._look_up_after:
            return
        try:
            wait = follow_up(self.config)
        except Exception as error:
            self._failed(error, "looking up rewards")
            return
        self._look_up_after = time.monotonic() + wait

    def _claim(self, size: int) -> list[Job]:
        # A cron run sends what was due when it started: a record that failed and is
        # due again at once (Retry-After: 0) waits for the next run.
        due_by = None if self.loop else self._started_at
        jobs: list[Job] = []
        # Each claim starts with the next kind, so that a backlog of one kind (a sales
        # import, say) does not hold the others back.
        self.models.append(self.models.pop(0))
        for model in self.models:
            wanted = size - len(jobs)
            if wanted <= 0:
                break
            if self._batch_claims:
                jobs.extend(claim_batch(model, self.config, wanted, due_by))
            else:
                pks = due(model, due_by).values_list("pk", flat=True)[:wanted]
                jobs.extend((model, pk) for pk in pks)
        return jobs

    def _send(self, job: Job) -> None:
        try:
            if isinstance(job, tuple):
                status = deliver(*job, self.config, on_retry=self.on_retry)
            # A send takes at most about two TIMEOUTs (connect, then read); one that
            # could outlast its lease might be sent twice at once.
            elif lease_left(job) < 2 * self.config.timeout + 1:
                give_back([job])
                status = None
            else:
                status = send_claimed(job, self.config, on_retry=self.on_retry)
        except Exception as error:
            # send_claimed and deliver have given the claim back already.
            self._give_back(1)
            self._failed(error, f"sending {describe(job)}")
            return
        if status is None:
            self._give_back(1)
        else:
            self._count(status)

    def _failed(self, error: Exception, doing: str) -> None:
        """After an error in this thread: in a loop, log it and make the whole worker
        pause for ``interval``, since whatever broke (the database, the limiter's
        cache) would most likely fail the next send too; in a cron run, stop it and
        have ``run()`` raise the first error."""
        # The error may have broken this thread's connection; the next query needs a
        # fresh one.
        refresh_connections()
        if self.loop:
            logger.error(
                "error while %s; trying again in %s s", doing, self.interval, exc_info=error
            )
            self._resume_at = time.monotonic() + self.interval
            return
        with self._lock:
            first, self._error = self._error is None, self._error or error
        if not first:
            logger.error("error while %s", doing, exc_info=error)
        self.stop()

    def _drop(self, jobs: list[Job]) -> None:
        """Give back jobs that will not be sent now, claimed or not."""
        self._give_back(len(jobs))
        claimed = [job for job in jobs if not isinstance(job, tuple)]
        if claimed:
            give_back(claimed)

    def _take(self, wanted: int) -> int:
        """How many records the next claim may take: ``wanted``, or fewer under a limit."""
        with self._lock:
            if self._remaining is None:
                return wanted
            granted = min(wanted, self._remaining)
            self._remaining -= granted
            return granted

    def _give_back(self, unused: int) -> None:
        with self._lock:
            if self._remaining is not None:
                self._remaining += unused

    def _limit_reached(self) -> bool:
        with self._lock:
            return self._remaining == 0

    def _count(self, status: str) -> None:
        with self._lock:
            self.results[status] += 1
            self._unreported[status] += 1

    def _report(self) -> None:
        with self._lock:
            sent, self._unreported = self._unreported, Counter()
        self._reported_at = time.monotonic()
        if sent and self.on_sent is not None:
            self.on_sent(sent)


def describe(job: Job) -> str:
    """The job as a log line names it: ``sale 12``."""
    model, pk = job if isinstance(job, tuple) else (type(job), job.pk)
    return f"{model._meta.verbose_name} {pk}"


def drain(jobs: queue.Queue[Job]) -> list[Job]:
    """What is left in ``jobs``, without waiting."""
    left = []
    while True:
        try:
            left.append(jobs.get_nowait())
        except queue.Empty:
            return left


def refresh_connections() -> None:
    """Drop connections that broke (a database restart) or outlived CONN_MAX_AGE, as
    Django does between requests; a long-running worker has no requests. A connection
    inside a caller's transaction is the caller's, and is left alone."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
