"""The log line each settled attempt writes: one line, every field, parseable, no secrets."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
import requests
import responses
from django.utils import timezone

from django_firstpromoter import delivery
from django_firstpromoter.models import Sale
from django_firstpromoter.sandbox import Sandbox
from django_firstpromoter.statuses import DeliveryStatus
from tests.conftest import BASE, V2_URL, firstpromoter, success_body
from tests.factories import make_sale

pytestmark = pytest.mark.django_db

PREFIX = "firstpromoter sale "
# key=value, the value a JSON literal: a string in quotes (with escapes) or a bare word.
PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^ "]+)')
EVENT_ID = "evt-log"
ALWAYS = {"event_id", "attempt", "http_status", "outcome", "status", "duration_ms"}


def ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith(PREFIX)]


def parse(record: logging.LogRecord) -> dict[str, Any]:
    """The line's fields, checking that the pairs make up the whole line, each key once."""
    rest = record.getMessage().removeprefix(PREFIX)
    pairs = PAIR.findall(rest)
    assert " ".join(f"{key}={value}" for key, value in pairs) == rest
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), keys
    return {key: json.loads(value) for key, value in pairs}


ANSWERS: dict[str, Callable[[int], dict[str, Any]]] = {
    "tracked": lambda v: {"status": 200, "json": success_body(v)},
    "not referral": lambda v: {"status": 204},
    "duplicate": lambda v: {"status": 409, "json": {"message": "already exists"}},
    "rejected": lambda v: {"status": 400, "json": {"message": "Amount blank or invalid."}},
    "retry": lambda v: {"status": 503, "headers": {"Retry-After": "120"}},
    "gave up": lambda v: {"status": 503},
    "timeout": lambda v: {"body": requests.Timeout()},
    "no connection": lambda v: {"body": requests.ConnectionError()},
}


@pytest.mark.parametrize(
    ("answer", "attempt", "level", "fields"),
    [
        ("tracked", 1, logging.INFO, {"http_status": 200, "outcome": "tracked"}),
        (
            "not referral",
            1,
            logging.INFO,
            {"http_status": 204, "outcome": "not_referral", "status": "not_referral"},
        ),
        ("duplicate", 2, logging.INFO, {"http_status": 409, "outcome": "duplicate"}),
        (
            "rejected",
            1,
            logging.ERROR,
            {
                "http_status": 400,
                "outcome": "rejected",
                "status": "failed",
                "error": "HTTP 400: Amount blank or invalid.",
            },
        ),
        (
            "retry",
            3,
            logging.WARNING,
            {
                "http_status": 503,
                "outcome": "retry",
                "status": "pending",
                "next_attempt_in_s": 120,
                "error": "HTTP 503",
            },
        ),
        (
            "gave up",
            12,
            logging.ERROR,
            {"http_status": 503, "outcome": "retry", "status": "failed", "error": "HTTP 503"},
        ),
        (
            "timeout",
            1,
            logging.WARNING,
            {"http_status": None, "outcome": "retry", "error": "timed out"},
        ),
        (
            "no connection",
            1,
            logging.WARNING,
            {"http_status": None, "error": "connection error: ConnectionError"},
        ),
    ],
)
def test_each_attempt_logs_one_line_with_every_field(
    mocked: responses.RequestsMock,
    sale_url: str,
    api_version: int,
    caplog: pytest.LogCaptureFixture,
    answer: str,
    attempt: int,
    level: int,
    fields: dict[str, Any],
) -> None:
    caplog.set_level(logging.INFO, logger="django_firstpromoter")
    mocked.add(responses.POST, sale_url, **ANSWERS[answer](api_version))
    sale = make_sale(EVENT_ID, attempt_count=attempt - 1)

    status = delivery.deliver(Sale, sale.pk)

    (record,) = ours(caplog)
    assert record.levelno == level
    logged = parse(record)
    expected = {"event_id": EVENT_ID, "attempt": attempt, "status": status, **fields}
    assert {key: logged[key] for key in expected} == expected
    assert ALWAYS <= set(logged) <= ALWAYS | {"next_attempt_in_s", "error"}
    assert ("error" in logged) == ("error" in fields)
    assert ("next_attempt_in_s" in logged) == (status == DeliveryStatus.PENDING)
    assert isinstance(logged["duration_ms"], int) and logged["duration_ms"] >= 0
    # The same fields, typed, for a JSON formatter.
    assert {key: getattr(record, key) for key in logged} == logged


def test_a_retry_without_retry_after_logs_its_backoff(
    mocked: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    mocked.add(responses.POST, V2_URL, status=500)
    with firstpromoter(RETRY_BACKOFF=100):
        delivery.deliver(Sale, make_sale(EVENT_ID, attempt_count=1).pk)

    (record,) = ours(caplog)
    # The second attempt waits twice RETRY_BACKOFF, give or take the 20 % jitter.
    assert 160 <= parse(record)["next_attempt_in_s"] <= 240


FORGED = ' status="tracked"\nfirstpromoter sale event_id="evt-other" outcome="tracked"\u2028x'


def test_an_event_id_or_an_error_cannot_forge_a_field_or_a_line(
    mocked: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    event_id = "evt-1" + FORGED
    mocked.add(responses.POST, V2_URL, status=400, json={"message": "nope" + FORGED})
    with firstpromoter():
        delivery.deliver(Sale, make_sale(event_id).pk)

    (record,) = ours(caplog)
    line = record.getMessage()
    assert "\n" not in line and "\u2028" not in line
    logged = parse(record)
    assert logged["event_id"] == event_id
    assert logged["error"] == "HTTP 400: nope" + FORGED
    assert (logged["status"], logged["outcome"]) == ("failed", "rejected")


KEY = "sk-SECRET-api-key-4242"
ACCOUNT = "acc-SECRET-7777"


def test_no_log_record_carries_the_credentials(
    version: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Every outcome against the sandbox over real HTTP, with every logger at DEBUG
    (urllib3's request lines included): neither the API key nor the account id shows."""
    caplog.set_level(logging.DEBUG)
    with (
        Sandbox(api_key=KEY, account_id=ACCOUNT) as sandbox,
        firstpromoter(
            API_KEY=KEY,
            ACCOUNT_ID=ACCOUNT,
            API_VERSION=version,
            BASE_URL=sandbox.base_url(version),
            MAX_ATTEMPTS=2,
            TIMEOUT=0.3,
        ),
    ):

        def send(event_id: str, **fields: Any) -> Sale:
            sale = make_sale(event_id, **fields)
            delivery.deliver(Sale, sale.pk)
            return sale

        tracked = send("evt-tracked", tid=sandbox.click("alice"))
        send("evt-organic", email="organic@example.com")
        Sale.objects.filter(pk=tracked.pk).update(
            status=DeliveryStatus.PENDING, next_attempt_at=timezone.now()
        )
        delivery.deliver(Sale, tracked.pk)  # 409: already there
        send("evt-no-customer", email="", uid="")  # 400
        sandbox.faults.error_rate = 1
        send("evt-500")
        send("evt-500-gave-up", attempt_count=1)
        sandbox.faults.update({"error_rate": 0, "lost_rate": 1})
        send("evt-lost")
        sandbox.faults.update({"lost_rate": 0, "timeout_rate": 1, "hold_seconds": 1})
        send("evt-timeout")
        sandbox.faults.update({"timeout_rate": 0, "rate_limit": 1})
        send("evt-limited")  # the last call in this minute, then 429
        send("evt-429")
        sandbox.faults.rate_limit = 0
        with firstpromoter(
            API_KEY="wrong-key",
            ACCOUNT_ID=ACCOUNT,
            API_VERSION=version,
            BASE_URL=sandbox.base_url(version),
        ):
            send("evt-401")

    logged = [parse(record) for record in ours(caplog)]
    assert {(f["outcome"], f["status"], f["http_status"]) for f in logged} >= {
        ("tracked", "tracked", 200),
        ("not_referral", "not_referral", 204 if version == 1 else 404),
        ("duplicate", "tracked", 409),
        ("rejected", "failed", 400),
        ("retry", "pending", 500),
        ("retry", "failed", 500),
        ("retry", "pending", None),
        ("retry", "pending", 429),
        ("retry", "pending", 401),
    }
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    for record in caplog.records:
        text = record.getMessage() + repr(vars(record))
        assert KEY not in text and ACCOUNT not in text and "wrong-key" not in text, text
    assert BASE["API_KEY"] not in caplog.text
