"""Every answer the sandbox gives is one FirstPromoter's own OpenAPI specs allow."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from django_firstpromoter.sandbox import Sandbox
from tests.conftest import SPECS
from tests.test_sandbox import call, click, sale

# The specs' servers: the sandbox's answers are checked as if they came from there.
SERVERS = {
    1: "https://firstpromoter.com/api/v1/track",
    2: "https://api.firstpromoter.com/api/v2/track",
}


def check(
    specs: dict[int, Any], sandbox: Sandbox, version: int, response: requests.Response
) -> int:
    request = response.request.copy()
    assert request.url is not None
    request.url = request.url.replace(sandbox.base_url(version), SERVERS[version])
    specs[version].validate_response(
        RequestsOpenAPIRequest(request), RequestsOpenAPIResponse(response)
    )
    return response.status_code


@pytest.mark.parametrize("version", [2, 1], ids=["v2", "v1"])
def test_sale_answers_match_the_spec(specs, sandbox, version):
    tid = click(sandbox)
    answers = [
        call(sandbox, version, "sale", sale("e1", email="a@example.com", tid=tid)),
        call(sandbox, version, "sale", sale("e2", uid="cus_2", ref_id="bob", plan="pro")),
        call(sandbox, version, "sale", sale("e3", email="a@example.com", currency="EUR")),
        call(sandbox, version, "sale", sale("e1", email="a@example.com")),
        call(sandbox, version, "sale", sale("e4", email="nobody@example.com")),
        call(sandbox, version, "sale", sale("e5", amount=0, email="nobody@example.com")),
        call(sandbox, version, "sale", {"event_id": "e6", "email": "a@example.com"}),
    ]

    statuses = [check(specs, sandbox, version, answer) for answer in answers]

    not_a_referral = 204 if version == 1 else 404
    assert statuses == [200, 200, 200, 409, not_a_referral, not_a_referral, 400]


@pytest.mark.parametrize("version", [2, 1], ids=["v2", "v1"])
def test_refund_cancellation_and_signup_answers_match_the_spec(specs, sandbox, version):
    tid = click(sandbox, "bob")
    refund: dict[str, Any] = {"event_id": "r1", "amount": "1000" if version == 2 else 1000}
    answers = [
        call(sandbox, version, "signup", {"email": "b@example.com", "tid": tid}),
        call(sandbox, version, "signup", {"email": "b@example.com", "tid": tid}),
        call(sandbox, version, "signup", {"email": "c@example.com", "tid": "unknown"}),
        call(sandbox, version, "signup", {"tid": tid}),
        call(sandbox, version, "sale", sale("s1", email="b@example.com")),
        call(sandbox, version, "refund", {**refund, "email": "b@example.com"}),
        call(sandbox, version, "refund", {**refund, "email": "b@example.com"}),
        call(sandbox, version, "refund", {**refund, "event_id": "r2", "email": "d@example.com"}),
        call(sandbox, version, "refund", {"event_id": "r3", "email": "b@example.com"}),
        call(sandbox, version, "cancellation", {"email": "b@example.com"}),
        call(sandbox, version, "cancellation", {}),
    ]

    statuses = [check(specs, sandbox, version, answer) for answer in answers]

    assert statuses == [200, 422, 404, 400, 200, 200, 409, 204, 400, 200, 400]


def gaps(value: Any, schema: dict[str, Any], spec: dict[str, Any], at: str = "") -> set[str]:
    """Where ``value``'s keys differ from the schema's properties: ``+key`` for one the
    schema does not declare, ``-key`` for one it declares that is missing."""
    if "$ref" in schema:
        return gaps(
            value, spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]], spec, at
        )
    found: set[str] = set()
    if isinstance(value, dict) and "properties" in schema:
        declared = schema["properties"]
        found |= {f"+{at}.{key}" for key in value.keys() - declared.keys()}
        found |= {f"-{at}.{key}" for key in declared.keys() - value.keys()}
        for key in value.keys() & declared.keys():
            found |= gaps(value[key], declared[key], spec, f"{at}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            found |= gaps(item, schema["items"], spec, f"{at}[]")
    return found


# What the sandbox leaves out, on purpose: non-nullable fields it has no value for.
NO_PARENT_OR_TOKEN = {"-.promoter.parent_promoter_id", "-.promoter.auth_token"}


@pytest.mark.parametrize(
    ("version", "name", "left_out"),
    [
        (2, "sale", set()),
        (1, "sale", NO_PARENT_OR_TOKEN | {"-.lead.cancelled_at", "-.reward.lead.cancelled_at"}),
        (2, "refund", NO_PARENT_OR_TOKEN | {"-.lead.cancelled_at", "-.reward.lead.cancelled_at"}),
        (1, "cancellation", NO_PARENT_OR_TOKEN),
        (1, "signup", NO_PARENT_OR_TOKEN | {"-.lead.customer_since", "-.lead.cancelled_at"}),
        (2, "signup", set()),
    ],
)
def test_success_bodies_have_exactly_the_specs_fields(sandbox, version, name, left_out):
    spec = json.loads((SPECS / f"openapi-v{version}-tracking.json").read_text())
    schema = spec["paths"][f"/{name}"]["post"]["responses"]["200"]["content"]["application/json"]
    customer = {"email": "e@example.com"}
    if name == "signup":
        body = call(sandbox, version, name, {**customer, "ref_id": "bob"}).json()
    else:
        call(sandbox, 2, "sale", sale("s", **customer, ref_id="bob"))
        params = {"refund": sale("r", **customer), "sale": sale("s2", **customer)}
        body = call(sandbox, version, name, params.get(name, customer)).json()

    assert gaps(body, schema["schema"], spec) == left_out
