"""Signups: a referred visitor becomes the promoter's lead before paying; once per
customer, with FirstPromoter's 404 and 422 as final answers, not failures."""

from __future__ import annotations

import json
import logging

import pytest
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.exceptions import ValidationError
from django.test import RequestFactory, override_settings
from openapi_core.contrib.requests import RequestsOpenAPIRequest

from django_firstpromoter import track_signup
from django_firstpromoter.delivery import deliver
from django_firstpromoter.middleware import ReferralMiddleware
from django_firstpromoter.models import Signup
from django_firstpromoter.referral import Referral
from django_firstpromoter.statuses import DeliveryStatus
from tests.conftest import firstpromoter, success_body

pytestmark = pytest.mark.django_db

SIGNUP_V2 = "https://api.firstpromoter.com/api/v2/track/signup"
SIGNUP_V1 = "https://firstpromoter.com/api/v1/track/signup"


def test_the_referral_comes_from_the_request():
    request = RequestFactory().get("/", headers={"cookie": "_fprom_tid=tid-1; _fprom_ref=alice"})
    recorded = track_signup(request, email="new@example.com")
    assert recorded is not None
    assert (recorded.tid, recorded.ref_id, recorded.email) == ("tid-1", "alice", "new@example.com")


def test_one_signup_per_customer(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        first = track_signup(Referral(ref_id="alice"), email="New@Example.com")
        again = track_signup(Referral(ref_id="bob"), email="new@example.com")
        other = track_signup(Referral(ref_id="alice"), uid="u-1")
    assert first == again != other
    assert Signup.objects.count() == 2
    assert len(callbacks) == 2


def test_a_visitor_nobody_referred_is_not_recorded():
    assert track_signup(RequestFactory().get("/"), email="new@example.com") is None
    assert track_signup(Referral(), uid="u-1") is None
    assert not Signup.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({}, "email"), ({"email": "b" * 250 + "@x.io"}, "email"), ({"uid": "x" * 256}, "uid")],
)
def test_bad_data_names_the_field_and_writes_nothing(kwargs, field):
    with pytest.raises(ValidationError) as raised:
        track_signup(Referral(ref_id="alice"), **kwargs)
    assert field in raised.value.message_dict
    assert not Signup.objects.exists()


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, "success", DeliveryStatus.TRACKED),
        (404, {"message": "Visitor invalid"}, DeliveryStatus.NOT_REFERRAL),
        (422, {"transaction_id": "already a lead"}, DeliveryStatus.TRACKED),
        (400, {"message": "Error. Email and uid can not be blank!"}, DeliveryStatus.FAILED),
        (502, None, DeliveryStatus.PENDING),
    ],
)
def test_404_and_422_are_final_answers(mocked, api_version, status, body, expected):
    url = SIGNUP_V2 if api_version == 2 else SIGNUP_V1
    if body == "success":
        body = success_body(api_version, "signup")
    mocked.post(url, status=status, body="" if body is None else json.dumps(body))
    recorded = track_signup(Referral(tid="tid-1"), email="new@example.com")
    assert recorded is not None
    assert deliver(Signup, recorded.pk) == expected
    recorded.refresh_from_db()
    assert recorded.attempt_count == 1


def test_each_version_gets_what_its_spec_declares(mocked, specs):
    mocked.post(SIGNUP_V2, json=success_body(2, "signup"))
    mocked.post(SIGNUP_V1, json=success_body(1, "signup"))
    deliver(Signup, track_signup(Referral(tid="tid-1"), email="a@example.com").pk)  # type: ignore[union-attr]
    with firstpromoter(API_VERSION=1):
        deliver(Signup, track_signup(Referral(ref_id="alice"), uid="u-2").pk)  # type: ignore[union-attr]

    v2, v1 = (call.request for call in mocked.calls)
    specs[2].validate_request(RequestsOpenAPIRequest(v2))
    specs[1].validate_request(RequestsOpenAPIRequest(v1))
    assert json.loads(v2.body) == {"email": "a@example.com", "tid": "tid-1"}
    assert "uid=u-2" in v1.url and "ref_id=alice" in v1.url


# SIGNUP_ON_USER_CREATED


def create_user_in_request(cookie: str = "_fprom_ref=alice", username: str = "newbie") -> None:
    def view(request):
        get_user_model().objects.create_user(username, email=f"{username}@example.com")
        from django.http import HttpResponse

        return HttpResponse()

    request = RequestFactory().get("/signup/", headers={"cookie": cookie} if cookie else {})
    ReferralMiddleware(view)(request)


def test_a_user_created_in_a_referred_request_is_a_signup():
    with firstpromoter(SIGNUP_ON_USER_CREATED=True):
        create_user_in_request()
    (recorded,) = Signup.objects.all()
    user = get_user_model().objects.get()
    assert (recorded.uid, recorded.email, recorded.ref_id) == (
        str(user.pk),
        "newbie@example.com",
        "alice",
    )


def test_users_are_left_alone_unless_switched_on_and_referred():
    create_user_in_request()  # switched off
    with firstpromoter(SIGNUP_ON_USER_CREATED=True):
        get_user_model().objects.create_user("outside-a-request")
        create_user_in_request(cookie="", username="unreferred")  # nobody referred
    assert not Signup.objects.exists()


def test_a_signup_that_cannot_be_recorded_never_fails_creating_the_user(caplog):
    with (
        firstpromoter(SIGNUP_ON_USER_CREATED=True, API_KEY=""),
        caplog.at_level(logging.ERROR, logger="django_firstpromoter"),
    ):
        create_user_in_request()
    assert get_user_model().objects.filter(username="newbie").exists()
    assert "could not record a FirstPromoter signup" in caplog.text
    assert not Signup.objects.exists()


def test_switching_it_on_without_the_middleware_is_a_configuration_error():
    from django_firstpromoter.checks import check_settings

    with (
        firstpromoter(SIGNUP_ON_USER_CREATED=True),
        override_settings(MIDDLEWARE=[]),
    ):
        found = [message.id for message in check_settings() if message.level >= checks.ERROR]
    assert found == ["firstpromoter.E014"]
