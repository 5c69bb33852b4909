"""A backlog of due sales made fast, and ``firstpromoter_deliver`` workers run as
processes of their own on it, as production runs them."""

from __future__ import annotations

import json
import os
import subprocess
import time
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from django_firstpromoter.models import Sale
from tests.waiting import wait_until
from tests.workers import start_deliver

ROOT = Path(__file__).resolve().parent.parent
PATIENCE = 3600.0
"""Seconds a worker may take to drain a backlog before the run is stopped: far more
than the largest backlog takes, so only a stuck worker reaches it."""


def make_backlog(count: int, prefix: str) -> None:
    """``count`` due sales, each referred by alice, so each one is tracked."""
    now = timezone.now()
    batch = [
        Sale(
            event_id=f"{prefix}-{n}",
            amount=Decimal("19.99"),
            amount_minor=1999,
            email=f"buyer{n}@example.com",
            ref_id="alice",
            api_version=2,
            next_attempt_at=now,
        )
        for n in range(count)
    ]
    Sale.objects.bulk_create(batch, batch_size=2000)


def start_worker(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``firstpromoter_deliver`` on this section's database, with this process's
    FIRSTPROMOTER settings (the sandbox's URL among them); its output is not kept."""
    environment = {
        **os.environ,
        **(env or {}),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "BENCH_FIRSTPROMOTER": json.dumps(settings.FIRSTPROMOTER),
        "PYTHONPATH": str(ROOT),
    }
    return start_deliver(*args, env=environment, output=subprocess.DEVNULL)


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (Linux's VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_watching_memory(
    worker: subprocess.Popen[bytes], seconds: float = PATIENCE
) -> tuple[float, float]:
    """Wait for the worker to exit, for ``seconds`` at most (then kill it and raise);
    its wall seconds and peak RSS in MB."""
    started = time.perf_counter()
    peak = 0.0

    def exited() -> bool:
        nonlocal peak
        if worker.poll() is not None:
            return True
        try:
            peak = max(peak, peak_rss_mb(worker.pid))
        except (FileNotFoundError, ProcessLookupError):
            return True  # gone between the poll and the read
        return False

    try:
        wait_until(exited, seconds, f"worker {worker.pid} to drain its backlog", interval=0.1)
    except TimeoutError:
        worker.kill()
        raise
    finally:
        worker.wait()
    return time.perf_counter() - started, peak


def unsettled() -> int:
    return Sale.objects.exclude(status__in=("tracked", "not_referral", "failed")).count()
