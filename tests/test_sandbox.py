"""The sandbox answers as FirstPromoter's tracking API does, in both versions, over real HTTP.

The helpers here are shared by the other ``test_sandbox_*`` modules.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
import requests

from django_firstpromoter.sandbox import DEFAULT_PROMOTERS, Promoter, Sandbox
from django_firstpromoter.sandbox.api import commission

CREDENTIALS = {1: {"X-API-KEY": "key"}, 2: {"Authorization": "Bearer key", "ACCOUNT-ID": "acc"}}
AMOUNT_INVALID = "Error. Amount blank or invalid."
CUSTOMER_BLANK = "Error. Email and uid can not be blank!"
EVENT_ID_BLANK = "Error. Event id can not be blank!"
NOT_FOUND = "Referral corresponding to email or uid parameter not found or promoter is banned."


def call(
    sandbox: Sandbox,
    version: int,
    name: str,
    params: dict[str, Any],
    headers: dict[str, str] | None = None,
    timeout: float = 5,
) -> requests.Response:
    """v1 with its parameters in the query string, v2 with a JSON body, as the specs say."""
    url = f"{sandbox.base_url(version)}/{name}"
    headers = CREDENTIALS[version] if headers is None else headers
    if version == 1:
        return requests.post(url, params=params, headers=headers, timeout=timeout)
    return requests.post(url, json=params, headers=headers, timeout=timeout)


def click(sandbox: Sandbox, ref: str = "alice") -> str:
    response = requests.get(f"{sandbox.url}/click", params={"ref": ref}, timeout=5)
    assert response.status_code == 200
    tid: str = response.json()["tid"]
    return tid


def sale(event_id: str = "evt-1", amount: Any = 4995, **params: Any) -> dict[str, Any]:
    return {"event_id": event_id, "amount": amount, **params}


def assert_not_a_referral(response: requests.Response, version: int) -> None:
    if version == 1:
        assert response.status_code == 204
        assert response.content == b""
    else:
        assert response.status_code == 404
        assert response.json() == {"message": NOT_FOUND, "code": "not_found"}


def commission_of(body: dict[str, Any], version: int) -> tuple[int, str]:
    """The commission amount and the promoter's email, wherever the version puts them."""
    if version == 1:
        return body["reward"]["amount"], body["promoter"]["email"]
    item = body["commissions"][0]
    return item["amount"], item["promoter_campaign"]["promoter"]["email"]


def test_a_sale_with_a_referral_visits_tid_earns_alice_20_percent(sandbox, version):
    tid = click(sandbox, "alice")

    response = call(sandbox, version, "sale", sale(email="buyer@example.com", tid=tid))

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert commission_of(body, version) == (999, "alice@promoters.example")
    if version == 1:
        assert body["type"] == "sale"
        assert body["amount_cents"] == 4995
        assert body["reward"]["event_id"] == "evt-1"
        assert body["reward"]["conversion_amount"] == 4995
        assert body["lead"]["email"] == body["reward"]["lead"]["email"] == "buyer@example.com"
        assert body["promoter"]["default_ref_id"] == "alice"
        assert body["promoter"]["earnings_balance"] == {"cash": 999}
    else:
        assert body["etype"] == "sale"
        assert body["sale_amount"] == body["commissions"][0]["sale_amount"] == 4995
        assert body["event_id"] == body["commissions"][0]["event_id"] == "evt-1"
        assert body["referral"]["email"] == "buyer@example.com"
        assert body["commissions"][0]["reward"]["name"] == "20% commission"
    [recorded] = sandbox.sales
    assert (recorded.event_id, recorded.amount, recorded.email, recorded.promoter) == (
        "evt-1",
        4995,
        "buyer@example.com",
        "alice",
    )
    assert (recorded.commission, recorded.currency, recorded.api_version) == (999, "USD", version)
    [lead] = sandbox.leads
    assert (lead.email, lead.promoter, lead.source, lead.state) == (
        "buyer@example.com",
        "alice",
        "tid",
        "active",
    )
    assert lead.customer_since == recorded.created_at


@pytest.mark.parametrize(
    ("rate", "amount", "expected"),
    [(20, 4995, 999), (30, 15, 5), (30, 5, 2), (20, 2, 0), (20, 3, 1), (Decimal("12.5"), 4, 1)],
)
def test_commissions_are_rounded_half_up_to_minor_units(rate, amount, expected):
    assert commission(amount, Decimal(rate)) == expected


def test_bobs_30_percent_is_rounded_half_up(sandbox, version):
    response = call(sandbox, version, "sale", sale(amount=15, email="b@example.com", ref_id="bob"))

    assert commission_of(response.json(), version) == (5, "bob@promoters.example")


@pytest.mark.parametrize(
    ("referral", "promoter", "source"),
    [
        ({"ref_id": "bob"}, "bob", "ref_id"),
        ({"promo_code": "ALICE10"}, "alice", "promo_code"),
        ({"promo_code": "alice10"}, "alice", "promo_code"),
        ({"tid": "no-such-visit", "ref_id": "bob"}, "bob", "ref_id"),
    ],
)
def test_ref_id_and_promo_code_make_the_lead_in_the_same_call(
    sandbox, version, referral, promoter, source
):
    response = call(sandbox, version, "sale", sale(email="c@example.com", **referral))

    assert response.status_code == 200
    [lead] = sandbox.leads
    assert (lead.promoter, lead.source) == (promoter, source)


def test_tid_wins_over_ref_id(sandbox, version):
    tid = click(sandbox, "alice")

    call(sandbox, version, "sale", sale(email="c@example.com", tid=tid, ref_id="bob"))

    assert [lead.promoter for lead in sandbox.leads] == ["alice"]


def test_later_sales_find_the_lead_by_uid_or_email(sandbox, version):
    tid = click(sandbox)
    call(sandbox, version, "sale", sale("evt-1", email="Buyer@Example.com", uid="cus_1", tid=tid))

    by_uid = call(sandbox, version, "sale", sale("evt-2", uid="cus_1"))
    by_email = call(sandbox, version, "sale", sale("evt-3", email="buyer@example.COM"))

    assert by_uid.status_code == by_email.status_code == 200
    assert len(sandbox.leads) == 1
    assert [s.lead_id for s in sandbox.sales] == [sandbox.leads[0].id] * 3
    assert [s.email for s in sandbox.sales] == ["Buyer@Example.com"] * 3


@pytest.mark.parametrize(
    "referral",
    [{}, {"tid": "no-such-visit"}, {"ref_id": "nobody"}, {"promo_code": "NOPE"}],
    ids=["nothing", "unknown-tid", "unknown-ref-id", "unknown-code"],
)
def test_a_customer_nobody_referred_is_not_a_referral(sandbox, version, referral):
    response = call(sandbox, version, "sale", sale(email="walk-in@example.com", **referral))

    assert_not_a_referral(response, version)
    assert sandbox.sales == []
    assert sandbox.leads == []


def test_a_banned_promoter_refers_nobody(version):
    eve = Promoter(
        id=9,
        ref_id="eve",
        name="Eve",
        email="eve@x.example",
        commission_rate=Decimal(50),
        banned=True,
    )
    promoters = [*DEFAULT_PROMOTERS, eve]
    with Sandbox(promoters=promoters) as sandbox:
        tid = sandbox.click("eve")
        for referral in ({"ref_id": "eve"}, {"tid": tid}):
            response = call(sandbox, version, "sale", sale(email="e@example.com", **referral))
            assert_not_a_referral(response, version)
        signup = call(sandbox, version, "signup", {"email": "e@example.com", "ref_id": "eve"})
        assert signup.status_code == 404
        assert sandbox.leads == []
        assert "eve (banned)" in requests.get(sandbox.url, timeout=5).text


def test_a_known_event_id_is_a_conflict_and_counted_once(sandbox, version):
    first = call(sandbox, version, "sale", sale("order-7", email="d@example.com", ref_id="bob"))
    again = call(sandbox, version, "sale", sale("order-7", email="d@example.com", ref_id="bob"))

    assert first.status_code == 200
    assert again.status_code == 409
    assert again.json() == {"message": "The 'sale' event with the id 'order-7' already exists."}
    assert len(sandbox.sales) == 1


def test_concurrent_senders_of_one_event_id_get_it_counted_once(sandbox, version):
    tid = click(sandbox)
    params = sale("order-1", email="race@example.com", tid=tid)
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: call(sandbox, version, "sale", params), range(16)))

    assert sorted(a.status_code for a in answers) == [200] + [409] * 15
    assert len(sandbox.sales) == len(sandbox.leads) == 1


BAD_V1 = [
    ({"event_id": "e", "email": "x@example.com"}, AMOUNT_INVALID),
    (sale(amount="12.50", email="x@example.com"), AMOUNT_INVALID),
    (sale(amount="-5", email="x@example.com"), AMOUNT_INVALID),
    (sale(amount="", email="x@example.com"), AMOUNT_INVALID),
    (sale(amount="\N{FULLWIDTH DIGIT ONE}", email="x@example.com"), AMOUNT_INVALID),
    (sale(), CUSTOMER_BLANK),
    (sale(email=" ", uid=""), CUSTOMER_BLANK),
    (sale(event_id="", email="x@example.com"), EVENT_ID_BLANK),
    ({"amount": "1", "email": "x@example.com"}, EVENT_ID_BLANK),
    (sale(email="x@example.com", skip_email_notification="maybe"), None),
    (sale(email="x@example.com", max_recurring="twice"), None),
]
BAD_V2 = [
    ({"event_id": "e", "email": "x@example.com"}, AMOUNT_INVALID),
    (sale(amount="4995", email="x@example.com"), AMOUNT_INVALID),
    (sale(amount=49.95, email="x@example.com"), AMOUNT_INVALID),
    (sale(amount=True, email="x@example.com"), AMOUNT_INVALID),
    (sale(amount=-1, email="x@example.com"), AMOUNT_INVALID),
    (sale(amount=None, email="x@example.com"), AMOUNT_INVALID),
    (sale(), CUSTOMER_BLANK),
    (sale(email=None, uid=""), CUSTOMER_BLANK),
    ({"amount": 1, "email": "x@example.com"}, EVENT_ID_BLANK),
    (sale(email=5), "Error. email is invalid."),
    (sale(email="x@example.com", skip_email_notification="true"), None),
    (sale(email="x@example.com", quantity="2"), None),
]


@pytest.mark.parametrize(
    ("version", "params", "message"),
    [(1, *bad) for bad in BAD_V1] + [(2, *bad) for bad in BAD_V2],
)
def test_each_version_refuses_what_its_spec_forbids(sandbox, version, params, message):
    response = call(sandbox, version, "sale", params)

    assert response.status_code == 400
    field = next(iter(set(params) - {"event_id", "amount", "email", "uid"}), "")
    assert response.json() == {"message": message or f"Error. {field} is invalid."}
    assert sandbox.sales == []


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'"sale"'])
def test_v2_wants_a_json_object(sandbox, body):
    response = requests.post(
        f"{sandbox.base_url(2)}/sale",
        data=body,
        headers={**CREDENTIALS[2], "Content-Type": "application/json"},
        timeout=5,
    )

    assert response.status_code == 400
    assert response.json() == {"message": "Error. The request body must be a JSON object."}
    [request] = sandbox.requests
    assert (request.params, request.status) == ({}, 400)


def test_v1_takes_flags_as_text_and_v2_ignores_v1_only_parameters(sandbox):
    v1 = sale("e1", email="f@example.com", ref_id="bob", skip_email_notification="TRUE")
    v1["max_recurring"] = "3"
    v2 = sale("e2", email="g@example.com", ref_id="bob", max_recurring="three", quantity=2)

    assert call(sandbox, 1, "sale", v1).status_code == 200
    assert call(sandbox, 2, "sale", v2).status_code == 200


def test_v1_also_takes_a_form_body_and_the_query_string_wins(sandbox):
    response = requests.post(
        f"{sandbox.base_url(1)}/sale",
        params={"event_id": "from-query"},
        data={"event_id": "from-body", "amount": "1000", "email": "h@example.com", "ref_id": "bob"},
        headers=CREDENTIALS[1],
        timeout=5,
    )

    assert response.status_code == 200
    assert [(s.event_id, s.amount, s.commission) for s in sandbox.sales] == [
        ("from-query", 1000, 300)
    ]


def test_v1_ignores_a_body_that_is_not_a_form(sandbox):
    response = requests.post(
        f"{sandbox.base_url(1)}/sale",
        json=sale(email="h@example.com", ref_id="bob"),
        headers=CREDENTIALS[1],
        timeout=5,
    )

    assert response.json() == {"message": AMOUNT_INVALID}


@pytest.mark.parametrize(
    ("version", "headers"),
    [
        (1, {}),
        (1, {"X-API-KEY": ""}),
        (1, {"Authorization": "Bearer key"}),
        (2, {}),
        (2, {"Authorization": "Bearer key"}),
        (2, {"ACCOUNT-ID": "acc"}),
        (2, {"Authorization": "Basic key", "ACCOUNT-ID": "acc"}),
        (2, {"Authorization": "Bearer ", "ACCOUNT-ID": "acc"}),
        (2, {"X-API-KEY": "key", "ACCOUNT-ID": "acc"}),
    ],
)
def test_missing_credentials_get_401_without_a_body(sandbox, version, headers):
    response = call(sandbox, version, "sale", sale(amount="bad"), headers=headers)

    assert response.status_code == 401
    assert response.content == b""
    assert sandbox.requests[0].status == 401


def test_given_credentials_only_those_are_taken(version):
    right = {
        1: {"X-API-KEY": "sk_right"},
        2: {"Authorization": "Bearer sk_right", "ACCOUNT-ID": "acc_1"},
    }
    wrong = [
        {
            1: {"X-API-KEY": "sk_wrong"},
            2: {"Authorization": "Bearer sk_wrong", "ACCOUNT-ID": "acc_1"},
        },
        {
            1: {"X-API-KEY": "sk_wrong"},
            2: {"Authorization": "Bearer sk_right", "ACCOUNT-ID": "acc_2"},
        },
    ]
    params = sale(email="i@example.com", ref_id="bob")
    with Sandbox(api_key="sk_right", account_id="acc_1") as sandbox:
        for headers in wrong:
            assert call(sandbox, version, "sale", params, headers[version]).status_code == 401
        assert call(sandbox, version, "sale", params, right[version]).status_code == 200


def test_a_refund_takes_back_the_commission(sandbox, version):
    tid = click(sandbox, "alice")
    call(sandbox, version, "sale", sale("order-1", email="j@example.com", tid=tid))
    amount: Any = "4995" if version == 2 else 4995  # the v2 spec types a refund's amount a string
    refund = {"event_id": "refund-1", "amount": amount, "email": "j@example.com"}
    refund["sale_event_id"] = "order-1"

    response = call(sandbox, version, "refund", refund)
    again = call(sandbox, version, "refund", refund)

    assert response.status_code == 200
    body = response.json()
    # Both specs describe a refund's answer in v1's shape.
    assert (body["type"], body["amount_cents"], body["reward"]["amount"]) == ("refund", -4995, -999)
    assert body["promoter"]["earnings_balance"] == {"cash": 0}
    assert again.status_code == 409
    assert again.json()["message"] == "The 'refund' event with the id 'refund-1' already exists."
    [recorded] = sandbox.refunds
    assert (recorded.amount, recorded.commission, recorded.sale_event_id) == (4995, -999, "order-1")
    assert len(sandbox.sales) == 1


def test_a_v2_refund_takes_an_integer_amount_too_but_not_words(sandbox):
    call(sandbox, 2, "sale", sale(email="k@example.com", ref_id="bob"))
    refund = {"event_id": "r", "email": "k@example.com"}

    assert call(sandbox, 2, "refund", {**refund, "amount": "ten"}).json() == {
        "message": AMOUNT_INVALID
    }
    assert call(sandbox, 2, "refund", {**refund, "amount": 1000}).json()["reward"]["amount"] == -300


def test_a_refund_for_an_unknown_customer_is_204_in_both_versions(sandbox, version):
    response = call(sandbox, version, "refund", sale("r", email="nobody@example.com"))

    assert response.status_code == 204
    assert sandbox.refunds == []


def test_a_refund_is_checked_like_a_sale(sandbox, version):
    response = call(sandbox, version, "refund", {"event_id": "r", "email": "l@example.com"})

    assert response.json() == {"message": AMOUNT_INVALID}


def test_a_cancellation_marks_the_lead_cancelled(sandbox, version):
    call(sandbox, version, "sale", sale(uid="cus_9", ref_id="bob"))

    response = call(sandbox, version, "cancellation", {"uid": "cus_9"})

    assert response.status_code == 200
    body = response.json()
    assert (body["type"], body["amount_cents"], body["reward"]) == ("cancellation", None, None)
    assert body["lead"]["state"] == "cancelled"
    assert body["lead"]["uid"] == "cus_9"
    [lead] = sandbox.leads
    assert lead.state == "cancelled"
    assert lead.cancelled_at is not None


def test_a_cancellation_needs_a_known_customer(sandbox, version):
    assert call(sandbox, version, "cancellation", {}).json() == {"message": CUSTOMER_BLANK}
    unknown = call(sandbox, version, "cancellation", {"email": "m@example.com"})
    assert_not_a_referral(unknown, version)


def test_a_signup_makes_a_lead_that_a_later_sale_finds(sandbox, version):
    tid = click(sandbox, "bob")

    response = call(sandbox, version, "signup", {"email": "n@example.com", "tid": tid})
    again = call(sandbox, version, "signup", {"email": "n@example.com", "tid": tid})
    bought = call(sandbox, version, "sale", sale(email="n@example.com"))

    assert response.status_code == 200
    body = response.json()
    if version == 1:
        assert (body["type"], body["reward"], body["lead"]["state"]) == ("signup", None, "signup")
        assert "customer_since" not in body["lead"]
    else:
        assert (body["etype"], body["commissions"]) == ("signup", [])
        assert body["referral"]["email"] == "n@example.com"
    assert again.status_code == 422
    assert again.json() == {
        "transaction_id": "there is already a signup event registered on this lead"
    }
    assert commission_of(bought.json(), version) == (
        1499,
        "bob@promoters.example",
    )  # 1498.5, half up
    [lead] = sandbox.leads
    assert (lead.source, lead.state) == ("tid", "active")


def test_a_signup_needs_a_customer_and_a_known_visit(sandbox, version):
    blank = call(sandbox, version, "signup", {"tid": click(sandbox)})
    no_visit = call(sandbox, version, "signup", {"email": "o@example.com"})
    unknown = call(sandbox, version, "signup", {"email": "o@example.com", "tid": "nope"})

    assert blank.json() == {"message": CUSTOMER_BLANK}
    assert no_visit.status_code == unknown.status_code == 404
    assert unknown.json()["message"].startswith("Visitor  invalid, not found")
    assert sandbox.leads == []


@pytest.mark.parametrize(
    "parameter", ["ref", "fpr", "via", "fp_ref", "deal", "_from", "_by", "_go"]
)
def test_click_reads_every_referral_parameter_fpr_js_does(sandbox, parameter):
    response = requests.get(f"{sandbox.url}/click", params={parameter: "bob"}, timeout=5)

    assert response.status_code == 200
    [visit] = sandbox.clicks
    assert (visit.tid, visit.promoter) == (response.json()["tid"], "bob")


def test_click_gives_a_fresh_tid_each_visit_and_refuses_unknown_promoters(sandbox):
    first, second = click(sandbox), click(sandbox)
    missing = requests.get(f"{sandbox.url}/click", timeout=5)
    unknown = requests.get(f"{sandbox.url}/click?ref=mallory", timeout=5)

    assert first != second
    assert missing.status_code == 400
    assert unknown.status_code == 404
    assert "mallory" in unknown.json()["message"]
    assert sandbox.click("bob") not in (first, second)
    with pytest.raises(ValueError, match="mallory"):
        sandbox.click("mallory")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v2/track/sale", 405),
        ("POST", "/api/v2/track/subscriber", 404),
        ("POST", "/api/v3/track/sale", 404),
        ("POST", "/track/sale", 404),
        ("GET", "/nowhere", 404),
    ],
)
def test_other_routes_are_not_firstpromoters_not_found(sandbox, method, path, status):
    response = requests.request(method, sandbox.url + path, headers=CREDENTIALS[2], timeout=5)

    assert response.status_code == status
    assert "code" not in response.json()
    assert sandbox.requests == []


def test_every_tracking_call_is_recorded_with_its_answer(sandbox):
    call(sandbox, 1, "sale", sale(email="p@example.com"))
    call(sandbox, 2, "signup", {"email": "p@example.com", "ref_id": "bob"}, headers={})

    first, second = sandbox.requests
    assert (first.method, first.path, first.api_version, first.call) == (
        "POST",
        "/api/v1/track/sale",
        1,
        "sale",
    )
    assert first.params == {"event_id": "evt-1", "amount": "4995", "email": "p@example.com"}
    assert (first.status, first.fault) == (204, "")
    assert (second.path, second.params["ref_id"], second.status) == (
        "/api/v2/track/signup",
        "bob",
        401,
    )


def test_api_state_is_the_world_as_json(sandbox):
    tid = click(sandbox)
    call(sandbox, 2, "sale", sale(email="q@example.com", tid=tid))

    state = requests.get(f"{sandbox.url}/api/state", timeout=5).json()

    assert [(p["ref_id"], p["commission_rate"], p["earnings"]) for p in state["promoters"]] == [
        ("alice", "20", 999),
        ("bob", "30", 0),
    ]
    assert state["clicks"][0]["tid"] == tid
    assert state["leads"][0]["email"] == "q@example.com"
    assert state["sales"][0]["commission"] == 999
    assert state["refunds"] == []
    assert state["requests"][0]["status"] == 200
    assert state["faults"]["error_rate"] == 0


def test_the_dashboard_shows_everything_escaped(sandbox):
    hostile = "<script>alert(1)</script>@example.com"
    call(sandbox, 2, "sale", sale("<b>evt</b>", email=hostile, ref_id="alice"))
    call(sandbox, 2, "sale", sale("yen", amount=500, currency="jpy", uid="cus_jp", ref_id="bob"))
    sandbox.faults.error_rate = 0.25

    response = requests.get(sandbox.url, timeout=5)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    page = response.text
    assert "<script>" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@example.com" in page
    assert "&lt;b&gt;evt&lt;/b&gt;" in page
    assert "49.95 USD" in page and "9.99 USD" in page
    assert "500 JPY" in page and "150 JPY" in page and "cus_jp" in page
    assert "Faults: error_rate 0.25." in page


def test_the_dashboard_shows_what_each_promoter_earned_in_units_per_currency(sandbox):
    call(sandbox, 2, "sale", sale("usd", amount=4900, email="u@example.com", ref_id="alice"))
    call(sandbox, 2, "sale", sale("jpy", amount=500, currency="JPY", uid="j", ref_id="alice"))
    call(sandbox, 2, "sale", sale("denied", amount=1000, email="d@example.com", ref_id="bob"))
    (denied,) = sandbox.world.commissions_for("denied")
    sandbox.set_commission(denied.id, status="denied")

    page = requests.get(sandbox.url, timeout=5).text

    assert "<th>Earned</th>" in page
    assert "<td>ALICE10</td><td>2</td><td>100 JPY, 9.80 USD</td>" in page
    assert "<td>0.00 USD</td></tr>" in page  # bob's one commission, denied


def test_the_dashboard_says_when_there_is_nothing_yet(sandbox):
    page = requests.get(sandbox.url, timeout=5).text

    assert "Faults: none." in page
    assert page.count("none yet") == 4


def test_reset_forgets_everything_but_the_promoters_and_keeps_ids_unique(sandbox):
    call(sandbox, 2, "sale", sale(email="r@example.com", ref_id="bob"))
    first_id = sandbox.sales[0].commission_id
    sandbox.faults.lost_rate = 0.5

    sandbox.reset()

    assert (sandbox.sales, sandbox.leads, sandbox.clicks, sandbox.requests) == ([], [], [], [])
    assert sandbox.faults.lost_rate == 0
    assert [p.ref_id for p in sandbox.promoters] == ["alice", "bob"]
    call(sandbox, 2, "sale", sale(email="r@example.com", ref_id="bob"))
    assert sandbox.sales[0].commission_id > first_id


def test_post_api_reset_does_the_same(sandbox):
    call(sandbox, 2, "sale", sale(email="s@example.com", ref_id="bob"))

    response = requests.post(f"{sandbox.url}/api/reset", timeout=5)

    assert response.status_code == 200
    assert response.json()["sales"] == []
    assert sandbox.sales == []
