"""What the webhook view accepts: a bearer token (several while one is rotated), HTTP
Basic credentials, a body's HMAC signature; and the status events FirstPromoter added
in June 2026."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from django.core import checks

from django_firstpromoter.models import WebhookEvent
from django_firstpromoter.statuses import RewardSource
from tests.conftest import firstpromoter
from tests.test_webhooks import SECRET, commission_event, post, reward, status_of

pytestmark = pytest.mark.django_db
__all__ = ["reward"]  # the fixture, used by name

OLD = "old-secret-0123456789"
NEW = "new-secret-0123456789"
BASIC = "firstpromoter:basic-password-0123456789"
SIGNING = "signing-key-0123456789abcdef"


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def signed(client: Any, body: dict[str, Any], key: str, **headers: Any) -> Any:
    raw = json.dumps(body).encode()
    signature = hmac.new(key.encode(), raw, hashlib.sha256).hexdigest()
    return client.post(
        "/firstpromoter/webhook/",
        data=raw,
        content_type="application/json",
        headers={"X-Event-Id": "evt-1", "X-Webhook-Signature": signature, **headers},
    )


@pytest.mark.parametrize("event_type", ["commission.approved", "commission.denied"])
def test_the_status_events_are_applied(client, reward, event_type):
    status = event_type.rsplit(".", 1)[1]
    response = post(client, commission_event(status), event_type=event_type)
    assert response.json()["result"] == "applied"
    assert status_of(reward) == (status, None)


def test_commission_pending_is_applied(client, reward):
    reward.status = "approved"
    reward.save()
    post(client, commission_event("pending"), event_type="commission.pending")
    assert status_of(reward) == ("pending", None)


def test_while_a_secret_is_rotated_both_are_accepted(client, reward):
    with firstpromoter(WEBHOOK_SECRET=[OLD, NEW]):
        assert post(client, commission_event(), authorization=f"Bearer {OLD}").status_code == 200
        assert (
            post(client, commission_event(), event_id="evt-2", authorization=f"Bearer {NEW}")
        ).status_code == 200
        wrong = post(client, commission_event(), event_id="evt-3", authorization=f"Bearer {SECRET}")
    assert wrong.status_code == 401
    assert WebhookEvent.objects.count() == 2


def test_basic_credentials_are_accepted_beside_the_bearer_token(client, reward):
    with firstpromoter(WEBHOOK_BASIC_AUTH=BASIC):
        assert post(client, commission_event(), authorization=basic(BASIC)).status_code == 200
        assert (
            post(client, commission_event(), event_id="evt-2", authorization=f"Bearer {SECRET}")
        ).status_code == 200
        for wrong in (basic("firstpromoter:guess-0123456789"), "Basic !!!", basic(SECRET)):
            response = post(client, commission_event(), event_id="evt-3", authorization=wrong)
            assert response.status_code == 401, wrong
    assert 'Basic realm="firstpromoter"' in response["WWW-Authenticate"]


def test_basic_credentials_alone(client, reward):
    with firstpromoter(WEBHOOK_SECRET="", WEBHOOK_BASIC_AUTH=[BASIC]):
        assert post(client, commission_event(), authorization=basic(BASIC)).status_code == 200
        bearer = post(
            client, commission_event(), event_id="evt-2", authorization=f"Bearer {SECRET}"
        )
    assert bearer.status_code == 401


def test_a_signing_key_demands_the_bodys_signature(client, reward):
    auth = {"Authorization": f"Bearer {SECRET}"}
    with firstpromoter(WEBHOOK_SIGNING_KEY=SIGNING):
        assert signed(client, commission_event(), SIGNING, **auth).status_code == 200
        forged = signed(client, commission_event("denied"), "another-key-0123456789", **auth)
        unsigned = post(client, commission_event("denied"), event_id="evt-2")
    assert (forged.status_code, unsigned.status_code) == (401, 401)
    assert status_of(reward) == ("approved", None)


def test_a_signing_key_alone_authorizes_a_signed_body(client, reward):
    with firstpromoter(WEBHOOK_SECRET="", WEBHOOK_SIGNING_KEY=SIGNING):
        assert signed(client, commission_event(), SIGNING).status_code == 200


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("WEBHOOK_SECRET", [NEW, "short"]),
        ("WEBHOOK_BASIC_AUTH", "no-colon-0123456789"),
        ("WEBHOOK_BASIC_AUTH", "user:short"),
        ("WEBHOOK_BASIC_AUTH", ":password-0123456789"),
        ("WEBHOOK_SIGNING_KEY", 12345),
    ],
)
def test_a_credential_set_wrong_refuses_everything_and_is_reported(client, reward, key, value):
    with firstpromoter(**{key: value}):
        response = post(client, commission_event())
        found = {message.id for message in checks.run_checks()}
    assert response.status_code == 401
    expected = {"WEBHOOK_SECRET": "E015", "WEBHOOK_BASIC_AUTH": "E019"}.get(key, "E020")
    assert f"firstpromoter.{expected}" in found
    assert SECRET not in str(checks.run_checks())


def test_nothing_set_with_the_url_routed_is_a_warning():
    with firstpromoter(WEBHOOK_SECRET="", WEBHOOK_BASIC_AUTH="", WEBHOOK_SIGNING_KEY=""):
        assert "firstpromoter.W004" in {message.id for message in checks.run_checks()}
    with firstpromoter(WEBHOOK_SECRET="", WEBHOOK_BASIC_AUTH=BASIC):
        assert "firstpromoter.W004" not in {message.id for message in checks.run_checks()}


def test_an_applied_event_confirms_the_reward_by_webhook(client, reward):
    post(client, commission_event())
    reward.refresh_from_db()
    assert reward.confirmed_by == RewardSource.WEBHOOK and reward.confirmed_at is not None
