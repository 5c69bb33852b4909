"""Bring every reward up to date with FirstPromoter's commissions for a period: for cron."""

from __future__ import annotations

import argparse
import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_firstpromoter import commissions
from django_firstpromoter.conf import get_config
from django_firstpromoter.reconciliation import default_period, reconcile

DRIFT_LEFT = 1
"""The exit status when reconciling found what it could not fix (monitoring alerts)."""
FAILED = 2
"""The exit status when FirstPromoter, or the settings, stopped it."""


class Command(BaseCommand):
    help = (
        "Compare FirstPromoter's commissions created in a period (by default the last 30 "
        "days) with the rewards here, and bring every reward up to date."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=date, help="The first day (YYYY-MM-DD).")
        parser.add_argument("--until", type=date, help="The last day (YYYY-MM-DD), included.")
        parser.add_argument(
            "--start-page",
            type=int,
            default=1,
            help="Go on from this page of a run that stopped (the run's error names it).",
        )

    def handle(
        self,
        *args: Any,
        since: datetime.date | None,
        until: datetime.date | None,
        start_page: int,
        **options: Any,
    ) -> None:
        default_since, default_until = default_period()
        since, until = since or default_since, until or default_until
        if since > until or start_page < 1:
            raise CommandError("--since must not be after --until, and pages start at 1.")
        try:
            config = get_config()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc), returncode=FAILED) from exc
        if not commissions.available(config):
            raise CommandError(
                "FirstPromoter's admin API needs FIRSTPROMOTER['ACCOUNT_ID'] (Settings → "
                "Integrations), also for an API_VERSION 1 account.",
                returncode=FAILED,
            )
        done = [start_page - 1]
        try:
            summary = reconcile(config, since, until, start_page=start_page, on_page=done.append)
        except commissions.AdminError as exc:
            raise CommandError(
                f"FirstPromoter answered {exc}; pages up to {done[-1]} are reconciled: "
                f"rerun with --start-page {done[-1] + 1} to go on.",
                returncode=FAILED,
            ) from exc
        self.stdout.write(f"commissions created {since} to {until}:")
        for line in summary.lines():
            self.stdout.write(f"  {line}")
        if summary.drift_left:
            raise CommandError(
                "some tracked sales or refunds have no commission at FirstPromoter: "
                "look them up in FirstPromoter's dashboard.",
                returncode=DRIFT_LEFT,
            )


def date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date such as 2026-12-01") from None
