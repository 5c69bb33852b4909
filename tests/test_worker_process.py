"""A ``--loop`` worker process stopped by SIGTERM or Ctrl-C in the middle of a backlog,
as a deploy stops it: it exits at once and cleanly, holding nothing."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from django_firstpromoter.models import Sale
from django_firstpromoter.sandbox import Sandbox
from django_firstpromoter.sandbox.faults import Faults
from django_firstpromoter.statuses import DeliveryStatus
from tests.factories import make_sales
from tests.waiting import wait_until
from tests.workers import start_worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_worker_finishes_its_sends_and_gives_back_the_rest(
    tmp_path: Path, signum: signal.Signals
) -> None:
    make_sales(60)
    with Sandbox(faults=Faults(latency_ms=100)) as sandbox:
        log = tmp_path / "worker.log"
        worker = start_worker(
            {"BASE_URL": sandbox.base_url(2), "DELIVERY": "worker"}, log, "--threads", "4"
        )
        try:
            wait_until(
                lambda: len(sandbox.requests) >= 8, 30, lambda: f"8 calls:\n{log.read_text()}", 0.02
            )
        finally:
            worker.send_signal(signum)  # stopped, whether the wait ended or timed out
        assert worker.wait(timeout=10) == 0, log.read_text()
        answered = len(sandbox.requests)

    by_status = Counter(Sale.objects.values_list("status", flat=True))
    assert DeliveryStatus.SENDING not in by_status
    assert by_status[DeliveryStatus.NOT_REFERRAL] == answered
    assert by_status[DeliveryStatus.PENDING] == 60 - answered
    assert set(Sale.objects.filter(status="pending").values_list("attempt_count", flat=True)) == {0}
