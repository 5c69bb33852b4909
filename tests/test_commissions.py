"""The admin API's commissions: what is asked (valid by the vendored spec), every page
of an answer, approve and deny, and failures raised for the caller to report."""

from __future__ import annotations

import datetime
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest

from django_firstpromoter import commissions
from django_firstpromoter.conf import get_config
from django_firstpromoter.protocol import PER_PAGE, admin_base_url
from django_firstpromoter.ratelimit import RateLimiter
from tests.conftest import SPECS, firstpromoter

LIST = "https://api.firstpromoter.com/api/v2/company/commissions"


@pytest.fixture(scope="module")
def spec() -> OpenAPI:
    return OpenAPI.from_file_path(str(SPECS / "openapi-v2-commissions.json"))


def commission(id: int, event_id: str = "evt-1", **fields: Any) -> dict[str, Any]:
    return {
        "id": id,
        "status": "pending",
        "amount": 400,
        "unit": "cash",
        "event_id": event_id,
        "is_paid": False,
        "created_at": "2026-11-30T10:00:00.000Z",
        "status_updated_at": "2026-11-30T10:00:00.000Z",
        "referral": {"id": 7, "email": "buyer@example.com", "uid": ""},
        "promoter_campaign": {"promoter": {"id": 1001, "email": "alice@promoters.example"}},
        **fields,
    }


def query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def assert_valid(spec: OpenAPI, mocked: responses.RequestsMock) -> None:
    for call in mocked.calls:
        spec.validate_request(RequestsOpenAPIRequest(call.request))


def test_an_events_commissions_are_searched_by_its_id_as_sent(mocked, spec):
    mocked.get(LIST, json=[commission(1, "shop1-evt-1"), commission(2, "shop1-evt-10")])
    with firstpromoter(EVENT_ID_PREFIX="shop1-"):
        found = commissions.for_event(get_config(), "evt-1")
    # q matches emails and uids too: only the exact id is the event's.
    assert [each.reward.firstpromoter_id for each in found] == [1]
    (call,) = mocked.calls
    assert query(call)["q"] == ["shop1-evt-1"]
    assert query(call)["per_page"] == [str(PER_PAGE)]
    assert call.request.headers["Authorization"] == "Bearer test-api-key"
    assert call.request.headers["ACCOUNT-ID"] == "acc_test"
    assert_valid(spec, mocked)


def test_a_commission_is_read_with_what_only_the_admin_api_says(mocked):
    mocked.get(LIST, json=[commission(5, is_paid=True, status="approved")])
    (found,) = commissions.for_event(get_config(), "evt-1")
    assert found.is_paid is True
    assert found.status_updated_at == datetime.datetime(
        2026, 11, 30, 10, tzinfo=datetime.timezone.utc
    )
    fields = found.model_fields()
    assert (fields["status"], fields["amount"], fields["paid"]) == ("approved", 400, True)
    assert fields["promoter_email"] == "alice@promoters.example"
    assert fields["lead_email"] == "buyer@example.com"


def test_every_page_is_read_until_one_is_not_full(mocked, spec):
    full = [commission(i) for i in range(PER_PAGE)]
    mocked.get(LIST, json=full)
    mocked.get(LIST, json=full)
    mocked.get(LIST, json=[commission(999)])
    since, until = datetime.date(2026, 11, 1), datetime.date(2026, 11, 30)
    found = [
        each for _, page in commissions.created_between(get_config(), since, until) for each in page
    ]
    assert len(found) == 2 * PER_PAGE + 1
    assert [query(call)["page"] for call in mocked.calls] == [["1"], ["2"], ["3"]]
    assert query(mocked.calls[0])["filters[created_at][from]"] == ["2026-11-01"]
    assert query(mocked.calls[0])["filters[created_at][to]"] == ["2026-11-30"]
    assert_valid(spec, mocked)


def test_ids_are_asked_a_page_at_a_time(mocked, spec):
    mocked.get(LIST, json=[commission(1)])
    commissions.by_ids(get_config(), range(1, PER_PAGE + 3))
    assert [len(query(call)["ids[]"]) for call in mocked.calls] == [PER_PAGE, 2]
    assert_valid(spec, mocked)


@pytest.mark.parametrize(("ids", "status", "answer"), [(3, 200, "completed"), (6, 202, "pending")])
def test_approve_and_deny_report_firstpromoters_batch(mocked, spec, ids, status, answer):
    for action in ("approve", "deny"):
        mocked.post(f"{LIST}/{action}", status=status, json={"id": 9, "status": answer})
        done = commissions.act(get_config(), action, range(ids))
        assert done.batch_status == answer
    assert [json.loads(call.request.body) for call in mocked.calls] == [
        {"ids": list(range(ids))}
    ] * 2
    assert_valid(spec, mocked)


@pytest.mark.parametrize(
    ("status", "body", "retry"),
    [(429, "", True), (503, "", True), (401, "", True), (422, '{"message": "bad ids"}', False)],
)
def test_a_failed_call_is_raised_with_its_answer(mocked, status, body, retry):
    mocked.get(LIST, status=status, body=body, headers={"Retry-After": "30"})
    with pytest.raises(commissions.AdminError) as raised:
        commissions.for_event(get_config(), "evt-1")
    answer = raised.value.answer
    assert (answer.http_status, answer.retry) == (status, retry)
    assert answer.retry_after == (30.0 if retry else None)
    assert "test-api-key" not in str(raised.value) and "acc_test" not in repr(answer)


@pytest.mark.parametrize("body", ["<html>", '{"data": []}', "null"])
def test_a_list_that_is_not_a_list_is_no_answer(mocked, body):
    mocked.get(LIST, body=body)
    if body == '{"data": []}':
        # A JSON object is what approve and deny answer: a list read from it is empty.
        assert commissions.for_event(get_config(), "evt-1") == []
        return
    with pytest.raises(commissions.AdminError) as raised:
        commissions.for_event(get_config(), "evt-1")
    assert raised.value.answer.retry


def test_no_answer_at_all_is_an_error_to_retry(mocked):
    mocked.get(LIST, body=requests.ConnectionError("refused"))
    with pytest.raises(commissions.AdminError) as raised:
        commissions.for_event(get_config(), "evt-1")
    assert raised.value.answer.retry and "connection error" in raised.value.answer.error


@pytest.mark.parametrize(
    ("tracking", "admin"),
    [
        ("https://api.firstpromoter.com/api/v2/track", LIST.rsplit("/", 1)[0]),
        ("https://firstpromoter.com/api/v1/track", LIST.rsplit("/", 1)[0]),
        ("http://127.0.0.1:8765/api/v1/track", "http://127.0.0.1:8765/api/v2/company"),
        (
            "https://v2.firstpromoter.com/api/v2/track",
            "https://v2.firstpromoter.com/api/v2/company",
        ),
        ("https://proxy.example/fp", LIST.rsplit("/", 1)[0]),
    ],
)
def test_the_admin_api_is_found_beside_the_tracking_api(tracking, admin):
    assert admin_base_url(tracking) == admin


def test_a_v1_account_without_an_account_id_has_no_admin_api():
    with firstpromoter(API_VERSION=1, ACCOUNT_ID=""):
        assert not commissions.available(get_config())
    assert commissions.available(get_config())


def test_each_call_spends_the_accounts_one_budget(mocked, monkeypatch):
    taken: list[int | None] = []
    monkeypatch.setattr(RateLimiter, "acquire", lambda limiter: taken.append(limiter.limit))
    mocked.get(LIST, json=[commission(i) for i in range(PER_PAGE)])
    mocked.get(LIST, json=[])
    mocked.post(f"{LIST}/deny", json={"status": "completed"})
    with firstpromoter(RATE_LIMIT=400):
        commissions.for_event(get_config(), "evt-1")
        commissions.act(get_config(), "deny", [1])
    # The tracking calls' limiter: 400 a minute for the account, whichever API.
    assert taken == [400, 400, 400]
