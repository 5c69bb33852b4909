"""The sandbox's v2 admin API for commissions, over real HTTP, checked against FirstPromoter's
own spec both ways: every request sent here and every answer given is one it allows."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from django_firstpromoter.sandbox import Sandbox
from tests.conftest import SPECS
from tests.test_sandbox import CREDENTIALS, call, click, sale

SERVER = "https://api.firstpromoter.com/api/v2/company"
AUTH = CREDENTIALS[2]


@pytest.fixture(scope="module")
def spec() -> OpenAPI:
    return OpenAPI.from_file_path(str(SPECS / "openapi-v2-commissions.json"))


def checked(spec: OpenAPI, sandbox: Sandbox, response: requests.Response) -> requests.Response:
    """The response, once both it and the request that asked for it pass the spec."""
    request = response.request.copy()
    assert request.url is not None
    request.url = request.url.replace(sandbox.admin_url, SERVER)
    spec.validate_request(RequestsOpenAPIRequest(request))
    spec.validate_response(RequestsOpenAPIRequest(request), RequestsOpenAPIResponse(response))
    return response


def listed(
    spec: OpenAPI,
    sandbox: Sandbox,
    params: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    url = f"{sandbox.admin_url}/commissions"
    response = requests.get(
        url, params=params, headers=AUTH if headers is None else headers, timeout=5
    )
    return checked(spec, sandbox, response) if response.status_code == 200 else response


def acted(spec: OpenAPI, sandbox: Sandbox, action: str, ids: list[int]) -> requests.Response:
    url = f"{sandbox.admin_url}/commissions/{action}"
    return checked(spec, sandbox, requests.post(url, json={"ids": ids}, headers=AUTH, timeout=5))


def ids_of(response: requests.Response) -> list[int]:
    return [item["id"] for item in response.json()]


def sold(sandbox: Sandbox, event_id: str, version: int = 2, **customer: Any) -> int:
    """A referred sale; the commission id its tracking answer gave."""
    customer = customer or {"email": "buyer@example.com"}
    body = call(sandbox, version, "sale", sale(event_id, tid=click(sandbox), **customer)).json()
    commission_id: int = body["commissions"][0]["id"] if version == 2 else body["reward"]["id"]
    return commission_id


def test_each_tracked_commission_is_listed_with_the_tracking_answers_id(spec, sandbox, version):
    commission_id = sold(sandbox, "evt-1", version, email="buyer@example.com", uid="cus_1")

    [item] = listed(spec, sandbox).json()

    assert item["id"] == commission_id
    assert item["event_id"] == "evt-1"
    assert (item["status"], item["amount"], item["unit"], item["is_paid"]) == (
        "approved",
        999,
        "cash",
        False,
    )
    assert item["status_updated_at"] is None
    assert item["referral"]["email"] == "buyer@example.com"
    assert item["referral"]["uid"] == "cus_1"
    assert item["promoter_campaign"]["promoter"] == {
        "id": 1001,
        "email": "alice@promoters.example",
        "name": "Alice Example",
    }


def test_a_refunds_commission_is_listed_negative(spec, sandbox):
    sold(sandbox, "s1")
    refund = call(
        sandbox, 2, "refund", {"event_id": "r1", "amount": "1000", "email": "buyer@example.com"}
    )

    [item] = listed(spec, sandbox, {"q": "r1"}).json()

    assert item["id"] == refund.json()["reward"]["id"]
    assert (item["amount"], item["sale_amount"]) == (-200, -1000)


def test_q_finds_an_event_id_exactly_or_the_referrals_email_or_uid(spec, sandbox):
    first = sold(sandbox, "evt-1", email="One@example.com")
    tenth = sold(sandbox, "evt-10", uid="cus_10")

    assert ids_of(listed(spec, sandbox, {"q": "evt-1"})) == [first]
    assert ids_of(listed(spec, sandbox, {"q": "one@EXAMPLE.com"})) == [first]
    assert ids_of(listed(spec, sandbox, {"q": "cus_10"})) == [tenth]
    assert ids_of(listed(spec, sandbox, {"q": "evt"})) == []


def test_ids_and_filters_narrow_the_list(spec, sandbox):
    first, second, third = (sold(sandbox, f"evt-{n}", email=f"{n}@example.com") for n in range(3))
    sandbox.set_commission(second, status="pending")
    sandbox.set_commission(third, is_paid=True)
    today = datetime.datetime.now(datetime.timezone.utc).date()
    tomorrow = (today + datetime.timedelta(days=1)).isoformat()

    assert ids_of(listed(spec, sandbox, {"ids[]": [first, third]})) == [third, first]
    assert ids_of(listed(spec, sandbox, {"ids[]": [first, third], "q": "evt-0"})) == [first]
    assert ids_of(listed(spec, sandbox, {"ids[]": [first, 1]})) == [first]
    assert ids_of(listed(spec, sandbox, {"filters[status]": "pending"})) == [second]
    assert ids_of(listed(spec, sandbox, {"filters[paid]": "yes"})) == [third]
    assert ids_of(listed(spec, sandbox, {"filters[paid]": "no"})) == [second, first]
    assert ids_of(listed(spec, sandbox, {"filters[created_at][from]": tomorrow})) == []
    assert len(listed(spec, sandbox, {"filters[created_at][to]": today.isoformat()}).json()) == 3
    assert ids_of(listed(spec, sandbox, {"filters[promoter_id]": "1002"})) == []
    assert len(listed(spec, sandbox, {"filters[promoter_id]": "1001"}).json()) == 3


def test_pages_are_20_by_default_and_at_most_100(spec, sandbox):
    for n in range(105):
        sandbox.add_commission(f"evt-{n}", 100 + n, promoter="bob")
    newest_first = sorted((c.id for c in sandbox.commissions()), reverse=True)

    assert ids_of(listed(spec, sandbox)) == newest_first[:20]
    assert ids_of(listed(spec, sandbox, {"page": 2, "per_page": 50})) == newest_first[50:100]
    assert ids_of(listed(spec, sandbox, {"per_page": 1000})) == newest_first[:100]
    assert ids_of(listed(spec, sandbox, {"page": 6})) == newest_first[100:]
    assert ids_of(listed(spec, sandbox, {"page": 7})) == []
    cheapest = listed(spec, sandbox, {"sorting[amount]": "asc", "per_page": 3}).json()
    assert [item["amount"] for item in cheapest] == [100, 101, 102]


def test_approving_or_denying_up_to_five_is_done_at_once(spec, sandbox):
    ids = [sold(sandbox, f"evt-{n}", email=f"{n}@example.com") for n in range(5)]

    denied = acted(spec, sandbox, "deny", [*ids[:4], 1])

    assert denied.status_code == 200
    body = denied.json()
    assert (body["status"], body["total"], body["processed_count"], body["failed_count"]) == (
        "completed",
        5,
        4,
        1,
    )
    assert body["processing_errors"] == ["Commission 1 not found."]
    assert [c.status for c in sandbox.commissions()] == ["denied"] * 4 + ["approved"]
    assert all(c.status_updated_at for c in sandbox.commissions()[:4])
    assert sandbox.world.earnings("alice") == 999


def test_more_than_five_is_a_batch_done_on_the_next_call(spec, sandbox):
    ids = [sold(sandbox, f"evt-{n}", email=f"{n}@example.com") for n in range(6)]
    sandbox.set_commission(ids[0], status="pending")

    accepted = acted(spec, sandbox, "deny", ids)

    assert accepted.status_code == 202
    assert (accepted.json()["status"], accepted.json()["total"]) == ("pending", 6)
    assert {c.status for c in sandbox.commissions()} == {"pending", "approved"}
    assert {item["status"] for item in listed(spec, sandbox).json()} == {"denied"}
    [batch] = sandbox.batches()
    assert (batch.id, batch.status, batch.processed_count) == (
        accepted.json()["id"],
        "completed",
        6,
    )


def test_approving_what_was_denied(spec, sandbox):
    commission_id = sold(sandbox, "evt-1")
    sandbox.set_commission(commission_id, status="denied")

    assert acted(spec, sandbox, "approve", [commission_id]).status_code == 200

    assert sandbox.commissions()[0].status == "approved"


@pytest.mark.parametrize(
    "body", [{}, {"ids": []}, {"ids": "1"}, [1, 2]], ids=["no ids", "empty", "not a list", "array"]
)
def test_an_approve_without_ids_is_refused_422(spec, sandbox, body):
    url = f"{sandbox.admin_url}/commissions/approve"
    response = requests.post(url, json=body, headers=AUTH, timeout=5)

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_parameters"
    request = response.request.copy()
    request.url = url.replace(sandbox.admin_url, SERVER)
    spec.validate_response(RequestsOpenAPIRequest(request), RequestsOpenAPIResponse(response))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer key"},
        {"ACCOUNT-ID": "acc"},
        {"Authorization": "Basic key", "ACCOUNT-ID": "acc"},
    ],
    ids=["none", "no account", "no key", "not bearer"],
)
def test_without_credentials_it_is_refused_401_with_no_body(spec, sandbox, headers):
    sold(sandbox, "evt-1")

    listing = listed(spec, sandbox, headers=headers)
    approving = requests.post(
        f"{sandbox.admin_url}/commissions/approve", json={"ids": [1]}, headers=headers, timeout=5
    )

    # The spec's 401: "No JSON response body is returned".
    assert [(r.status_code, r.content) for r in (listing, approving)] == [(401, b""), (401, b"")]
    assert sandbox.batches() == []


def test_a_sandbox_told_its_credentials_refuses_others(spec):
    with Sandbox(api_key="right", account_id="acc") as sandbox:
        wrong = listed(
            spec, sandbox, headers={"Authorization": "Bearer wrong", "ACCOUNT-ID": "acc"}
        )
        right = listed(
            spec, sandbox, headers={"Authorization": "Bearer right", "ACCOUNT-ID": "acc"}
        )

    assert (wrong.status_code, right.status_code) == (401, 200)


def test_the_rate_limit_counts_admin_and_tracking_calls_alike(spec, sandbox):
    sandbox.faults.rate_limit = 1
    sold(sandbox, "evt-1")

    limited = listed(spec, sandbox)

    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert [r.call for r in sandbox.requests] == ["sale", "commissions"]


def test_a_lost_answer_to_an_approve_still_approves(spec, sandbox):
    commission_id = sold(sandbox, "evt-1")
    sandbox.set_commission(commission_id, status="pending")
    sandbox.faults.lost_rate = 1.0

    with pytest.raises(requests.ConnectionError):
        acted(spec, sandbox, "approve", [commission_id])

    assert sandbox.commissions()[0].status == "approved"
    assert [(r.call, r.fault) for r in sandbox.requests][-1] == ("commissions/approve", "lost")


def test_an_error_fault_answers_500_and_changes_nothing(sandbox):
    commission_id = sold(sandbox, "evt-1")
    sandbox.faults.error_rate = 1.0

    url = f"{sandbox.admin_url}/commissions/deny"
    response = requests.post(url, json={"ids": [commission_id]}, headers=AUTH, timeout=5)

    assert response.status_code == 500
    assert sandbox.commissions()[0].status == "approved"


def test_hooks_change_add_and_delete_behind_the_apps_back(spec, sandbox):
    commission_id = sold(sandbox, "evt-1")

    changed = sandbox.set_commission(commission_id, status="pending", is_paid=True, amount=500)
    added = sandbox.add_commission("evt-1", 250, "approved")
    [item, _] = sorted(listed(spec, sandbox, {"q": "evt-1"}).json(), key=lambda i: i["id"])
    sandbox.delete_commission(commission_id)

    assert (item["status"], item["is_paid"], item["amount"]) == ("pending", True, 500)
    assert item["status_updated_at"] == changed.status_updated_at
    assert (added.kind, added.lead_id, added.promoter) == ("custom", changed.lead_id, "alice")
    assert ids_of(listed(spec, sandbox, {"q": "evt-1"})) == [added.id]
    assert sandbox.world.earnings("alice") == 250


def test_hooks_refuse_what_cannot_be(sandbox):
    with pytest.raises(KeyError):
        sandbox.set_commission(1, status="approved")
    with pytest.raises(KeyError):
        sandbox.delete_commission(1)
    with pytest.raises(ValueError, match="name a promoter"):
        sandbox.add_commission("unknown", 100)
    commission_id = sold(sandbox, "evt-1")
    with pytest.raises(ValueError, match="status"):
        sandbox.set_commission(commission_id, status="paid")


def test_a_commission_with_no_referral_is_listed_with_a_null_one(spec, sandbox):
    sandbox.add_commission("manual-1", 700, promoter="bob", is_paid=True)

    [item] = listed(spec, sandbox).json()

    assert item["referral"] is None
    assert item["promoter_campaign"]["promoter"]["email"] == "bob@promoters.example"


def test_the_hooks_over_http_for_the_demo(spec, sandbox):
    commission_id = sold(sandbox, "evt-1")
    control = f"{sandbox.url}/api/commissions"

    changed = requests.post(f"{control}/{commission_id}", json={"status": "denied"}, timeout=5)
    added = requests.post(control, json={"event_id": "evt-1", "amount": 5}, timeout=5)
    deleted = requests.delete(f"{control}/{commission_id}", timeout=5)
    unknown = requests.post(f"{control}/1", json={"status": "denied"}, timeout=5)
    wrong = requests.post(control, json={"event_id": "evt-1", "amount": 5, "colour": 1}, timeout=5)

    assert (changed.status_code, changed.json()["status"]) == (200, "denied")
    assert (added.status_code, added.json()["status"]) == (200, "pending")
    assert (deleted.status_code, unknown.status_code, wrong.status_code) == (204, 404, 400)
    assert [
        c["id"] for c in requests.get(f"{sandbox.url}/api/state", timeout=5).json()["commissions"]
    ] == [added.json()["id"]]


def test_a_reset_forgets_commissions_and_batches(spec, sandbox):
    ids = [sold(sandbox, f"evt-{n}", email=f"{n}@example.com") for n in range(6)]
    acted(spec, sandbox, "approve", ids)

    sandbox.reset()

    assert (sandbox.commissions(), sandbox.batches()) == ([], [])
    assert listed(spec, sandbox).json() == []


def test_wrong_methods_are_answered_405(sandbox):
    approve = requests.get(f"{sandbox.admin_url}/commissions/approve", headers=AUTH, timeout=5)
    create = requests.post(f"{sandbox.admin_url}/commissions", json={}, headers=AUTH, timeout=5)

    assert (approve.status_code, approve.headers["Allow"]) == (405, "POST")
    assert (create.status_code, create.headers["Allow"]) == (405, "GET")
