"""``manage.py firstpromoter_deliver``: the cron job and the ``--loop`` worker."""

from __future__ import annotations

import datetime
import io
import itertools
import json
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from django_firstpromoter.models import Sale
from django_firstpromoter.statuses import DeliveryStatus
from django_firstpromoter.worker import Worker
from tests import factories
from tests.conftest import V2_URL, firstpromoter, success_body

pytestmark = pytest.mark.django_db

COMMAND = "firstpromoter_deliver"


def make_sale(event_id: str, *, minutes_ago: float = 1, **fields: Any) -> Sale:
    """A sale due ``minutes_ago`` (in the future when negative)."""
    fields.setdefault("next_attempt_at", timezone.now() - datetime.timedelta(minutes=minutes_ago))
    return factories.make_sale(event_id, **fields)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(COMMAND, *args, stdout=out)
    return out.getvalue()


def event_id_of(request: Any) -> str:
    body = request.body
    assert isinstance(body, (bytes, str))
    event_id: str = json.loads(body)["event_id"]
    return event_id


def sent_event_ids(mocked: responses.RequestsMock) -> list[str]:
    return [event_id_of(call.request) for call in mocked.calls]


def fresh(sale: Sale) -> Sale:
    return Sale.objects.get(pk=sale.pk)


@pytest.fixture
def firstpromoter_answers(mocked: responses.RequestsMock) -> dict[str, tuple[int, Any]]:
    """FirstPromoter answering per event id: (status, JSON body or None); 200 by default."""
    answers: dict[str, tuple[int, Any]] = {}
    commission_ids = itertools.count(5000)

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        event_id = event_id_of(request)
        status, body = answers.get(event_id, (200, None))
        if status == 200 and body is None:
            body = success_body(2)
            body["commissions"][0]["id"] = next(commission_ids)
        return status, {}, "" if body is None else json.dumps(body)

    mocked.add_callback(responses.POST, V2_URL, callback=answer)
    return answers


def test_sends_each_due_sale_once_and_sums_up(
    mocked: responses.RequestsMock, firstpromoter_answers: dict[str, tuple[int, Any]]
) -> None:
    # 1 tracked, 2 not referrals, 3 to retry, 4 failed: each count lands in its own place.
    answers = {
        "evt-referred": (200, None),
        "evt-organic": (204, None),
        "evt-unknown-ref": (404, {"message": "Referral not found", "code": "not_found"}),
        "evt-down": (503, {"message": "maintenance"}),
        "evt-throttled": (429, None),
        "evt-crashed": (500, None),
        "evt-bad-amount": (400, {"message": "Error. Amount blank or invalid."}),
        "evt-unprocessable": (422, {"message": "Unprocessable"}),
        "evt-not-allowed": (405, None),
        "evt-last-chance": (503, None),
    }
    firstpromoter_answers.update(answers)
    sales = {
        event_id: make_sale(event_id, attempt_count=11 if event_id == "evt-last-chance" else 0)
        for event_id in answers
    }

    output = run()

    assert output == "sent 10: 1 tracked, 2 not referral, 3 retry later, 4 failed\n"
    assert sorted(sent_event_ids(mocked)) == sorted(answers)
    status = {event_id: fresh(sale).status for event_id, sale in sales.items()}
    assert status == {
        "evt-referred": DeliveryStatus.TRACKED,
        "evt-organic": DeliveryStatus.NOT_REFERRAL,
        "evt-unknown-ref": DeliveryStatus.NOT_REFERRAL,
        "evt-down": DeliveryStatus.PENDING,
        "evt-throttled": DeliveryStatus.PENDING,
        "evt-crashed": DeliveryStatus.PENDING,
        "evt-bad-amount": DeliveryStatus.FAILED,
        "evt-unprocessable": DeliveryStatus.FAILED,
        "evt-not-allowed": DeliveryStatus.FAILED,
        "evt-last-chance": DeliveryStatus.FAILED,
    }
    assert fresh(sales["evt-referred"]).rewards.get().amount == 400
    assert fresh(sales["evt-down"]).next_attempt_at > timezone.now()
    assert "gave up after 12 attempts" in fresh(sales["evt-last-chance"]).last_error

    # Run again at once: nothing is due, nothing is sent a second time.
    assert run() == "sent 0: 0 tracked, 0 not referral, 0 retry later, 0 failed\n"
    assert len(mocked.calls) == 10


def test_leaves_sales_that_are_not_due_alone(
    mocked: responses.RequestsMock, firstpromoter_answers: dict[str, tuple[int, Any]]
) -> None:
    due = make_sale("evt-due")
    later = make_sale("evt-later", minutes_ago=-30)
    settled = [
        make_sale(f"evt-{status}", status=status)
        for status in (
            DeliveryStatus.TRACKED,
            DeliveryStatus.NOT_REFERRAL,
            DeliveryStatus.FAILED,
            DeliveryStatus.IGNORED,
        )
    ]

    output = run()

    assert output.startswith("sent 1: 1 tracked,")
    assert sent_event_ids(mocked) == ["evt-due"]
    assert fresh(due).status == DeliveryStatus.TRACKED
    untouched = fresh(later)
    assert (untouched.status, untouched.attempt_count) == (DeliveryStatus.PENDING, 0)
    assert untouched.next_attempt_at == later.next_attempt_at
    assert [fresh(s).status for s in settled] == [s.status for s in settled]
    assert all(fresh(s).attempt_count == 0 for s in settled)


def test_takes_over_a_sale_whose_sender_died(
    mocked: responses.RequestsMock, firstpromoter_answers: dict[str, tuple[int, Any]]
) -> None:
    stuck = make_sale("evt-stuck", status=DeliveryStatus.SENDING, attempt_count=1)
    busy = make_sale("evt-busy", status=DeliveryStatus.SENDING, attempt_count=1, minutes_ago=-1)

    assert run().startswith("sent 1: 1 tracked,")

    assert sent_event_ids(mocked) == ["evt-stuck"]
    assert (fresh(stuck).status, fresh(stuck).attempt_count) == (DeliveryStatus.TRACKED, 2)
    assert (fresh(busy).status, fresh(busy).attempt_count) == (DeliveryStatus.SENDING, 1)


def test_limit_sends_only_that_many_oldest_first(
    mocked: responses.RequestsMock, firstpromoter_answers: dict[str, tuple[int, Any]]
) -> None:
    newer = make_sale("evt-newer", minutes_ago=1)
    older = make_sale("evt-older", minutes_ago=10)

    assert run("--limit", "1") == "sent 1: 1 tracked, 0 not referral, 0 retry later, 0 failed\n"

    assert sent_event_ids(mocked) == ["evt-older"]
    assert fresh(older).status == DeliveryStatus.TRACKED
    assert (fresh(newer).status, fresh(newer).attempt_count) == (DeliveryStatus.PENDING, 0)

    assert run("--limit", "1").startswith("sent 1: 1 tracked,")
    assert sent_event_ids(mocked) == ["evt-older", "evt-newer"]


@pytest.mark.parametrize(
    "args",
    [("--limit", "0"), ("--limit", "-1"), ("--limit", "two"), ("--interval", "-5")],
)
def test_nonsense_arguments_are_refused_before_sending(
    mocked: responses.RequestsMock, args: tuple[str, ...]
) -> None:
    sale = make_sale("evt-patient")

    with pytest.raises(CommandError, match=args[0]):
        run(*args)

    assert fresh(sale).attempt_count == 0
    assert not mocked.calls


def stop_after(passes: int, between: Callable[[], None] = lambda: None) -> Any:
    """A stand-in for ``Worker.pause`` that sends the process SIGTERM, as a deploy
    would, after ``passes`` passes of the loop."""
    naps: list[float] = []

    def pause(worker: Worker, seconds: float) -> None:
        naps.append(seconds)
        if len(naps) >= passes:
            os.kill(os.getpid(), signal.SIGTERM)
        between()

    pause.naps = naps  # type: ignore[attr-defined]
    return pause


def test_loop_runs_a_pass_and_stops_cleanly_on_interrupt(
    monkeypatch: pytest.MonkeyPatch,
    mocked: responses.RequestsMock,
    firstpromoter_answers: dict[str, tuple[int, Any]],
) -> None:
    sleep = stop_after(1)
    monkeypatch.setattr(Worker, "pause", sleep)
    sale = make_sale("evt-loop")

    output = run("--loop", "--interval", "2.5")

    assert output == "sent 1: 1 tracked, 0 not referral, 0 retry later, 0 failed\n"
    assert sleep.naps == [2.5]
    assert sent_event_ids(mocked) == ["evt-loop"]
    assert fresh(sale).status == DeliveryStatus.TRACKED


def test_loop_keeps_polling_and_is_quiet_when_idle(
    monkeypatch: pytest.MonkeyPatch,
    mocked: responses.RequestsMock,
    firstpromoter_answers: dict[str, tuple[int, Any]],
) -> None:
    created: list[Sale] = []

    def a_sale_arrives() -> None:
        if not created:
            created.append(make_sale("evt-arrived"))

    sleep = stop_after(3, between=a_sale_arrives)
    monkeypatch.setattr(Worker, "pause", sleep)

    output = run("--loop")

    # Pass 1: nothing due (quiet). Pass 2: the new sale is sent. Pass 3: quiet again.
    assert output == "sent 1: 1 tracked, 0 not referral, 0 retry later, 0 failed\n"
    assert sleep.naps == [5.0, 5.0, 5.0]
    assert sent_event_ids(mocked) == ["evt-arrived"]
    assert fresh(created[0]).status == DeliveryStatus.TRACKED


@pytest.mark.parametrize(
    "mistake",
    [{"API_KEY": ""}, {"ACCOUNT_ID": ""}, {"API_VERSION": 3}, {"DELIVERY": "celery"}],
    ids=["no-api-key", "no-account-id", "bad-version", "bad-delivery"],
)
@pytest.mark.parametrize("args", [(), ("--loop",)], ids=["once", "loop"])
def test_configuration_error_stops_before_claiming_anything(
    monkeypatch: pytest.MonkeyPatch,
    mocked: responses.RequestsMock,
    mistake: dict[str, Any],
    args: tuple[str, ...],
) -> None:
    sale = make_sale("evt-waiting")

    with firstpromoter(**mistake), pytest.raises(CommandError) as failed:
        run(*args)

    assert "FIRSTPROMOTER" in str(failed.value)
    waiting = fresh(sale)
    assert (waiting.status, waiting.attempt_count) == (DeliveryStatus.PENDING, 0)
    assert waiting.next_attempt_at == sale.next_attempt_at
    assert not waiting.attempts.exists()
    assert not mocked.calls


def test_configuration_error_does_not_print_the_api_key(mocked: responses.RequestsMock) -> None:
    make_sale("evt-secret")
    with firstpromoter(API_KEY="sk_live_secret", ACCOUNT_ID=""), pytest.raises(CommandError) as e:
        run()
    assert "ACCOUNT_ID" in str(e.value)
    assert "sk_live_secret" not in str(e.value)


def test_status_prints_the_queue_and_sends_nothing(mocked: responses.RequestsMock) -> None:
    make_sale("evt-due")
    make_sale("evt-retry", minutes_ago=-10, attempt_count=2)

    output = run("--status")

    assert "due now: 1" in output
    assert "waiting for retry: 1" in output
    assert "failed: 0" in output
    assert not mocked.calls


def test_status_fails_a_health_check_on_failed_sales(mocked: responses.RequestsMock) -> None:
    make_sale("evt-failed", status=DeliveryStatus.FAILED)

    with pytest.raises(CommandError, match="failed: 1") as failed:
        run("--status")

    assert failed.value.returncode == 1


@pytest.mark.parametrize(("max_age", "healthy"), [("2h", True), ("30m", False), ("600", False)])
def test_status_fails_when_a_sale_waited_longer_than_max_age(
    mocked: responses.RequestsMock, max_age: str, healthy: bool
) -> None:
    Sale.objects.filter(pk=make_sale("evt-old").pk).update(
        recorded_at=timezone.now() - datetime.timedelta(hours=1)
    )

    if healthy:
        assert "oldest waiting: 1h" in run("--status", "--max-age", max_age)
    else:
        with pytest.raises(CommandError, match="longer than"):
            run("--status", "--max-age", max_age)


@pytest.mark.parametrize(
    "args",
    [
        ("--max-age", "1h"),
        ("--status", "--max-age", "0"),
        ("--status", "--max-age", "soon"),
        ("--status", "--max-age", "infd"),
        ("--status", "--loop"),
    ],
)
def test_status_arguments_that_make_no_sense_are_refused(args: tuple[str, ...]) -> None:
    with pytest.raises(CommandError):
        run(*args)
