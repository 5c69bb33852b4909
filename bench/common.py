"""What every benchmark section shares: its rows, timing statistics, the sandbox."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.test.utils import override_settings

from django_firstpromoter.sandbox import Sandbox
from django_firstpromoter.sandbox.faults import Faults


@dataclass
class Row:
    """One line of the table: a measured case, its numbers, and its target if it has one."""

    section: str
    case: str
    database: str
    values: dict[str, float | int | str]
    target: str = ""
    met: bool | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank: p99 of 1,000 values is the 990th."""
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def timing_ms(seconds: list[float]) -> dict[str, float]:
    """Median and p99 of durations given in seconds, in milliseconds."""
    return {
        "median_ms": round(statistics.median(seconds) * 1000, 3),
        "p99_ms": round(percentile(seconds, 99) * 1000, 3),
    }


@contextmanager
def sandbox(**faults: Any) -> Iterator[Sandbox]:
    """A sandbox on a free loopback port with ``faults``; FIRSTPROMOTER points at it."""
    with Sandbox(faults=Faults(**faults)) as running, firstpromoter(BASE_URL=running.base_url(2)):
        yield running


def firstpromoter(**changes: Any) -> override_settings:
    """``settings.FIRSTPROMOTER`` with ``changes``, for a ``with`` block."""
    return override_settings(FIRSTPROMOTER={**settings.FIRSTPROMOTER, **changes})
