"""The answers table, one HTTP answer at a time, with ``responses`` (no database)."""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import responses
from openapi_core.contrib.requests import RequestsOpenAPIRequest

from django_firstpromoter import __version__, client
from django_firstpromoter.conf import get_config
from django_firstpromoter.statuses import AttemptOutcome
from tests.conftest import V1_URL, V2_URL, firstpromoter, success_body

PARAMS_V2 = {"event_id": "evt-1", "amount": 1999, "email": "buyer@example.com", "currency": "USD"}


def send(params: dict | None = None) -> client.Answer:
    return client.send(get_config(), "sale", params or PARAMS_V2)


def test_v2_request_is_json_with_bearer_and_account_headers(mocked, specs):
    with firstpromoter(API_VERSION=2):
        mocked.post(V2_URL, json=success_body(2))
        send()
    request = mocked.calls[0].request
    assert request.headers["Authorization"] == "Bearer test-api-key"
    assert request.headers["ACCOUNT-ID"] == "acc_test"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == f"django-firstpromoter/{__version__}"
    assert "X-API-KEY" not in request.headers
    assert json.loads(request.body) == PARAMS_V2
    specs[2].validate_request(RequestsOpenAPIRequest(request))


def test_v1_request_puts_parameters_in_query_string(mocked, specs):
    params = {"event_id": "evt-1", "amount": "1999", "email": "buyer@example.com"}
    with firstpromoter(API_VERSION=1):
        mocked.post("https://firstpromoter.com/api/v1/track/sale", json=success_body(1))
        client.send(get_config(), "sale", params)
    request = mocked.calls[0].request
    assert request.headers["X-API-KEY"] == "test-api-key"
    assert "Authorization" not in request.headers
    assert "ACCOUNT-ID" not in request.headers
    assert request.body is None
    assert "amount=1999" in request.url and "event_id=evt-1" in request.url
    specs[1].validate_request(RequestsOpenAPIRequest(request))


def test_base_url_is_configurable(mocked):
    with firstpromoter(BASE_URL="https://v2.firstpromoter.com/api/v2/track/"):
        mocked.post("https://v2.firstpromoter.com/api/v2/track/sale", status=204)
        answer = send()
    assert answer.outcome == AttemptOutcome.NOT_REFERRAL
    assert answer.url == "https://v2.firstpromoter.com/api/v2/track/sale"


class Loopback(ThreadingHTTPServer):
    """A FirstPromoter on loopback that answers ``/moved/sale`` with a redirect to
    ``/landed/sale`` (which would track it), and holds ``/stalled/sale`` unanswered
    until the test ends; ``paths`` are the calls it was sent."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), LoopbackHandler)
        self.paths: list[str] = []
        self.released = threading.Event()

    def base_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{path}"


class LoopbackHandler(BaseHTTPRequestHandler):
    server: Loopback

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.paths.append(self.path)
        if self.path.startswith("/stalled/"):
            self.server.released.wait(STALL_SECONDS)
            return
        if self.path.startswith("/moved/"):
            self.send_response(302)
            self.send_header("Location", self.path.replace("/moved/", "/landed/", 1))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps(success_body(2)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # A client that followed the redirect would come back with a GET (a 302 makes a
    # POST one), and be tracked.
    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass


STALL_SECONDS = 10
"""How long the loopback holds a stalled call: longer than any timeout a test sets."""


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    server = Loopback()
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield server
    finally:
        server.released.set()
        server.shutdown()
        thread.join()
        server.server_close()


def test_an_answer_that_does_not_come_ends_at_the_configured_timeout(loopback):
    with firstpromoter(BASE_URL=loopback.base_url("stalled"), TIMEOUT=0.3):
        answer = send()
    assert (answer.outcome, answer.error) == (AttemptOutcome.RETRY, "timed out")
    # The configured 0.3 s, not the default 10 s, nor the loopback's own 10 s hold.
    assert 300 <= answer.duration_ms < 3000
    assert loopback.paths == ["/stalled/sale"]


def test_a_redirect_is_not_followed(loopback):
    with firstpromoter(BASE_URL=loopback.base_url("moved")):
        answer = send()
    assert (answer.outcome, answer.http_status) == (AttemptOutcome.RETRY, 302)
    assert loopback.paths == ["/moved/sale"]


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (204, None, AttemptOutcome.NOT_REFERRAL),
        (
            404,
            {"message": "Referral ... not found", "code": "not_found"},
            AttemptOutcome.NOT_REFERRAL,
        ),
        (
            409,
            {"message": "The 'sale' event with the id 'evt-1' already exists."},
            AttemptOutcome.DUPLICATE,
        ),
        (400, {"message": "Error. Amount blank or invalid."}, AttemptOutcome.REJECTED),
        (422, {"message": "Unprocessable"}, AttemptOutcome.REJECTED),
        (405, None, AttemptOutcome.REJECTED),
        (401, None, AttemptOutcome.RETRY),
        (403, None, AttemptOutcome.RETRY),
        (404, None, AttemptOutcome.RETRY),
        (404, {"message": "no route"}, AttemptOutcome.RETRY),
        (408, None, AttemptOutcome.RETRY),
        (429, None, AttemptOutcome.RETRY),
        (500, None, AttemptOutcome.RETRY),
        (503, {"message": "down"}, AttemptOutcome.RETRY),
        (301, None, AttemptOutcome.RETRY),
    ],
)
def test_answers_table(api_version, sale_url, mocked, status, body, outcome):
    if body is None:
        mocked.post(sale_url, status=status, body="")
    else:
        mocked.post(sale_url, status=status, json=body)
    answer = send()
    assert answer.outcome == outcome
    assert answer.http_status == status


def test_rejection_keeps_firstpromoters_message(api_version, sale_url, mocked):
    mocked.post(sale_url, status=400, json={"message": "Error. Amount blank or invalid."})
    assert send().error == "HTTP 400: Error. Amount blank or invalid."


@pytest.mark.parametrize(
    ("body", "content_type"),
    [("<html>oops</html>", "text/html"), ("", "application/json"), ("[1]", "application/json")],
)
def test_unreadable_200_is_retried(api_version, sale_url, mocked, body, content_type):
    mocked.post(sale_url, status=200, body=body, content_type=content_type)
    answer = send()
    assert answer.outcome == AttemptOutcome.RETRY
    assert "unreadable" in answer.error


def test_timeout_and_connection_error_are_retried(api_version, sale_url, mocked):
    mocked.post(sale_url, body=requests.ReadTimeout("slow"))
    mocked.post(sale_url, body=requests.ConnectionError("refused"))
    first, second = send(), send()
    assert (first.outcome, first.http_status, first.error) == (
        AttemptOutcome.RETRY,
        None,
        "timed out",
    )
    assert (second.outcome, second.http_status) == (AttemptOutcome.RETRY, None)
    assert second.error == "connection error: ConnectionError"


@pytest.mark.parametrize(
    ("header", "seconds"), [("120", 120.0), ("0", 0.0), ("999999", 6 * 3600.0)]
)
def test_retry_after_seconds_is_read(api_version, sale_url, mocked, header, seconds):
    mocked.post(sale_url, status=429, headers={"Retry-After": header})
    assert send().retry_after == seconds


def test_retry_after_http_date_is_read(api_version, sale_url, mocked):
    mocked.post(sale_url, status=503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert send().retry_after == 0.0
    mocked.replace(responses.POST, sale_url, status=503, headers={"Retry-After": "soon"})
    assert send().retry_after is None


def test_v2_commissions_become_rewards(mocked):
    with firstpromoter(API_VERSION=2):
        mocked.post(V2_URL, json=success_body(2))
        answer = send()
    assert answer.outcome == AttemptOutcome.TRACKED
    (reward,) = answer.rewards
    assert reward.firstpromoter_id == 13533003
    assert (reward.amount, reward.unit, reward.status, reward.tier) == (400, "cash", "approved", 1)
    assert (reward.promoter_id, reward.promoter_email) == (8262622, "test@promoter.com")
    assert (reward.lead_id, reward.lead_email) == (29203686, "testme@test1.com")
    assert reward.created_at is not None and reward.created_at.year == 2025
    assert reward.raw["fraud_check"] == "no_suspicion"


def test_v1_reward_becomes_a_reward(mocked):
    body = success_body(1)
    with firstpromoter(API_VERSION=1):
        mocked.post(V1_URL, json=body)
        answer = send()
    (reward,) = answer.rewards
    assert reward.firstpromoter_id == 10940014
    assert (reward.amount, reward.unit, reward.tier) == (200, "cash", 1)
    assert reward.promoter_email == body["promoter"]["email"]
    assert reward.lead_email == body["lead"]["email"]


def test_200_without_reward_is_still_tracked(api_version, sale_url, mocked):
    body = {"id": 1, "type": "sale", "reward": None, "commissions": []}
    mocked.post(sale_url, json=body)
    answer = send()
    assert answer.outcome == AttemptOutcome.TRACKED
    assert answer.rewards == ()


def test_odd_reward_values_do_not_break_parsing(mocked):
    body = {
        "commissions": [
            {"id": "x", "amount": True, "created_at": "yesterday", "promoter_campaign": None},
            "junk",
        ],
        "referral": "nope",
    }
    with firstpromoter(API_VERSION=2):
        mocked.post(V2_URL, json=body)
        (reward,) = send().rewards
    assert reward.firstpromoter_id is None and reward.amount == 0 and reward.created_at is None


def test_response_body_is_capped(api_version, sale_url, mocked):
    mocked.post(sale_url, status=500, body="x" * (200 * 1024))
    assert len(send().body) == 64 * 1024


def test_no_secret_in_what_an_answer_keeps(api_version, sale_url, mocked):
    mocked.post(sale_url, status=401, body="Bad credentials")
    answer = send()
    assert "test-api-key" not in repr(answer)
    assert "acc_test" not in repr(answer)


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        (
            "2025-04-25T09:39:42",
            datetime.datetime(2025, 4, 25, 9, 39, 42, tzinfo=datetime.timezone.utc),
        ),
        ("2025-13-45T00:00:00", None),
        (1714000000, None),
    ],
)
def test_reward_dates_are_aware_or_absent(mocked, created_at, expected):
    body = {"commissions": [{"id": 1, "amount": 5, "created_at": created_at}]}
    with firstpromoter(API_VERSION=2):
        mocked.post(V2_URL, json=body)
        (reward,) = send().rewards
    assert reward.created_at == expected
