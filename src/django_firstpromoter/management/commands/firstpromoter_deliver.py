"""Drain the queue of due sales, refunds, cancellations and signups: once (cron) or
forever (``--loop``, a worker)."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import signal
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_firstpromoter.conf import get_config
from django_firstpromoter.kinds import TRACKED_MODELS
from django_firstpromoter.monitoring import queue_status
from django_firstpromoter.queueing import sweep
from django_firstpromoter.statuses import DeliveryStatus
from django_firstpromoter.worker import Worker


class Command(BaseCommand):
    help = (
        "Send every FirstPromoter sale, refund, cancellation and signup that is due, once; "
        "with --loop, keep polling."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--loop", action="store_true", help="Keep polling until SIGTERM or Ctrl-C."
        )
        mode.add_argument(
            "--status",
            action="store_true",
            help="Send nothing: print the queue, exit 1 if a record failed or waited too long "
            "(or, with DELIVERY 'task', is overdue).",
        )
        mode.add_argument(
            "--enqueue",
            action="store_true",
            help="With DELIVERY 'task': send nothing, queue a task for every overdue record "
            "(due for over a minute, or past a dead sender's lease), then exit. "
            "For cron or Celery beat.",
        )
        parser.add_argument(
            "--max-age",
            type=age,
            default=None,
            help="With --status: the longest a record may wait (seconds, or 30m, 2h, 1d).",
        )
        parser.add_argument(
            "--limit", type=positive(int), default=None, help="Send at most N, then stop."
        )
        parser.add_argument(
            "--interval",
            type=positive(float),
            default=5.0,
            help="Seconds to wait with --loop when nothing is due, or after an error.",
        )
        parser.add_argument(
            "--threads",
            type=positive(int),
            default=1,
            help="Send this many at once (each call mostly waits on the network).",
        )

    def handle(
        self,
        *args: Any,
        loop: bool,
        limit: int | None,
        interval: float,
        threads: int,
        status: bool,
        enqueue: bool,
        max_age: datetime.timedelta | None,
        **options: Any,
    ) -> None:
        if max_age is not None and not status:
            raise CommandError("--max-age goes with --status.")
        try:
            config = get_config()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        if status:
            self.report_status(max_age, overdue=config.delivery == "task")
            return
        if enqueue:
            self.run_sweep(config.delivery)
            return
        worker = Worker(
            config,
            threads=threads,
            loop=loop,
            interval=interval,
            limit=limit,
            on_sent=(lambda sent: self.stdout.write(summary(sent))) if loop else None,
        )
        with stop_on_signals(worker):
            results = worker.run()
        if not loop:
            self.stdout.write(summary(results))

    def run_sweep(self, delivery: str) -> None:
        if delivery != "task":
            raise CommandError(
                f"--enqueue queues tasks, for DELIVERY 'task'; DELIVERY is {delivery!r}: "
                "run firstpromoter_deliver without it to send what is due."
            )
        queued = sweep()
        self.stdout.write(
            "queued "
            + ", ".join(
                f"{count} {model._meta.verbose_name_plural}" for model, count in queued.items()
            )
        )

    def report_status(self, max_age: datetime.timedelta | None, *, overdue: bool) -> None:
        """For monitoring: the queue on stdout; a non-zero exit, saying why, when a
        person should look (in task mode, an overdue record too: its task was lost)."""
        problems = []
        for model in TRACKED_MODELS:
            kind = str(model._meta.verbose_name_plural)
            current = queue_status(model)
            self.stdout.write(f"{kind}:")
            for line in current.lines():
                self.stdout.write(f"  {line}")
            problems += [
                f"{kind}: {problem}" for problem in current.problems(max_age, overdue=overdue)
            ]
        if problems:
            raise CommandError("\n".join(problems))


@contextlib.contextmanager
def stop_on_signals(worker: Worker) -> Iterator[None]:
    """SIGTERM (a deploy, systemd, Kubernetes) and SIGINT (Ctrl-C) stop the worker
    cleanly instead of killing it mid-send; the previous handlers come back after."""
    previous = {
        signum: signal.signal(signum, lambda *_: worker.stop())
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def positive(kind: type[int] | type[float]) -> Any:
    """An argparse type: a number above zero (a negative --limit or --interval would crash)."""

    def parse(text: str) -> int | float:
        try:
            number = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if number <= 0:
            raise argparse.ArgumentTypeError(f"must be above zero, not {text}")
        return number

    return parse


AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def age(text: str) -> datetime.timedelta:
    """An argparse type: seconds, or a number with a unit (30m, 2h, 1d)."""
    number, unit = (text[:-1], text[-1]) if text[-1:] in AGE_UNITS else (text, "s")
    try:
        seconds = float(number) * AGE_UNITS[unit]
        if not seconds > 0:
            raise argparse.ArgumentTypeError(f"must be above zero, not {text}")
        return datetime.timedelta(seconds=seconds)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"{text!r} is not an age such as 600, 30m or 2h") from None


def summary(results: dict[str, int]) -> str:
    labels = [
        (DeliveryStatus.TRACKED, "tracked"),
        (DeliveryStatus.NOT_REFERRAL, "not referral"),
        (DeliveryStatus.PENDING, "retry later"),
        (DeliveryStatus.FAILED, "failed"),
    ]
    parts = ", ".join(f"{results.get(status, 0)} {label}" for status, label in labels)
    # Rare, and a person's to look at: named only when there is one.
    if duplicates := results.get(DeliveryStatus.DUPLICATE, 0):
        parts += f", {duplicates} duplicate event id"
    return f"sent {sum(results.values())}: {parts}"
