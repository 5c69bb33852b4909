"""Cancellations: a subscription's end, recorded in the caller's transaction and sent
after it, from ``track_cancellation`` or the ``subscription_cancelled`` signal."""

from __future__ import annotations

import json
import logging

import pytest
from django.core.exceptions import ValidationError
from openapi_core.contrib.requests import RequestsOpenAPIRequest

from django_firstpromoter import track_cancellation
from django_firstpromoter.delivery import deliver
from django_firstpromoter.models import Cancellation
from django_firstpromoter.signals import subscription_cancelled
from django_firstpromoter.statuses import DeliveryStatus
from tests.conftest import firstpromoter, success_body

pytestmark = pytest.mark.django_db

CANCELLATION_V2 = "https://api.firstpromoter.com/api/v2/track/cancellation"
CANCELLATION_V1 = "https://firstpromoter.com/api/v1/track/cancellation"


def test_records_and_schedules_a_cancellation(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        recorded = track_cancellation(email="buyer@example.com")
    recorded.refresh_from_db()
    assert (recorded.email, recorded.status) == ("buyer@example.com", DeliveryStatus.PENDING)
    assert len(callbacks) == 1


def test_one_event_id_is_one_cancellation_and_none_is_one_each():
    first = track_cancellation(uid="u-1", event_id="sub_1")
    assert track_cancellation(uid="u-1", event_id="sub_1") == first
    track_cancellation(uid="u-1")
    track_cancellation(uid="u-1")
    assert Cancellation.objects.count() == 3


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "email"),
        ({"email": "b" * 250 + "@x.io"}, "email"),
        ({"uid": "x" * 256}, "uid"),
        ({"uid": "u-1", "event_id": " "}, "event_id"),
    ],
)
def test_bad_data_names_the_field_and_writes_nothing(kwargs, field):
    with pytest.raises(ValidationError) as raised:
        track_cancellation(**kwargs)
    assert field in raised.value.message_dict
    assert not Cancellation.objects.exists()


def test_the_signal_records_a_cancellation():
    subscription_cancelled.send(sender=None, email="buyer@example.com", event_id="sub_1")
    (recorded,) = Cancellation.objects.all()
    assert (recorded.email, recorded.event_id) == ("buyer@example.com", "sub_1")


def test_the_signal_never_raises_into_the_billing_code(caplog):
    with caplog.at_level(logging.ERROR, logger="django_firstpromoter"):
        subscription_cancelled.send(sender=None)
    assert "could not record a FirstPromoter cancellation" in caplog.text
    assert not Cancellation.objects.exists()


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, "success", DeliveryStatus.TRACKED),
        (400, {"message": "Error. Email and uid can not be blank!"}, DeliveryStatus.FAILED),
        (500, None, DeliveryStatus.PENDING),
    ],
)
def test_answers_settle_a_cancellation(mocked, api_version, status, body, expected):
    url = CANCELLATION_V2 if api_version == 2 else CANCELLATION_V1
    if body == "success":
        body = success_body(api_version, "cancellation")
    mocked.post(url, status=status, body="" if body is None else json.dumps(body))
    recorded = track_cancellation(email="buyer@example.com")
    assert deliver(Cancellation, recorded.pk) == expected


def test_each_version_gets_what_its_spec_declares(mocked, specs):
    mocked.post(CANCELLATION_V2, json=success_body(2, "cancellation"))
    mocked.post(CANCELLATION_V1, json=success_body(1, "cancellation"))
    deliver(Cancellation, track_cancellation(uid="u-1", event_id="sub_1").pk)
    with firstpromoter(API_VERSION=1):
        deliver(Cancellation, track_cancellation(uid="u-2", event_id="sub_2").pk)

    v2, v1 = (call.request for call in mocked.calls)
    specs[2].validate_request(RequestsOpenAPIRequest(v2))
    specs[1].validate_request(RequestsOpenAPIRequest(v1))
    assert json.loads(v2.body) == {"uid": "u-1"}  # v2 takes no event id
    assert "uid=u-2" in v1.url and "event_id=sub_2" in v1.url
