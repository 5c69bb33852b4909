"""Waiting for something another thread or process does, never for longer than a
deadline: a wait that cannot end would hang the run instead of failing it."""

from __future__ import annotations

import time
from collections.abc import Callable


def poll(predicate: Callable[[], bool], seconds: float, interval: float = 0.05) -> bool:
    """Whether ``predicate()`` came true within ``seconds``, asked every ``interval``.

    For a caller that reports a timeout its own way (with everything it measured);
    any other caller wants ``wait_until``."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def wait_until(
    predicate: Callable[[], bool],
    seconds: float,
    what: str | Callable[[], str],
    interval: float = 0.05,
) -> None:
    """Return once ``predicate()`` is true; raise ``TimeoutError`` naming ``what`` was
    waited for once ``seconds`` have passed without it. ``what`` may be a callable,
    called only then: a worker's log, read when it explains the failure."""
    if not poll(predicate, seconds, interval):
        described = what() if callable(what) else what
        raise TimeoutError(f"waited {seconds:g} s for {described}")
