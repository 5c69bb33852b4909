"""How the app tells the host what happened: one log line per event, and signals whose
receivers cannot break what was done already."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.dispatch import Signal

logger = logging.getLogger("django_firstpromoter")


def log_fields(level: int, what: str, fields: dict[str, Any]) -> None:
    """One line, ``firstpromoter <what> key=value …``, each value a JSON literal, so
    that an event id or an error text holding a space, a quote or a newline can
    neither forge a field nor start a line of its own. The same fields go in
    ``extra`` for JSON formatters. Callers pass no settings, so no credential."""
    pairs = " ".join(f"{key}={json.dumps(value)}" for key, value in fields.items())
    logger.log(level, "firstpromoter %s %s", what, pairs, extra=fields)


def send_robust(signal: Signal, name: str, sender: Any, **kwargs: Any) -> None:
    """Send ``signal`` (``name`` in ``signals``, for the log) once the change it tells
    of is saved: a host receiver's bug is logged with its traceback and must not undo
    or hide that change."""
    for receiver, result in signal.send_robust(sender=sender, **kwargs):
        if isinstance(result, Exception):
            logger.error("receiver %r of %s raised", receiver, name, exc_info=result)
