"""Referral capture: fpr.js's cookies or a referral link, kept on the order at checkout,
sent with the sale; and the fpr.js snippet."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import FieldDoesNotExist
from django.template import Context, Template
from django.test import AsyncClient, Client, RequestFactory

from django_firstpromoter.fprjs import COOKIE_MAX_AGE, LINK_PARAMETERS
from django_firstpromoter.models import Sale
from django_firstpromoter.referral import (
    REQUEST_ATTRIBUTE,
    Referral,
    copy_referral,
    referral_from_request,
)
from django_firstpromoter.sandbox import Sandbox
from django_firstpromoter.statuses import DeliveryStatus
from tests.shop.models import Order

MIDDLEWARE = "django_firstpromoter.middleware.ReferralMiddleware"
TID = "0b7c4d2e-3f4a-4b5c-9d6e-7f8091a2b3c4"
BAD_VALUES = [
    "a" * 256,
    "alice<script>",
    'al"ice',
    "ali'ce",
    "alice;Path=/admin",
    "ali ce",
    "al\\ice",
    "alícia",
    "alice%22",
    "",
    "   ",
]


@pytest.fixture
def with_middleware(settings: Any) -> None:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, MIDDLEWARE]


def seen(client: Client, url: str = "/", **extra: Any) -> dict[str, str]:
    """The referral the view found on the request, as the landing view reports it."""
    response = client.get(url, **extra)
    assert response.status_code == 200
    found: dict[str, str] | None = response.json()["referral"]
    assert found is not None, "the middleware did not run"
    return found


def with_cookies(**cookies: str) -> Client:
    client = Client()
    for name, value in cookies.items():
        client.cookies[name] = value
    return client


# The Referral value


def test_a_referral_is_falsy_only_when_both_ids_are_empty() -> None:
    assert not Referral()
    assert not Referral(tid="", ref_id="")
    assert Referral(tid=TID)
    assert Referral(ref_id="alice")
    with pytest.raises(AttributeError):
        Referral().tid = TID  # type: ignore[misc]


# fpr.js's cookies


@pytest.mark.usefixtures("with_middleware")
def test_the_view_sees_the_cookies_fprjs_set() -> None:
    client = with_cookies(_fprom_tid=TID, _fprom_ref="alice")
    assert seen(client) == {"tid": TID, "ref_id": "alice"}


@pytest.mark.usefixtures("with_middleware")
def test_the_legacy_track_cookie_is_the_tid_of_older_accounts() -> None:
    assert seen(with_cookies(_fprom_track=TID)) == {"tid": TID, "ref_id": ""}


@pytest.mark.usefixtures("with_middleware")
def test_the_current_tid_cookie_wins_over_the_legacy_one_unless_it_is_invalid() -> None:
    assert seen(with_cookies(_fprom_tid=TID, _fprom_track="older"))["tid"] == TID
    assert seen(with_cookies(_fprom_tid="<x>", _fprom_track="older"))["tid"] == "older"


@pytest.mark.usefixtures("with_middleware")
def test_no_cookie_and_no_link_is_an_empty_referral_and_sets_no_cookie() -> None:
    response = Client().get("/")
    assert response.json()["referral"] == {"tid": "", "ref_id": ""}
    assert not response.cookies


@pytest.mark.usefixtures("with_middleware")
@pytest.mark.parametrize("value", BAD_VALUES)
def test_an_invalid_cookie_is_ignored(value: str) -> None:
    client = with_cookies(_fprom_tid=value, _fprom_ref=value)
    assert seen(client) == {"tid": "", "ref_id": ""}


@pytest.mark.usefixtures("with_middleware")
def test_values_are_stripped_and_may_be_255_characters_long() -> None:
    longest = "a" * 255
    assert seen(with_cookies(_fprom_ref=longest))["ref_id"] == longest
    assert seen(Client(), "/", query_params={"fpr": " alice\t"})["ref_id"] == "alice"


# A referral link, for sites without fpr.js


@pytest.mark.usefixtures("with_middleware")
@pytest.mark.parametrize("parameter", LINK_PARAMETERS)
def test_a_referral_link_is_kept_in_a_first_party_cookie_for_60_days(parameter: str) -> None:
    client = Client()
    response = client.get("/", query_params={parameter: "alice"})

    assert response.json()["referral"] == {"tid": "", "ref_id": "alice"}
    cookie = response.cookies["_fprom_ref"]
    assert cookie.value == "alice"
    assert cookie["max-age"] == COOKIE_MAX_AGE == 60 * 24 * 3600
    assert cookie["expires"]
    assert cookie["path"] == "/"
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]
    # fpr.js, where it runs too, must be able to read and replace it.
    assert not cookie["httponly"]
    assert seen(client) == {"tid": "", "ref_id": "alice"}


@pytest.mark.usefixtures("with_middleware")
def test_the_cookie_is_secure_when_the_request_is() -> None:
    response = Client().get("/?via=alice", secure=True)
    assert response.cookies["_fprom_ref"]["secure"] is True


@pytest.mark.usefixtures("with_middleware")
@pytest.mark.parametrize(("url", "status"), [("/admin/", 302), ("/nowhere/", 404)])
def test_the_cookie_is_set_on_a_redirect_or_a_404_too(url: str, status: int) -> None:
    # A link to a page that moved still credits its promoter.
    response = Client().get(f"{url}?via=alice")
    assert response.status_code == status
    assert response.cookies["_fprom_ref"].value == "alice"


@pytest.mark.usefixtures("with_middleware")
def test_the_last_click_wins() -> None:
    client = with_cookies(_fprom_tid=TID, _fprom_ref="alice")

    # The cookies' tid is alice's click: FirstPromoter would credit it over bob's ref_id.
    assert seen(client, "/?via=bob") == {"tid": "", "ref_id": "bob"}
    assert client.cookies["_fprom_ref"].value == "bob"
    seen(client, "/?fpr=carol")
    assert client.cookies["_fprom_ref"].value == "carol"
    assert seen(client)["ref_id"] == "carol"


@pytest.mark.usefixtures("with_middleware")
def test_the_first_valid_link_parameter_counts() -> None:
    assert seen(Client(), "/?fpr=%3Cb%3E&via=bob&ref=carol")["ref_id"] == "bob"


@pytest.mark.usefixtures("with_middleware")
@pytest.mark.parametrize("value", BAD_VALUES)
def test_an_invalid_link_is_ignored_and_replaces_nothing(value: str) -> None:
    client = with_cookies(_fprom_ref="alice")
    response = client.get("/", query_params={"fpr": value})

    assert response.json()["referral"] == {"tid": "", "ref_id": "alice"}
    assert "_fprom_ref" not in response.cookies


@pytest.mark.usefixtures("with_middleware")
def test_the_middleware_works_under_asgi() -> None:
    response = async_to_sync(AsyncClient().get)("/?via=alice")
    assert response.json()["referral"] == {"tid": "", "ref_id": "alice"}
    assert response.cookies["_fprom_ref"].value == "alice"


def test_without_the_middleware_views_get_no_attribute_and_no_cookie() -> None:
    response = Client().get("/?via=alice")
    assert response.json()["referral"] is None
    assert not response.cookies


# copy_referral


def request_with(query: str = "", **cookies: str) -> Any:
    request = RequestFactory().get(f"/checkout/{query}")
    request.COOKIES.update(cookies)
    return request


def test_copy_referral_fills_the_order_and_does_not_save_it() -> None:
    order = Order(email="buyer@example.com")

    assert copy_referral(request_with(_fprom_tid=TID, _fprom_ref="alice"), order) is True

    assert (order.referral_tid, order.referral_ref_id) == (TID, "alice")
    assert order.pk is None


def test_copy_referral_reads_the_request_without_the_middleware() -> None:
    order = Order()
    assert copy_referral(request_with("?via=bob", _fprom_tid=TID), order) is True
    assert (order.referral_tid, order.referral_ref_id) == ("", "bob")


def test_copy_referral_uses_what_the_middleware_found() -> None:
    request = request_with(_fprom_ref="alice")
    setattr(request, REQUEST_ATTRIBUTE, Referral(ref_id="bob"))
    order = Order()

    copy_referral(request, order)

    assert order.referral_ref_id == "bob"


def test_without_a_referral_the_order_is_left_as_it_is() -> None:
    order = Order(referral_tid="kept", referral_ref_id="kept")
    assert copy_referral(request_with(_fprom_ref="<bad>"), order) is False
    assert (order.referral_tid, order.referral_ref_id) == ("kept", "kept")


def test_copy_referral_takes_other_field_names_or_none() -> None:
    order = Order()
    request = request_with(_fprom_tid=TID, _fprom_ref="alice")

    assert copy_referral(request, order, tid_field=None, ref_field="email") is True
    assert (order.referral_tid, order.email) == ("", "alice")

    assert copy_referral(request_with(_fprom_tid=TID), Order(), tid_field=None) is False


def test_an_id_longer_than_its_column_is_left_out_not_cut() -> None:
    order = Order()
    long_tid = "t" * 101  # referral_tid holds 100

    assert copy_referral(request_with(_fprom_tid=long_tid, _fprom_ref="alice"), order) is True

    assert (order.referral_tid, order.referral_ref_id) == ("", "alice")
    assert copy_referral(request_with(_fprom_tid=long_tid), order) is False


def test_a_field_the_order_does_not_have_is_an_error() -> None:
    with pytest.raises(FieldDoesNotExist):
        copy_referral(request_with(_fprom_ref="alice"), Order(), ref_field="referrer")


def test_referral_from_request_reads_the_link_before_the_cookies() -> None:
    request = request_with("?deal=bob", _fprom_tid=TID, _fprom_ref="alice")
    assert referral_from_request(request) == Referral(ref_id="bob")
    assert referral_from_request(request_with(_fprom_ref="alice")) == Referral(ref_id="alice")


# The fpr.js snippet

SNIPPET = (
    "<script>(function(w){w.fpr=w.fpr||function(){w.fpr.q = w.fpr.q||[];"
    "w.fpr.q[arguments[0]=='set'?'unshift':'push'](arguments);};})(window);"
    'fpr("init", {cid:"abc123"}); fpr("click");</script>'
    '<script src="https://cdn.firstpromoter.com/fpr.js" async></script>'
)


def render_script() -> str:
    return Template("{% load firstpromoter %}{% firstpromoter_script %}").render(Context())


def test_the_tag_renders_firstpromoters_snippet_with_the_cid(settings: Any) -> None:
    settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, "CID": "abc123"}
    assert render_script() == SNIPPET


def test_the_tag_needs_no_api_key(settings: Any) -> None:
    settings.FIRSTPROMOTER = {"CID": "abc123"}
    assert render_script() == SNIPPET


@pytest.mark.parametrize(
    "cid",
    [
        '"});alert(1);//',
        "</script><script>alert(1)</script>",
        'abc\\"});alert(1);//',
        "abc\u2028alert(1)",
        "abc\nalert(1)",
        "abc'+alert(1)+'",
    ],
)
def test_a_hostile_cid_stays_inside_its_js_string(settings: Any, cid: str) -> None:
    settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, "CID": cid}
    html = render_script()

    before, _, rest = html.partition('{cid:"')
    value, _, after = rest.partition('"})')
    assert before + '{cid:"abc123"})' + after == SNIPPET
    for character in "\"'\\<>\n\u2028":
        assert character not in value.replace("\\u", "")
    assert html.count("<script") == 2 and html.count("</script>") == 2


@pytest.mark.parametrize("setting", [{}, {"CID": None}, {"CID": ""}])
def test_the_tag_renders_nothing_without_a_cid(settings: Any, setting: dict[str, Any]) -> None:
    settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, **setting}
    assert render_script() == ""


# End to end: a referral link, a checkout, the sale credited to the promoter


@pytest.fixture(params=[2, 1], ids=["v2", "v1"])
def api_version(request: pytest.FixtureRequest, settings: Any) -> int:
    """Set before the sandbox fixture reads it."""
    settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, "API_VERSION": request.param}
    version: int = request.param
    return version


@pytest.mark.django_db
@pytest.mark.usefixtures("with_middleware", "api_version")
def test_a_visit_through_alices_link_credits_her_the_checkout(
    firstpromoter_sandbox: Sandbox, django_capture_on_commit_callbacks: Any
) -> None:
    client = Client()
    client.get("/?fpr=alice")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/checkout/", {"email": "buyer@example.com", "total": "50.00"})

    assert response.status_code == 201
    order = Order.objects.get(pk=int(response.content))
    assert order.referral_ref_id == "alice"
    (call,) = firstpromoter_sandbox.requests
    assert call.params["ref_id"] == "alice"
    (sale,) = firstpromoter_sandbox.sales
    assert sale.promoter == "alice" and sale.event_id == f"order-{order.pk}"
    assert sale.commission == 1000  # alice's 20 % of 50.00
    (lead,) = firstpromoter_sandbox.leads
    assert lead.source == "ref_id"
    recorded = Sale.objects.get()
    assert recorded.status == DeliveryStatus.TRACKED and recorded.ref_id == "alice"
