"""Failures on demand, so that a shop's retries can be watched doing their job.

Every value is checked when it is set, however it is set (the command line,
``POST /api/faults`` or ``sandbox.faults.error_rate = 1.0`` in a test), so a
typo fails where it is made instead of as a sandbox that quietly never fails.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


def number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"must be a number, not {value!r}")
    try:
        result = float(value)
    except ValueError:
        raise ValueError(f"must be a number, not {value!r}") from None
    if not math.isfinite(result):
        raise ValueError(f"must be a finite number, not {value!r}")
    return result


def rate(value: Any) -> float:
    """A probability."""
    result = number(value)
    if not 0 <= result <= 1:
        raise ValueError(f"must be between 0 and 1, not {value!r}")
    return result


def duration(value: Any) -> float:
    result = number(value)
    if result < 0:
        raise ValueError(f"must not be negative, not {value!r}")
    return result


def count(value: Any) -> int:
    result = duration(value)
    if not result.is_integer():
        raise ValueError(f"must be a whole number, not {value!r}")
    return int(result)


@dataclass
class Faults:
    latency_ms: float = 0.0
    """Added to every API call, tracking or admin, before it is answered."""
    error_rate: float = 0.0
    """Share of API calls, tracking or admin, answered 500."""
    timeout_rate: float = 0.0
    """Share of API calls held ``hold_seconds`` (longer than a client waits), then
    closed without an answer and without carrying anything out."""
    lost_rate: float = 0.0
    """Share of API calls carried out (a sale recorded, a commission approved) whose
    answer is then lost: the connection is closed without one."""
    rate_limit: int = 0
    """API calls allowed per minute, tracking and admin together (FirstPromoter's one
    budget per account), then 429 with ``Retry-After``; 0 for no limit."""
    hold_seconds: float = 30.0

    def __setattr__(self, name: str, value: Any) -> None:
        check = CHECKS.get(name)
        if check is None:
            raise AttributeError(f"there is no fault named {name!r}")
        try:
            value = check(value)
        except ValueError as exc:
            raise ValueError(f"{name} {exc}") from None
        super().__setattr__(name, value)

    def update(self, changes: Mapping[str, Any]) -> None:
        """Set several at once, or, when any of them is wrong, none."""
        unknown = sorted(set(changes) - set(CHECKS))
        if unknown:
            raise ValueError(f"there is no fault named {', '.join(map(repr, unknown))}")
        checked = Faults(**{**self.as_dict(), **changes})
        for name, value in checked.as_dict().items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def healed() -> dict[str, Any]:
    """Every fault off, for the dashboard's Heal: ``hold_seconds`` is kept as it is,
    being how long a timeout holds a call rather than a fault of its own."""
    off = Faults().as_dict()
    del off["hold_seconds"]
    return off


CHECKS: dict[str, Callable[[Any], Any]] = {
    "latency_ms": duration,
    "error_rate": rate,
    "timeout_rate": rate,
    "lost_rate": rate,
    "rate_limit": count,
    "hold_seconds": duration,
}
