"""Drain the queue of due sales: once (cron) or forever (``--loop``, a worker)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_firstpromoter.delivery import deliver_due
from django_firstpromoter.models import Sale
from django_firstpromoter.statuses import DeliveryStatus


class Command(BaseCommand):
    help = "Send every FirstPromoter sale that is due, once; with --loop, keep polling."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Keep polling until stopped.")
        parser.add_argument(
            "--limit", type=positive(int), default=None, help="Send at most N per pass."
        )
        parser.add_argument(
            "--interval",
            type=positive(float),
            default=5.0,
            help="Seconds between passes with --loop.",
        )

    def handle(
        self, *args: Any, loop: bool, limit: int | None, interval: float, **options: Any
    ) -> None:
        try:
            while True:
                results = deliver_due(Sale, limit=limit)
                if results or not loop:
                    self.stdout.write(summary(results))
                if not loop:
                    return
                time.sleep(interval)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            return


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


def summary(results: dict[str, int]) -> str:
    labels = [
        (DeliveryStatus.TRACKED, "tracked"),
        (DeliveryStatus.NOT_REFERRAL, "not referral"),
        (DeliveryStatus.PENDING, "retry later"),
        (DeliveryStatus.FAILED, "failed"),
    ]
    parts = ", ".join(f"{results.get(status, 0)} {label}" for status, label in labels)
    return f"sent {sum(results.values())}: {parts}"
