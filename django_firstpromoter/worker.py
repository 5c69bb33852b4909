"""The sender behind ``firstpromoter_deliver``: it claims due records and sends them,
until nothing is due (a cron run) or until stopped (``--loop``).

Each call to FirstPromoter mostly waits on the network, so with ``threads`` the
worker's main thread claims and several sender threads send, each with its own
database connection. On a database with ``SKIP LOCKED`` (PostgreSQL) a batch is
claimed in one query and several workers never wait on each other's rows;
elsewhere each row is claimed by its sender right before it is sent.

Stopping (``stop()``, which the command calls on SIGTERM and SIGINT) lets the
sends in flight finish, gives back what was claimed and not yet sent, and
leaves nothing ``sending``.
"""

from __future__ import annotations

import datetime
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

from django.db import DatabaseError, connections, router
from django.utils import timezone

from django_firstpromoter.conf import Config
from django_firstpromoter.delivery import (
    claim_batch,
    deliver,
    due,
    lease_left,
    release,
    send_claimed,
)
from django_firstpromoter.models import TRACKED_MODELS, TrackedEvent

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
    sends what was due when it started (at most ``limit``) and returns. A database
    error in a loop is logged and retried after ``interval``: a worker outlives a
    database restart.
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
        return self.results

    def _run_alone(self) -> None:
        while jobs := self._next_jobs(BATCH_SIZE):
            for index, job in enumerate(jobs):
                if self.stopping:
                    self._drop(jobs[index:])
                    return
                self._send(job)

    def _run_with_senders(self) -> None:
        # A short queue: records wait for a free sender, not for their lease to run out.
        jobs: queue.Queue[Job | None] = queue.Queue(maxsize=self.threads)
        senders = [
            threading.Thread(target=self._sender, args=(jobs,), name=f"firstpromoter-{n}")
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
            for _ in senders:
                jobs.put(None)
            # join() with a timeout, so that this thread still runs signal handlers.
            while any(sender.is_alive() for sender in senders):
                for sender in senders:
                    sender.join(timeout=0.2)

    def _hand_over(self, jobs: queue.Queue[Job | None], job: Job) -> bool:
        """Queue ``job`` for a sender; False if the worker was stopped meanwhile."""
        while not self.stopping:
            try:
                jobs.put(job, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _sender(self, jobs: queue.Queue[Job | None]) -> None:
        try:
            while (job := jobs.get()) is not None:
                if self.stopping:
                    self._drop([job])
                else:
                    self._send(job)
        finally:
            # A thread's connections are its own: closing them is its job.
            connections.close_all()

    def _next_jobs(self, size: int) -> list[Job]:
        """The next records to send, waiting for some with ``loop``; [] when done."""
        while not self.stopping:
            if time.monotonic() - self._reported_at >= REPORT_SECONDS:
                self._report()
            wanted = self._take(size)
            try:
                jobs = self._claim(wanted) if wanted else []
            except DatabaseError:
                if not self.loop:
                    raise
                logger.exception("database error while delivering; trying again shortly")
                jobs = []
            self._give_back(wanted - len(jobs))
            if jobs:
                return jobs
            self._report()
            if not self.loop or self._limit_reached():
                return []
            self.pause(self.interval)
            refresh_connections()
        return []

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
                status = deliver(*job, self.config)
            # A send takes at most about two TIMEOUTs (connect, then read); one that
            # could outlast its lease might be sent twice at once.
            elif lease_left(job) < 2 * self.config.timeout + 1:
                release([job])
                status = None
            else:
                status = send_claimed(job, self.config)
        except DatabaseError:
            # The record stays claimed until its lease ends, then is due again.
            logger.exception("database error while sending %s", job)
            refresh_connections()
            return
        if status is None:
            self._give_back(1)
        else:
            self._count(status)

    def _drop(self, jobs: list[Job]) -> None:
        release([job for job in jobs if not isinstance(job, tuple)])

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


def refresh_connections() -> None:
    """Drop connections that broke (a database restart) or outlived CONN_MAX_AGE, as
    Django does between requests; a long-running worker has no requests. A connection
    inside a caller's transaction is the caller's, and is left alone."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
