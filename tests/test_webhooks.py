"""FirstPromoter's webhooks: only deliveries with the secret count, each event once."""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core import serializers
from django.db.models.query import QuerySet
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase
from pytest_django.asserts import assertContains, assertNotContains

from django_firstpromoter import signals
from django_firstpromoter.models import Reward, Sale, WebhookEvent
from django_firstpromoter.protocol import interpret
from django_firstpromoter.rewards import store_rewards
from django_firstpromoter.storable import MAX_JSON_DEPTH, TOO_DEEP
from django_firstpromoter.webhook_events import COMMISSION_EVENTS
from django_firstpromoter.webhooks import MAX_BODY_BYTES
from tests.conftest import BASE, firstpromoter, success_body

pytestmark = pytest.mark.django_db

URL = "/firstpromoter/webhook/"
SECRET = BASE["WEBHOOK_SECRET"]
COMMISSION_ID = 88901
REWARDS = "/admin/django_firstpromoter/reward/"
EVENTS = "/admin/django_firstpromoter/webhookevent/"
SALES = "/admin/django_firstpromoter/sale/"


def commission_event(
    status: Any = "approved", *, timestamp: str | None = "2025-01-21T11:15:00Z", **data: Any
) -> dict[str, Any]:
    """``commission.updated`` as FirstPromoter's webhooks v2 documentation shows it
    (``timestamp=None`` leaves the time out)."""
    event = {
        "event_id": "c3d4e5f6-a7b8-9012-cdef-012345678902",
        "event_type": "commission.updated",
        "action": "updated",
        "entity_type": "commission",
        "entity_id": COMMISSION_ID,
        "changes": {"status": ["pending", status]},
        "data": {
            "id": COMMISSION_ID,
            "status": status,
            "amount": 2500,
            "unit": "cash",
            "referral": {"id": 55678, "email": "user@example.com", "uid": "user_ext_id"},
            "created_at": "2025-01-18T09:00:00Z",
            **data,
        },
        "timestamp": timestamp,
    }
    if timestamp is None:
        del event["timestamp"]
    return event


def post(
    client: Client,
    body: Any,
    *,
    event_id: str | None = "evt-1",
    event_type: str | None = "commission.updated",
    authorization: str | None = f"Bearer {SECRET}",
) -> Any:
    """POST ``body`` (JSON unless it is bytes) the way FirstPromoter does."""
    headers = {
        "Authorization": authorization,
        "X-Event-Id": event_id,
        "X-Event-Type": event_type,
    }
    return client.post(
        URL,
        data=body if isinstance(body, bytes) else json.dumps(body),
        content_type="application/json",
        headers={name: value for name, value in headers.items() if value is not None},
    )


@pytest.fixture
def reward() -> Reward:
    sale = Sale.objects.create(
        event_id="order-1", amount=Decimal("25"), amount_minor=2500, api_version=2
    )
    return Reward.objects.create(
        sale=sale, firstpromoter_id=COMMISSION_ID, status="pending", amount=500, unit="cash"
    )


@pytest.fixture
def updates() -> Iterator[list[dict[str, Any]]]:
    """What ``reward_updated`` receivers were sent, one dict a send."""
    sent: list[dict[str, Any]] = []

    def receiver(sender: type[Reward], **kwargs: Any) -> None:
        sent.append({"sender": sender, **kwargs})

    signals.reward_updated.connect(receiver)
    yield sent
    signals.reward_updated.disconnect(receiver)


def status_of(reward: Reward) -> tuple[str, bool | None]:
    reward.refresh_from_db()
    return reward.status, reward.paid


# A commission's change reaches its reward


def test_a_commission_status_change_updates_the_reward_once(
    client, reward, updates, mocked, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(client, commission_event("approved"))

    assert response.status_code == 200
    assert response.json() == {"result": "applied", "note": "status pending → approved"}
    assert status_of(reward) == ("approved", None)
    (event,) = WebhookEvent.objects.all()
    assert (event.event_id, event.event_type, event.applied) == (
        "evt-1",
        "commission.updated",
        True,
    )
    assert (event.reward, event.commission_id) == (reward, COMMISSION_ID)
    assert event.payload == commission_event("approved")
    # Sent after the commit, once, with what the reward was before.
    assert len(callbacks) == 1
    assert updates == [
        {
            "sender": Reward,
            "signal": signals.reward_updated,
            "reward": reward,
            "previous_status": "pending",
            "previous_paid": None,
        }
    ]
    assert updates[0]["reward"].status == "approved"
    assert len(mocked.calls) == 0  # no outbound call: `responses` would have refused it


def test_a_paid_commission_marks_its_reward_paid(client, reward, updates):
    response = post(client, commission_event("approved", is_paid=True))

    assert response.json()["note"] == "status pending → approved, paid None → True"
    assert status_of(reward) == ("approved", True)
    # Only FirstPromoter's own name counts, and only a boolean.
    post(client, commission_event("approved", paid=False), event_id="evt-2")
    post(client, commission_event("approved", is_paid="false"), event_id="evt-3")
    assert status_of(reward) == ("approved", True)


def test_an_answer_to_sale_stored_again_keeps_what_webhooks_said(client, reward):
    post(client, commission_event("approved", is_paid=True))
    body = success_body(2)
    body["commissions"][0]["id"] = COMMISSION_ID
    # A retry after a lost answer stores the commission again.
    store_rewards(interpret(200, {}, json.dumps(body).encode()).rewards, sale=reward.sale)

    reward.refresh_from_db()
    assert (reward.paid, str(reward.firstpromoter_updated_at)) == (
        True,
        "2025-01-21 11:15:00+00:00",
    )


def test_a_change_that_changes_nothing_is_applied_without_a_signal(
    client, reward, updates, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(client, commission_event("pending"))

    assert response.json() == {"result": "applied", "note": "no change"}
    assert WebhookEvent.objects.get().applied
    assert callbacks == [] and updates == []


def test_commission_created_is_applied_too(client, reward):
    post(client, {**commission_event("approved"), "changes": {}}, event_type="commission.created")

    assert status_of(reward) == ("approved", None)


def test_the_event_type_is_read_from_the_body_without_its_header(client, reward):
    response = post(client, commission_event("denied"), event_type=None)

    assert response.json()["result"] == "applied"
    assert WebhookEvent.objects.get().event_type == "commission.updated"
    assert status_of(reward) == ("denied", None)


def test_an_older_event_arriving_late_does_not_undo_a_newer_one(client, reward):
    post(client, commission_event("denied", timestamp="2025-01-22T10:00:00Z"), event_id="new")
    response = post(
        client, commission_event("approved", timestamp="2025-01-21T11:15:00+00:00"), event_id="old"
    )

    assert response.json() == {
        "result": "stored",
        "note": "older than the event that updated the reward at 2025-01-22T10:00:00+00:00",
    }
    assert status_of(reward) == ("denied", None)
    assert not WebhookEvent.objects.get(event_id="old").applied
    # A later one still applies, and one without a readable time cannot be ordered.
    post(client, commission_event("approved", timestamp="2025-01-23T08:00:00"), event_id="later")
    assert status_of(reward) == ("approved", None)
    unordered = [("2025-02-30T08:00:00Z", "pending"), ("soon", "denied"), (None, "approved")]
    for timestamp, status in unordered:
        post(client, commission_event(status, timestamp=timestamp), event_id=str(timestamp))
        assert status_of(reward) == (status, None)
    reward.refresh_from_db()
    assert reward.firstpromoter_updated_at is not None
    assert reward.firstpromoter_updated_at.isoformat() == "2025-01-23T08:00:00+00:00"


def test_a_receivers_error_is_logged_and_the_delivery_still_acknowledged(
    client, reward, caplog, django_capture_on_commit_callbacks
):
    def broken(sender: type[Reward], **kwargs: Any) -> None:
        raise ValueError("receiver bug")

    signals.reward_updated.connect(broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = post(client, commission_event("approved"))
    finally:
        signals.reward_updated.disconnect(broken)

    assert response.status_code == 200
    assert status_of(reward) == ("approved", None)
    assert "receiver bug" in caplog.text and " of reward_updated raised" in caplog.text


# Each event once


def test_the_same_event_id_twice_is_acknowledged_and_applied_once(client, reward, updates):
    first = post(client, commission_event("approved"))
    Reward.objects.filter(pk=reward.pk).update(status="pending")  # as if changed since
    again = post(client, commission_event("approved"))

    assert first.status_code == again.status_code == 200
    assert again.json() == {"result": "duplicate", "note": "already received"}
    assert status_of(reward) == ("pending", None)
    assert WebhookEvent.objects.count() == 1


def test_the_same_event_stored_meanwhile_by_a_concurrent_request_is_a_duplicate(
    client, reward, updates, django_capture_on_commit_callbacks
):
    post(client, commission_event("approved"))
    Reward.objects.filter(pk=reward.pk).update(status="pending")
    # The other request inserts between this one's check and its insert.
    with (
        mock.patch.object(QuerySet, "exists", return_value=False),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        again = post(client, commission_event("approved"))

    assert again.status_code == 200
    assert again.json() == {"result": "duplicate", "note": "already received"}
    assert status_of(reward) == ("pending", None)  # its update was rolled back
    assert callbacks == [] and updates == []
    assert WebhookEvent.objects.count() == 1


# Stored and acknowledged, not applied


@pytest.mark.parametrize(
    ("event_type", "body", "note"),
    [
        (
            "promoter.created",
            {
                "event_type": "promoter.created",
                "data": {"id": COMMISSION_ID, "status": "denied", "balance": 14.7},
            },
            "not a commission change: stored only",
        ),
        ("commission.deleted", commission_event("denied"), "not a commission change: stored only"),
        ("commission.updated", {"data": {"test": True}}, "no commission id in 'data'"),
        ("commission.updated", {"data": "denied"}, "no commission object in 'data'"),
        ("commission.updated", {"status": "denied"}, "no commission object in 'data'"),
        (
            "commission.updated",
            commission_event(id=str(COMMISSION_ID)),
            "no commission id in 'data'",
        ),
        ("commission.updated", commission_event(id=True), "no commission id in 'data'"),
        (
            "commission.updated",
            commission_event(id=2**63),
            f"commission id {2**63} is out of range",
        ),
        (
            "commission.updated",
            commission_event(status=["denied"]),
            "the commission's status is not a short string",
        ),
        (
            "commission.updated",
            commission_event(status="d" * 65),
            "the commission's status is not a short string",
        ),
        (
            "commission.updated",
            commission_event(status=None, is_paid="yes"),
            "the commission has neither a status nor a paid state",
        ),
        (
            "commission.updated",
            commission_event(id=COMMISSION_ID + 1),
            f"no reward has FirstPromoter id {COMMISSION_ID + 1}",
        ),
    ],
    ids=[
        "unknown-type",
        "deleted",
        "fp-send-test",
        "data-not-object",
        "no-data",
        "id-string",
        "id-bool",
        "id-huge",
        "status-list",
        "status-long",
        "nothing-to-apply",
        "unknown-commission",
    ],
)
def test_what_cannot_be_applied_is_stored_and_acknowledged(
    client, reward, updates, event_type, body, note
):
    response = post(client, body, event_type=event_type)

    assert response.status_code == 200
    assert response.json() == {"result": "stored", "note": note}
    event = WebhookEvent.objects.get()
    assert (event.event_type, event.payload, event.applied) == (event_type, body, False)
    assert status_of(reward) == ("pending", None)
    assert updates == []


# Refused: nothing recorded, nothing applied


@pytest.mark.parametrize(
    ("authorization", "setting"),
    [
        (None, SECRET),
        ("", SECRET),
        (f"Bearer {SECRET}x", SECRET),
        (f"Bearer {SECRET[:-1]}", SECRET),
        (f"Basic {SECRET}", SECRET),
        (SECRET, SECRET),
        ("Bearer ", SECRET),
        (f"Bearer {SECRET}", ""),
        (f"Bearer {SECRET}", None),
        ("Bearer short", "short"),
        (f"Bearer {SECRET} x", f"{SECRET} x"),
    ],
    ids=[
        "no-header",
        "empty",
        "longer",
        "shorter",
        "basic",
        "no-scheme",
        "empty-token",
        "setting-empty",
        "setting-none",
        "setting-too-short",
        "setting-with-space",
    ],
)
def test_no_or_wrong_secret_is_401_and_changes_nothing(
    client, reward, updates, authorization, setting
):
    with firstpromoter(WEBHOOK_SECRET=setting):
        response = post(client, commission_event("denied"), authorization=authorization)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="firstpromoter"'
    assert WebhookEvent.objects.count() == 0
    assert status_of(reward) == ("pending", None)
    assert updates == []


def test_the_bearer_scheme_is_case_insensitive(client, reward):
    assert post(client, commission_event(), authorization=f"bearer {SECRET}").status_code == 200


OVER_CAP = b'{"pad": "' + b"x" * MAX_BODY_BYTES + b'"}'


def nested(depth: int) -> bytes:
    """An object whose ``x`` holds lists ``depth - 1`` deep: ``depth`` levels in all."""
    return b'{"x": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "the body is not JSON"),
        (b"event=commission.updated", "the body is not JSON"),
        (b'{"data": ', "the body is not JSON"),
        (b"\xff\xfe{}", "the body is not JSON"),
        (b'{"amount": NaN}', "the body is not JSON"),
        (b'{"amount": -Infinity}', "the body is not JSON"),
        (b'{"amount": 1e999}', "the body is not JSON"),
        (b"[" * 200_000, "the body is not JSON"),
        (b"[]", "the body is not a JSON object"),
        (b'[{"data": {"id": 88901, "status": "denied"}}]', "the body is not a JSON object"),
        (b'"commission.updated"', "the body is not a JSON object"),
        (b"null", "the body is not a JSON object"),
        (b'{"note": "a\\u0000b"}', "the body holds a NUL or an unpaired surrogate character"),
        (b'{"a\\u0000": 1}', "the body holds a NUL or an unpaired surrogate character"),
        (b'{"x": [["\\ud800"]]}', "the body holds a NUL or an unpaired surrogate character"),
        (OVER_CAP, f"the body is over {MAX_BODY_BYTES} bytes"),
    ],
    ids=[
        "empty",
        "form",
        "truncated",
        "not-utf8",
        "nan",
        "infinity",
        "overflow",
        "too-deep",
        "empty-list",
        "list",
        "string",
        "null",
        "nul",
        "nul-key",
        "surrogate",
        "over-cap",
    ],
)
def test_a_bad_body_is_400_and_changes_nothing(client, reward, updates, body, error):
    response = post(client, body)

    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert WebhookEvent.objects.count() == 0
    assert status_of(reward) == ("pending", None)
    assert updates == []


def test_a_body_at_the_cap_is_read() -> None:
    body = json.dumps(commission_event("approved")).encode()
    at_cap = body[:-1] + b" " * (MAX_BODY_BYTES - len(body)) + b"}"
    assert len(at_cap) == MAX_BODY_BYTES

    assert post(Client(), at_cap).json()["result"] == "stored"  # no reward: nothing to apply


@pytest.mark.parametrize(
    ("event_id", "error"),
    [
        (None, "no X-Event-Id header"),
        ("  ", "no X-Event-Id header"),
        ("e" * 256, "X-Event-Id is longer than 255 characters"),
    ],
)
def test_an_event_without_a_usable_id_is_400(client, reward, event_id, error):
    response = post(client, commission_event("denied"), event_id=event_id)

    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert WebhookEvent.objects.count() == 0
    assert status_of(reward) == ("pending", None)


@pytest.mark.parametrize("header", ["X-Event-Id", "X-Event-Type"])
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("evt\x00-1", "must not contain NUL characters."),
        ("\x00", "must not contain NUL characters."),
        ("evt-\udc80", "must not contain unpaired surrogate characters."),
    ],
    ids=["nul", "only-nul", "surrogate"],
)
def test_a_header_that_cannot_be_stored_is_400_never_cut_or_cleaned(
    client, reward, header, value, problem
):
    headers = {"event_id": value} if header == "X-Event-Id" else {"event_type": value}
    response = post(client, commission_event("denied"), **headers)

    assert response.status_code == 400
    assert response.json() == {"error": f"{header} {problem}"}
    assert WebhookEvent.objects.count() == 0
    assert status_of(reward) == ("pending", None)


def test_an_authorization_header_no_server_would_give_is_a_wrong_secret(client, reward):
    for header in ("Bearer \udc80", f"Bearer {SECRET}\x00", "Bearer \u00e9"):
        assert post(client, commission_event(), authorization=header).status_code == 401
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize(
    "timestamp",
    [
        "9999-12-31T23:59:59-10:00",
        "9999-12-31T00:00:00+14:00",
        "9999-12-30T00:00:01Z",
        "9999-12-31T12:00:00",
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T23:59:59Z",
    ],
)
def test_a_timestamp_no_time_zone_can_show_is_400(admin_client, reward, timestamp):
    response = post(Client(), commission_event("approved", timestamp=timestamp))

    assert response.status_code == 400
    assert response.json() == {"error": "the timestamp is not between 0001-01-02 and 9999-12-30"}
    assert WebhookEvent.objects.count() == 0
    assert status_of(reward) == ("pending", None)
    # Stored on the reward, it failed these pages, and every later event of the commission.
    for page in (
        REWARDS,
        f"{REWARDS}{reward.pk}/change/",
        SALES,
        f"{SALES}{reward.sale_id}/change/",
    ):
        assert admin_client.get(page).status_code == 200
    assert post(Client(), commission_event("approved"), event_id="evt-2").status_code == 200


def test_a_timestamp_a_day_inside_either_end_is_applied_and_shown(admin_client, reward):
    edges = ["0001-01-02T00:00:00Z", "9999-12-29T10:00:00-14:00", "9999-12-30T00:00:00Z"]
    past = ["0001-01-01T23:59:59Z", "9999-12-30T00:00:01Z"]
    for number, timestamp in enumerate(edges + past):
        post(Client(), commission_event(str(number), timestamp=timestamp), event_id=str(number))

    reward.refresh_from_db()
    assert reward.status == str(len(edges) - 1)  # the latest in range; the others refused
    # Python 3.10's fromisoformat takes no "Z".
    updated = datetime.datetime.fromisoformat(edges[-1].replace("Z", "+00:00"))
    assert reward.firstpromoter_updated_at == updated
    assert admin_client.get(f"{REWARDS}{reward.pk}/change/").status_code == 200


@pytest.mark.parametrize(
    ("timestamp", "utc"),
    [
        ("2025-01-21T11:15:00-23:59", "2025-01-22T11:14:00+00:00"),
        ("2025-01-21T11:15:00+00:00:01.000001", "2025-01-21T11:14:58.999999+00:00"),
    ],
    ids=["offset-past-15-59", "offset-in-seconds"],
)
def test_a_timestamp_with_an_offset_postgresql_refuses_is_kept_in_utc(reward, timestamp, utc):
    assert post(Client(), commission_event(timestamp=timestamp)).json()["result"] == "applied"

    reward.refresh_from_db()
    assert reward.firstpromoter_updated_at == datetime.datetime.fromisoformat(utc)


def test_an_id_of_255_characters_is_kept_whole(client, reward):
    post(client, commission_event("denied"), event_id="e" * 255)

    assert WebhookEvent.objects.get().event_id == "e" * 255


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_only_post_is_allowed(client, reward, method):
    response = getattr(client, method)(URL, headers={"Authorization": f"Bearer {SECRET}"})

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert WebhookEvent.objects.count() == 0


def test_the_url_has_a_stable_name() -> None:
    assert reverse("firstpromoter:webhook") == URL


# The secret stays secret


def test_the_secret_lands_in_no_row_log_or_answer(client, reward, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-secret-0123456789-abcdef"
    answers = [
        post(client, commission_event("approved")),
        post(client, commission_event("approved")),
        post(client, commission_event("denied"), event_id="evt-2", authorization=f"Bearer {wrong}"),
        post(client, b"[]", event_id="evt-3"),
        post(client, {"event_type": "promoter.created"}, event_id="evt-4", event_type=None),
    ]

    assert [answer.status_code for answer in answers] == [200, 200, 401, 400, 200]
    assert caplog.records  # the deliveries were logged, and Django logged the refusals
    stored = [
        serializers.serialize("json", model.objects.all()) for model in (WebhookEvent, Reward)
    ]
    assert "evt-1" in stored[0]
    for text in [
        *stored,
        *(answer.content.decode() for answer in answers),
        *(str(vars(record)) for record in caplog.records),
        *(record.getMessage() for record in caplog.records),
    ]:
        assert SECRET not in text
        assert wrong not in text


def test_each_delivery_is_logged_on_one_line(client, reward, caplog):
    caplog.set_level(logging.INFO, logger="django_firstpromoter")
    post(client, commission_event("approved"), event_id='evt "1"\nforged=1')

    (line,) = [r.getMessage() for r in caplog.records if r.name == "django_firstpromoter"]
    assert line == (
        'firstpromoter webhook event_id="evt \\"1\\"\\nforged=1" '
        'event_type="commission.updated" result="applied" note="status pending \\u2192 approved"'
    )


# In the admin


def test_a_webhook_changes_the_status_in_the_admin_and_a_forged_one_does_not(admin_client, reward):
    def listed() -> list[tuple[str, bool | None]]:
        response = admin_client.get(REWARDS)
        assert response.status_code == 200
        return [(r.status, r.paid) for r in response.context["cl"].result_list]

    assert listed() == [("pending", None)]
    forged = post(Client(), commission_event("denied", is_paid=True), authorization=None)
    assert forged.status_code == 401
    assert listed() == [("pending", None)]

    post(Client(), commission_event("approved", is_paid=True))

    assert listed() == [("approved", True)]
    page = admin_client.get(REWARDS)
    assertContains(page, '<td class="field-status">approved</td>', html=True)
    assertContains(page, '<td class="field-paid_words">paid</td>', html=True)


def test_the_events_admin_shows_payloads_escaped_and_allows_no_edits(admin_client, reward):
    script = "<script>alert(1)</script>"
    post(Client(), commission_event("approved", note=script))
    post(Client(), {"event_type": "promoter.created", "name": script}, event_id="evt-2")
    applied, stored = (
        WebhookEvent.objects.get(event_id="evt-1"),
        WebhookEvent.objects.get(event_id="evt-2"),
    )

    listing = admin_client.get(EVENTS)
    assert listing.status_code == 200
    assertContains(listing, "status pending → approved")
    assertContains(listing, f'href="{REWARDS}{reward.pk}/change/"')
    assertNotContains(listing, "Add webhook event")

    page = admin_client.get(f"{EVENTS}{applied.pk}/change/")
    assertContains(page, "&lt;script&gt;alert(1)&lt;/script&gt;")
    assertNotContains(page, script)
    assertContains(page, "&quot;status&quot;: &quot;approved&quot;")
    assertNotContains(page, 'type="submit" value="Save"')
    assertContains(
        admin_client.get(f"{EVENTS}{stored.pk}/change/"), '<div class="readonly">—</div>', html=True
    )
    assert admin_client.get(f"{EVENTS}add/").status_code == 403
    assert admin_client.post(f"{EVENTS}{applied.pk}/delete/", {"post": "yes"}).status_code == 403
    assert WebhookEvent.objects.count() == 2


def test_a_body_nests_at_most_max_json_depth_levels(admin_client, reward):
    """Deeper, no page could show it (Python's recursion limit), nor is it FirstPromoter's."""
    for depth in (MAX_JSON_DEPTH + 1, 920):
        response = post(Client(), nested(depth), event_id=f"evt-{depth}")
        assert response.status_code == 400
        assert response.json() == {"error": f"the body nests deeper than {MAX_JSON_DEPTH} levels"}
    assert post(Client(), nested(MAX_JSON_DEPTH)).json()["result"] == "stored"

    page = admin_client.get(f"{EVENTS}{WebhookEvent.objects.get().pk}/change/")
    assert page.status_code == 200
    assertNotContains(page, TOO_DEEP)


# What FirstPromoter sent never fails an admin page, even stored before it was checked


def deep(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_a_payload_or_a_reward_stored_too_deep_is_shown_cut(admin_client, reward):
    event = WebhookEvent.objects.create(event_id="old", payload={"x": deep(200)})
    Reward.objects.filter(pk=reward.pk).update(raw={"x": deep(200)})

    for page in (f"{EVENTS}{event.pk}/change/", f"{REWARDS}{reward.pk}/change/"):
        assertContains(admin_client.get(page), TOO_DEEP)


# Over real HTTP


@pytest.mark.django_db(transaction=True)
def test_a_delivery_over_http_to_a_live_server(live_server, reward, updates):
    session = requests.Session()
    session.trust_env = False  # straight to the loopback server, whatever the proxy settings
    url = live_server.url + URL
    body = json.dumps(commission_event("approved", is_paid=False)).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Event-Id": "evt-http",
        "X-Event-Type": "commission.updated",
    }

    signed = {**headers, "Authorization": f"Bearer {SECRET}"}

    # FirstPromoter gives up on an answer after 30 s by default.
    forged = session.post(url, data=body, headers=headers, timeout=30)
    sent = session.post(url, data=body, headers=signed, timeout=30)
    again = session.post(url, data=body, headers=signed, timeout=30)

    assert forged.status_code == 401
    assert sent.status_code == 200 and sent.json()["result"] == "applied"
    assert again.status_code == 200 and again.json()["result"] == "duplicate"
    assert status_of(reward) == ("approved", False)
    assert [(u["previous_status"], u["previous_paid"]) for u in updates] == [("pending", None)]


# Whatever comes with the secret: 200 or 400, and every page still shows


def mostly(usual: st.SearchStrategy[Any], unusual: st.SearchStrategy[Any]) -> Any:
    """``usual`` two times in three, so that most examples get as far as being applied."""
    return st.sampled_from([usual, usual, unusual]).flatmap(lambda chosen: chosen)


# Text as JSON may carry it: any character, lone surrogates ("\ud800") and NUL included.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=12)
# A header as a WSGI server gives it: decoded as latin-1, NUL and controls included.
HEADER = st.text(st.characters(max_codepoint=0xFF), max_size=260)
OFFSETS = st.timedeltas(
    min_value=-datetime.timedelta(hours=23, minutes=59),
    max_value=datetime.timedelta(hours=23, minutes=59),
).map(datetime.timezone)
TIMESTAMPS = st.one_of(
    st.datetimes(timezones=st.none() | OFFSETS).map(datetime.datetime.isoformat),
    st.sampled_from(["9999-12-31T23:59:59-10:00", "0001-01-01T00:00:00+14:00", "soon"]),
    ANY_TEXT,
)
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**400]),
    st.floats(allow_nan=False, allow_infinity=False),
    ANY_TEXT,
    TIMESTAMPS,
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=12,
)
# A commission event, as FirstPromoter sends them, with any values where they vary.
COMMISSION_CHANGES = st.fixed_dictionaries(
    {
        "event_type": st.sampled_from(COMMISSION_EVENTS),
        "data": st.fixed_dictionaries(
            {
                "id": st.just(COMMISSION_ID),
                "status": mostly(st.text(min_size=1, max_size=64), ANY_TEXT | st.text()),
            },
            optional={"is_paid": st.booleans() | VALUES, "amount": VALUES},
        ),
        "timestamp": TIMESTAMPS,
    },
    optional={"changes": VALUES},
)
ANY_PAYLOAD = st.fixed_dictionaries(
    {}, optional={"event_type": VALUES, "data": VALUES, "timestamp": VALUES, "extra": VALUES}
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """A payload as JSON (NUL and lone surrogates as escapes), mostly a commission
    change, at times nested deep in lists or as UTF-8 with its surrogates left in
    (not UTF-8 at all)."""
    payload = draw(mostly(COMMISSION_CHANGES, ANY_PAYLOAD))
    depth = draw(mostly(st.just(0), st.sampled_from([MAX_JSON_DEPTH - 2, MAX_JSON_DEPTH, 920])))
    text = json.dumps(payload, ensure_ascii=draw(st.booleans()))
    if depth:
        text = text[:-1] + (', "deep": ' if payload else '"deep": ')
        text += "[" * depth + "]" * depth + "}"
    return text.encode(errors="surrogatepass")


@pytest.mark.slow
class AnyDeliveryTests(HypothesisTestCase):
    """Each example in a transaction of its own, rolled back after it."""

    sale: Sale
    reward: Reward
    admin: Any

    @classmethod
    def setUpTestData(cls) -> None:
        cls.admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "x")
        cls.sale = Sale.objects.create(
            event_id="order-1", amount=Decimal("25"), amount_minor=2500, api_version=2
        )
        cls.reward = Reward.objects.create(
            sale=cls.sale, firstpromoter_id=COMMISSION_ID, status="pending", amount=500
        )

    @hypothesis_settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        event_id=mostly(st.uuids().map(str), HEADER),
        event_type=mostly(st.none() | st.sampled_from(COMMISSION_EVENTS), HEADER),
        body=bodies(),
    )
    @example(event_id="evt\x00", event_type=None, body=json.dumps(commission_event()).encode())
    @example(event_id="evt", event_type="commission\x00", body=b"{}")
    @example(event_id="evt", event_type=None, body=nested(920))
    @example(
        event_id="evt",
        event_type=None,
        body=json.dumps(commission_event(timestamp="2000-01-01T00:00:00-23:59")).encode(),
    )
    @example(
        event_id="evt",
        event_type=None,
        body=json.dumps(commission_event(timestamp="9999-12-31T23:59:59-10:00")).encode(),
    )
    def test_any_delivery_is_200_or_400_and_every_page_still_shows(
        self, event_id: str, event_type: str | None, body: bytes
    ) -> None:
        headers = {"Authorization": f"Bearer {SECRET}", "X-Event-Id": event_id}
        if event_type is not None:
            headers["X-Event-Type"] = event_type
        response = self.client.post(URL, body, content_type="application/json", headers=headers)

        assert response.status_code in (200, 400), response.content
        self.client.force_login(self.admin)
        pages = [
            EVENTS,
            *(f"{EVENTS}{pk}/change/" for pk in WebhookEvent.objects.values_list("pk", flat=True)),
            REWARDS,
            f"{REWARDS}{self.reward.pk}/change/",
            SALES,
            f"{SALES}{self.sale.pk}/change/",
        ]
        for page in pages:
            assert self.client.get(page).status_code == 200, page
