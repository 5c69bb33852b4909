"""Claiming, settling and retrying: the answers table as the database sees it."""

from __future__ import annotations

import datetime
import json
import logging
import threading
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
import requests
from django.db import connection
from django.utils import timezone

from django_firstpromoter import RefundData, delivery, protocol, signals, track_refund
from django_firstpromoter.conf import get_config
from django_firstpromoter.models import Refund, Reward, Sale
from django_firstpromoter.statuses import AttemptOutcome, DeliveryStatus
from django_firstpromoter.worker import Worker
from tests.conftest import firstpromoter, success_body
from tests.factories import make_sale

pytestmark = pytest.mark.django_db


def drain(limit: int | None = None) -> dict[str, int]:
    """What a cron run of the worker sends."""
    return Worker(get_config(), limit=limit).run()


def deliver(sale: Sale) -> str | None:
    status = delivery.deliver(Sale, sale.pk)
    sale.refresh_from_db()
    return status


NOT_FOUND = {"message": "not found or promoter is banned.", "code": "not_found"}


@pytest.mark.parametrize(
    ("status", "body", "final", "outcome"),
    [
        (204, None, DeliveryStatus.NOT_REFERRAL, AttemptOutcome.NOT_REFERRAL),
        (404, NOT_FOUND, DeliveryStatus.NOT_REFERRAL, AttemptOutcome.NOT_REFERRAL),
        # A 409 to a first attempt: the id was somebody else's (test_collisions below).
        (409, {"message": "already exists"}, DeliveryStatus.DUPLICATE, AttemptOutcome.DUPLICATE),
        (
            400,
            {"message": "Error. Amount blank or invalid."},
            DeliveryStatus.FAILED,
            AttemptOutcome.REJECTED,
        ),
        (422, {"message": "nope"}, DeliveryStatus.FAILED, AttemptOutcome.REJECTED),
        (410, None, DeliveryStatus.FAILED, AttemptOutcome.REJECTED),
        (401, None, DeliveryStatus.PENDING, AttemptOutcome.RETRY),
        (403, None, DeliveryStatus.PENDING, AttemptOutcome.RETRY),
        (404, None, DeliveryStatus.PENDING, AttemptOutcome.RETRY),
        (408, None, DeliveryStatus.PENDING, AttemptOutcome.RETRY),
        (429, None, DeliveryStatus.PENDING, AttemptOutcome.RETRY),
        (500, None, DeliveryStatus.PENDING, AttemptOutcome.RETRY),
        (502, None, DeliveryStatus.PENDING, AttemptOutcome.RETRY),
    ],
)
def test_answers_table(api_version, sale_url, mocked, status, body, final, outcome):
    if body is None:
        mocked.post(sale_url, status=status, body="")
    else:
        mocked.post(sale_url, status=status, json=body)
    sale = make_sale()
    assert deliver(sale) == final
    assert sale.status == final
    assert sale.attempt_count == 1
    assert sale.api_version == api_version
    attempt = sale.attempts.get()
    assert (attempt.http_status, attempt.outcome) == (status, outcome)
    if final == DeliveryStatus.FAILED:
        assert sale.last_error.startswith(f"HTTP {status}")
    if final == DeliveryStatus.PENDING:
        assert sale.next_attempt_at > timezone.now() + datetime.timedelta(seconds=40)
    if final == DeliveryStatus.TRACKED:
        assert sale.tracked_at is not None


def test_a_409_after_an_attempt_of_ours_is_that_attempt_counted(api_version, sale_url, mocked):
    # The first call's answer was lost (a 503 here): the 409 is our own sale.
    mocked.post(sale_url, status=503)
    mocked.post(sale_url, status=409, json={"message": "already exists"})
    sale = make_sale()
    assert deliver(sale) == DeliveryStatus.PENDING
    Sale.objects.filter(pk=sale.pk).update(next_attempt_at=timezone.now())
    assert deliver(sale) == DeliveryStatus.TRACKED
    assert sale.tracked_at is not None


def test_a_409_to_a_first_attempt_is_a_collision_told_at_warning(
    api_version, sale_url, mocked, caplog
):
    mocked.post(sale_url, status=409, json={"message": "already exists"})
    received = []
    signals.sale_duplicate.connect(lambda sender, sale, **kw: received.append(sale), weak=False)
    try:
        sale = make_sale(event_id="100001")
        with caplog.at_level(logging.WARNING, logger="django_firstpromoter"):
            assert deliver(sale) == DeliveryStatus.DUPLICATE
    finally:
        signals.sale_duplicate.receivers.clear()
    assert sale.tracked_at is None
    assert "already had this event id" in sale.last_error
    assert [r.pk for r in received] == [sale.pk]
    (line,) = [r for r in caplog.records if "100001" in r.getMessage()]
    assert line.levelno == logging.WARNING
    assert 'status="duplicate"' in line.getMessage()


def test_the_event_id_prefix_goes_before_every_event_id_sent(api_version, sale_url, mocked):
    mocked.post(sale_url, json=success_body(api_version))
    mocked.post(sale_url.replace("/sale", "/refund"), json=success_body(api_version, "refund"))
    with firstpromoter(API_VERSION=api_version, EVENT_ID_PREFIX="shop1-"):
        sale = make_sale(event_id="order-7")
        deliver(sale)
        refund = track_refund(
            RefundData(
                event_id="order-7-r", amount=1, email="a@example.com", sale_event_id="order-7"
            )
        )
        assert refund is not None
        delivery.deliver(Refund, refund.pk)
    sent_sale, sent_refund = (call_params(call) for call in mocked.calls)
    assert sent_sale["event_id"] == "shop1-order-7"
    assert (sent_refund["event_id"], sent_refund["sale_event_id"]) == (
        "shop1-order-7-r",
        "shop1-order-7",
    )
    # Stored as the shop named it: its own lookups need no prefix.
    assert Sale.objects.get(event_id="order-7").pk == sale.pk
    assert sale.attempts.get().request_params["event_id"] == "shop1-order-7"


def call_params(call) -> dict:
    """What one mocked call sent, v1's query string or v2's JSON body."""
    if call.request.body:
        return json.loads(call.request.body)
    return dict(parse_qsl(urlsplit(call.request.url).query))


def test_400_keeps_firstpromoters_message(api_version, sale_url, mocked):
    mocked.post(sale_url, status=400, json={"message": "Error. Amount blank or invalid."})
    sale = make_sale()
    deliver(sale)
    assert sale.last_error == "HTTP 400: Error. Amount blank or invalid."


def test_200_stores_rewards_and_attempt(api_version, sale_url, mocked):
    mocked.post(sale_url, json=success_body(api_version))
    sale = make_sale()
    assert deliver(sale) == DeliveryStatus.TRACKED
    reward = sale.rewards.get()
    assert reward.amount == (400 if api_version == 2 else 200)
    assert reward.unit == "cash"
    assert reward.promoter_email
    attempt = sale.attempts.get()
    assert attempt.outcome == AttemptOutcome.TRACKED
    assert attempt.request_params["event_id"] == "evt-1"
    assert attempt.url == sale_url
    assert '"id"' in attempt.response_body


def test_200_without_reward_is_tracked(api_version, sale_url, mocked):
    mocked.post(sale_url, json={"id": 1, "reward": None, "commissions": []})
    sale = make_sale()
    assert deliver(sale) == DeliveryStatus.TRACKED
    assert not sale.rewards.exists()


def test_attempts_never_hold_credentials(api_version, sale_url, mocked):
    mocked.post(sale_url, status=401, body="Bad credentials")
    sale = make_sale()
    deliver(sale)
    attempt = sale.attempts.get()
    stored = f"{attempt.request_params} {attempt.response_body} {attempt.error} {attempt.url}"
    assert "test-api-key" not in stored and "acc_test" not in stored


@pytest.mark.parametrize(
    "failure",
    [requests.ReadTimeout("slow"), requests.ConnectionError("reset")],
    ids=["timeout", "connection"],
)
def test_no_answer_is_retried(api_version, sale_url, mocked, failure):
    mocked.post(sale_url, body=failure)
    sale = make_sale()
    assert deliver(sale) == DeliveryStatus.PENDING
    assert sale.attempts.get().http_status is None


def test_retry_after_is_honoured(mocked, sale_url, api_version):
    mocked.post(sale_url, status=429, headers={"Retry-After": "600"})
    sale = make_sale()
    before = timezone.now()
    deliver(sale)
    wait = (sale.next_attempt_at - before).total_seconds()
    assert 599 <= wait <= 602


def test_backoff_doubles_with_jitter_and_is_capped():
    with firstpromoter(RETRY_BACKOFF=60):
        config = get_config()
    first = [delivery.backoff_seconds(1, config) for _ in range(50)]
    third = [delivery.backoff_seconds(3, config) for _ in range(50)]
    assert all(48 <= d <= 72 for d in first)
    assert all(192 <= d <= 288 for d in third)
    assert len(set(first)) > 1
    assert delivery.backoff_seconds(30, config) == 6 * 3600
    assert delivery.backoff_seconds(1, config, retry_after=600.0) == 600.0
    # Never sooner than the first step, whatever the server says.
    assert delivery.backoff_seconds(1, config, retry_after=5.0) == 60.0
    assert delivery.backoff_seconds(7, config, retry_after=0.0) == 60.0


def test_not_due_sale_is_not_sent(mocked, sale_url, api_version):
    sale = make_sale(next_attempt_at=timezone.now() + datetime.timedelta(minutes=5))
    assert deliver(sale) is None
    assert len(mocked.calls) == 0


def test_max_attempts_then_failed(mocked, sale_url, api_version):
    mocked.post(sale_url, status=503)
    sale = make_sale()
    with firstpromoter(API_VERSION=api_version, MAX_ATTEMPTS=3):
        for expected in (DeliveryStatus.PENDING, DeliveryStatus.PENDING, DeliveryStatus.FAILED):
            Sale.objects.filter(pk=sale.pk).update(next_attempt_at=timezone.now())
            assert deliver(sale) == expected
    assert sale.attempt_count == 3
    assert sale.attempts.count() == 3
    assert "gave up after 3 attempts" in sale.last_error
    Sale.objects.filter(pk=sale.pk).update(next_attempt_at=timezone.now())
    assert deliver(sale) is None


def test_lost_answer_is_counted_once_after_retry(api_version, sale_url, mocked):
    """FirstPromoter records the sale, the answer never arrives; the retry gets 409."""
    counted: set[str] = set()

    def firstpromoter_api(request):
        event_id = "evt-1"
        if event_id in counted:
            return (409, {}, '{"message": "already exists"}')
        counted.add(event_id)
        raise requests.ConnectionError("connection reset after the sale was recorded")

    mocked.add_callback("POST", sale_url, callback=firstpromoter_api)
    sale = make_sale()
    assert deliver(sale) == DeliveryStatus.PENDING
    Sale.objects.filter(pk=sale.pk).update(next_attempt_at=timezone.now())
    assert deliver(sale) == DeliveryStatus.TRACKED
    assert len(mocked.calls) == 2
    assert counted == {"evt-1"}
    assert list(sale.attempts.order_by("pk").values_list("outcome", flat=True)) == [
        AttemptOutcome.RETRY,
        AttemptOutcome.DUPLICATE,
    ]


def test_two_claims_of_one_sale_one_wins():
    sale = make_sale()
    config = get_config()
    claimed = delivery.claim(Sale, sale.pk, config)
    assert claimed is not None and claimed.attempt_count == 1
    assert delivery.claim(Sale, sale.pk, config) is None
    sale.refresh_from_db()
    assert sale.status == DeliveryStatus.SENDING
    assert sale.attempt_count == 1


def test_lease_expires_and_sale_is_sent_again(mocked, sale_url, api_version):
    sale = make_sale()
    config = get_config()
    claimed = delivery.claim(Sale, sale.pk, config)
    assert claimed is not None and claimed.attempt_count == 1
    sale.refresh_from_db()
    lease = (sale.next_attempt_at - timezone.now()).total_seconds()
    assert config.timeout * 3 <= lease <= config.lease_seconds + 1
    assert deliver(sale) is None  # the live sender's lease holds
    Sale.objects.filter(pk=sale.pk).update(next_attempt_at=timezone.now())  # it died
    mocked.post(sale_url, status=409, json={"message": "already exists"})
    assert deliver(sale) == DeliveryStatus.TRACKED
    assert sale.attempt_count == 2


def claimed_then_lease_lost() -> tuple[Sale, int]:
    """A sale claimed by a first sender, whose lease then ends while it is still
    waiting for its answer; and that sender's attempt number."""
    sale = make_sale()
    claimed = delivery.claim(Sale, sale.pk, get_config())
    assert claimed is not None
    Sale.objects.filter(pk=sale.pk).update(next_attempt_at=timezone.now())
    return sale, claimed.attempt_count


def test_late_failure_does_not_overwrite_the_new_senders_result(mocked, sale_url, api_version):
    sale, first = claimed_then_lease_lost()
    config = get_config()
    mocked.post(sale_url, json=success_body(api_version))
    assert deliver(sale) == DeliveryStatus.TRACKED
    late = protocol.Answer(AttemptOutcome.RETRY, sale_url, error="timed out")
    status = delivery.settle(sale, first, late, {}, timezone.now(), config)
    sale.refresh_from_db()
    assert status == sale.status == DeliveryStatus.TRACKED
    assert sale.attempts.count() == 2


def test_late_success_counts_even_after_losing_the_lease(mocked, sale_url, api_version):
    sale, first = claimed_then_lease_lost()
    config = get_config()
    delivery.claim(Sale, sale.pk, config)  # a second sender takes over and is still sending
    body = json.dumps(success_body(api_version)).encode()
    answer = protocol.interpret(200, {}, body)
    assert (
        delivery.settle(sale, first, answer, {}, timezone.now(), config) == DeliveryStatus.TRACKED
    )
    assert Reward.objects.filter(sale=sale).count() == 1


def test_ignored_sale_is_not_sent(mocked, sale_url, api_version):
    sale = make_sale(status=DeliveryStatus.IGNORED)
    assert deliver(sale) is None
    assert drain() == {}


def test_deliver_due_sends_oldest_first_and_respects_limit(mocked, sale_url, api_version):
    mocked.post(sale_url, status=204)
    now = timezone.now()
    older = make_sale(event_id="old", next_attempt_at=now - datetime.timedelta(minutes=5))
    make_sale(event_id="new", next_attempt_at=now - datetime.timedelta(minutes=1))
    assert drain(limit=1) == {DeliveryStatus.NOT_REFERRAL: 1}
    older.refresh_from_db()
    assert older.status == DeliveryStatus.NOT_REFERRAL
    assert drain() == {DeliveryStatus.NOT_REFERRAL: 1}


def test_outcome_signals_are_sent_and_receiver_errors_are_logged(
    mocked, sale_url, api_version, caplog
):
    received = []

    def broken(sender, sale, **kwargs):
        received.append((sender, sale.event_id))
        raise ValueError("receiver bug")

    mocked.post(sale_url, json=success_body(api_version))
    signals.sale_tracked.connect(broken)
    try:
        sale = make_sale()
        assert deliver(sale) == DeliveryStatus.TRACKED
    finally:
        signals.sale_tracked.disconnect(broken)
    assert received == [(Sale, "evt-1")]
    assert "receiver bug" in caplog.text and " of sale_tracked raised" in caplog.text
    assert sale.status == DeliveryStatus.TRACKED


@pytest.mark.parametrize(
    ("signal", "status"),
    [(signals.sale_not_referral, 204), (signals.sale_failed, 400)],
)
def test_not_referral_and_failed_signals(mocked, sale_url, api_version, signal, status):
    received = []

    def receiver(sender, sale, **kwargs):
        received.append(sale.pk)

    mocked.post(sale_url, status=status, body="")
    signal.connect(receiver)
    try:
        sale = make_sale()
        deliver(sale)
    finally:
        signal.disconnect(receiver)
    assert received == [sale.pk]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    "connection.vendor != 'postgresql'",
    reason="true concurrency needs PostgreSQL; SQLite serialises",
)
def test_concurrent_senders_send_each_sale_once(mocked, sale_url, api_version):
    assert connection.vendor == "postgresql"
    mocked.post(sale_url, json=success_body(api_version))
    for i in range(30):
        make_sale(event_id=f"evt-{i}")
    barrier = threading.Barrier(4)
    config = get_config()

    def worker() -> None:
        barrier.wait()
        try:
            Worker(config).run()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = [event_id(call.request) for call in mocked.calls]
    assert sorted(sent) == sorted(f"evt-{i}" for i in range(30))
    assert set(Sale.objects.values_list("status", flat=True)) == {DeliveryStatus.TRACKED}
    assert set(Sale.objects.values_list("attempt_count", flat=True)) == {1}


def event_id(request) -> str:
    if request.body:
        return json.loads(request.body)["event_id"]
    return parse_qs(urlsplit(request.url).query)["event_id"][0]


def test_rewards_without_an_id_are_kept_and_known_ones_updated(mocked):
    body = {"commissions": [{"amount": 100, "unit": "points"}, {"id": 7, "amount": 300}]}
    mocked.post("https://api.firstpromoter.com/api/v2/track/sale", json=body)
    sale = make_sale()
    Reward.objects.create(sale=sale, firstpromoter_id=7, amount=1)
    assert deliver(sale) == DeliveryStatus.TRACKED
    rewards = set(sale.rewards.values_list("firstpromoter_id", "amount"))
    assert rewards == {(None, 100), (7, 300)}


@pytest.mark.parametrize("breaks", ["settle", "request_params"])
def test_a_sale_whose_sends_always_fail_ends_failed_within_max_attempts(
    mocked, monkeypatch, breaks
):
    """An error from the call on (a bug, an answer no code path settles) gives the
    claim back counted, so the sale cannot be sent for ever: past MAX_ATTEMPTS
    unsettled claims it is failed, with no further call."""
    mocked.add(mocked.POST, "https://api.firstpromoter.com/api/v2/track/sale", json={})

    def crash(*args, **kwargs):
        raise RuntimeError("a bug")

    target = delivery if breaks == "settle" else protocol
    monkeypatch.setattr(target, breaks, crash)
    sale = make_sale()
    failed = []

    def on_failed(sender, sale, **kwargs):
        failed.append(sale.pk)

    signals.sale_failed.connect(on_failed)
    try:
        with firstpromoter(MAX_ATTEMPTS=3):
            for _ in range(3):
                with pytest.raises(RuntimeError):
                    deliver(sale)
                assert sale.status == DeliveryStatus.PENDING  # given back, due at once
            assert deliver(sale) == DeliveryStatus.FAILED
    finally:
        signals.sale_failed.disconnect(on_failed)
    assert failed == [sale.pk]
    assert "gave up: 3 attempts" in sale.last_error
    assert len(mocked.calls) == (3 if breaks == "settle" else 0)
