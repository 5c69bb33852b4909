"""``manage.py firstpromoter_sandbox``: the offline FirstPromoter, next to the project."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_firstpromoter.sandbox import cli


class Command(BaseCommand):
    help = "Run a local stand-in for FirstPromoter's tracking API (v1 and v2), until Ctrl-C."
    # The sandbox uses neither the database nor FIRSTPROMOTER: a settings mistake,
    # which the checks would refuse to start with, may be what it is run to try.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        cli.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            sandbox = cli.sandbox_from_options(options)
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {options['host']}:{options['port']}: {exc}"
            ) from exc
        cli.serve(sandbox, self.stdout)
