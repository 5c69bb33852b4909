"""``manage.py check``: each settings mistake has its id and a hint, and no secret leaks."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core import checks as django_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_firstpromoter import checks
from django_firstpromoter.conf import get_config
from tests.conftest import BASE, firstpromoter
from tests.shop.firstpromoter import sale_from_order
from tests.shop.models import Order

SECRET = "sk_live_do-not-print-me"


def without(*keys: str, **overrides: Any) -> dict[str, Any]:
    """The test settings minus ``keys``, plus ``overrides``."""
    return {**{k: v for k, v in BASE.items() if k not in keys}, **overrides}


def messages(setting: Any) -> list[django_checks.CheckMessage]:
    with override_settings(FIRSTPROMOTER=setting):
        return checks.check_settings()


def ids(setting: Any) -> set[str]:
    return {message.id for message in messages(setting) if message.id}


def test_good_settings_give_no_messages() -> None:
    assert checks.check_settings() == []
    with firstpromoter():
        assert checks.check_settings() == []


@pytest.mark.parametrize(
    "setting",
    [
        without("ACCOUNT_ID", API_VERSION=1),
        without("ORDER_MODEL", "SALE_FROM_ORDER"),
        without(DELIVERY="worker", BASE_URL="https://example.com/track", TIMEOUT=3),
        without("RATE_LIMIT", API_VERSION=1),
        without(RATE_LIMIT=0, RATE_LIMIT_CACHE="default"),
    ],
    ids=["v1-without-account-id", "no-order-model", "every-optional-key", "v1", "limit-0"],
)
def test_valid_variants_give_no_messages(setting: dict[str, Any]) -> None:
    assert messages(setting) == []


CASES = [
    ("E001", without("API_KEY")),
    ("E001", without(API_KEY="")),
    ("E001", without(API_KEY=None)),
    ("E002", without("ACCOUNT_ID")),
    ("E002", without(ACCOUNT_ID="", API_VERSION=2)),
    ("E003", without(API_VERSION=3)),
    ("E003", without(API_VERSION="2")),
    ("E004", without(DELIVERY="celery")),
    ("E004", without(DELIVERY="")),
    ("E005", without(ORDER_MODEL="shop.Invoice")),
    ("E005", without(ORDER_MODEL="billing.Order")),
    ("E005", without(ORDER_MODEL="Order")),
    ("E005", without(ORDER_MODEL=Order)),
    ("E006", without(SALE_FROM_ORDER="tests.shop.firstpromoter.missing")),
    ("E006", without(SALE_FROM_ORDER="no_such_module.sale_from_order")),
    ("E006", without(SALE_FROM_ORDER="sale_from_order")),
    ("E006", without(SALE_FROM_ORDER="tests.conftest.V2_URL")),
    ("E006", without(SALE_FROM_ORDER=sale_from_order)),
    ("E007", "test-api-key"),
    ("E007", ["API_KEY", "test-api-key"]),
    ("E007", ("API_KEY",)),
    ("E008", without("SALE_FROM_ORDER")),
    ("E008", without(SALE_FROM_ORDER="")),
    ("E010", without(RATE_LIMIT=1)),
    ("E010", without(RATE_LIMIT=-1)),
    ("E010", without(RATE_LIMIT="380")),
    ("E010", without(RATE_LIMIT=380.0)),
    ("E010", without(RATE_LIMIT=True)),
    ("E011", without(RATE_LIMIT_CACHE="redis")),
    ("E011", without(RATE_LIMIT_CACHE="")),
    ("E011", without(RATE_LIMIT_CACHE=["default"])),
    ("E015", without(WEBHOOK_SECRET="too-short")),
    ("E015", without(WEBHOOK_SECRET=" padded-secret-0123456789")),
    ("E015", without(WEBHOOK_SECRET="secret with spaces 0123456789")),
    ("E015", without(WEBHOOK_SECRET="sécret-non-ascii-0123456789")),
    ("E015", without(WEBHOOK_SECRET=b"bytes-secret-0123456789")),
    ("E015", without(WEBHOOK_SECRET=12345678901234567890)),
    ("E016", without(API_KEY="test-api-key\n")),
    ("E016", without(API_KEY=" test-api-key")),
    ("E016", without(API_KEY="test api key")),
    ("E016", without(API_KEY="tést-api-key")),
    ("E016", without(API_KEY=b"test-api-key")),
    ("E016", without(API_KEY=12345, API_VERSION=1)),
    ("E017", without(ACCOUNT_ID="acc_test\r\n")),
    ("E017", without(ACCOUNT_ID="acc\x00test")),
    ("E017", without(ACCOUNT_ID="acc_test\n", API_VERSION=1)),
    ("E018", without(EVENT_ID_PREFIX="shop 1/")),
    ("E018", without(EVENT_ID_PREFIX=None)),
    ("E018", without(EVENT_ID_PREFIX="x" * 65)),
    ("E018", without(EVENT_ID_PREFIX="shop\x00")),
    ("W001", without(RETRIES=3)),
    # tests/urls.py routes the webhook.
    ("W004", without("WEBHOOK_SECRET")),
    ("W004", without(WEBHOOK_SECRET=None)),
]


@pytest.mark.parametrize(("code", "setting"), CASES)
def test_each_mistake_has_its_own_id_and_a_hint(code: str, setting: Any) -> None:
    found = messages(setting)

    assert [message.id for message in found] == [f"firstpromoter.{code}"]
    (message,) = found
    assert message.hint
    assert message.msg
    expected_level = django_checks.WARNING if code.startswith("W") else django_checks.ERROR
    assert message.level == expected_level


def test_several_mistakes_are_all_reported() -> None:
    setting = {"API_VERSION": 2, "DELIVERY": "celery", "ORDER_MODEL": "shop.Nope", "TYPO": 1}
    assert ids(setting) == {
        "firstpromoter.E001",
        "firstpromoter.E002",
        "firstpromoter.E004",
        "firstpromoter.E005",
        "firstpromoter.E008",
        "firstpromoter.W001",
        "firstpromoter.W004",  # the webhook URL is routed, with no secret
    }


def test_messages_name_the_offending_value() -> None:
    (version,) = messages(without(API_VERSION=3))
    assert "3" in version.msg
    (delivery,) = messages(without(DELIVERY="celery"))
    assert "celery" in delivery.msg
    (model,) = messages(without(ORDER_MODEL="shop.Invoice"))
    assert "shop.Invoice" in model.msg
    (adapter,) = messages(without(SALE_FROM_ORDER="tests.shop.firstpromoter.missing"))
    assert "SALE_FROM_ORDER" in adapter.msg and '"missing"' in adapter.msg
    (not_callable,) = messages(without(SALE_FROM_ORDER="tests.conftest.V2_URL"))
    assert "tests.conftest.V2_URL" in not_callable.msg


def test_unknown_keys_are_named_and_known_keys_listed() -> None:
    (warning,) = messages(without(RETRIES=3, MAX_ATTEMPT=5))
    assert "MAX_ATTEMPT" in warning.msg and "RETRIES" in warning.msg
    assert warning.hint is not None
    assert "MAX_ATTEMPTS" in warning.hint and "SALE_FROM_ORDER" in warning.hint


def test_a_key_that_is_no_string_is_named_unknown_and_breaks_neither_check_nor_sending() -> None:
    setting: dict[Any, Any] = {**BASE, 1: "one", None: "none"}
    (warning,) = messages(setting)
    assert warning.id == "firstpromoter.W001" and "1" in warning.msg and "None" in warning.msg
    with override_settings(FIRSTPROMOTER=setting):
        assert get_config().api_version == 2
    (error,) = messages({**setting, "API_VERSION": 3})[:1]
    assert error.id == "firstpromoter.E003"


def test_a_lower_case_key_is_unknown_and_the_real_one_missing() -> None:
    assert ids(without("API_KEY", api_key=SECRET)) == {"firstpromoter.E001", "firstpromoter.W001"}


def test_the_check_is_registered_with_django() -> None:
    with override_settings(FIRSTPROMOTER=without("API_KEY")):
        found = django_checks.run_checks(tags=["firstpromoter"])
    assert [message.id for message in found] == ["firstpromoter.E001"]


# manage.py check


# manage.py check runs the model checks too, and on Django 6.1 JSONField's asks
# SQLite whether it supports JSON: these tests need the database.
def run_check(**options: Any) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("check", stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_manage_py_check_passes_with_good_settings() -> None:
    out, err = run_check()
    assert "no issues" in out
    assert "firstpromoter" not in out + err


@pytest.mark.django_db
@pytest.mark.parametrize(("code", "setting"), [case for case in CASES if case[0][0] == "E"])
def test_manage_py_check_fails_on_an_error(code: str, setting: Any) -> None:
    with override_settings(FIRSTPROMOTER=setting), pytest.raises(SystemCheckError) as failed:
        run_check()
    assert f"firstpromoter.{code}" in str(failed.value)
    assert "HINT:" in str(failed.value)


@pytest.mark.django_db
def test_manage_py_check_warns_but_passes_on_an_unknown_key() -> None:
    with override_settings(FIRSTPROMOTER=without(RETRIES=3)):
        _, err = run_check()
        assert "firstpromoter.W001" in err
        with pytest.raises(SystemCheckError):
            run_check(fail_level="WARNING")


# The API key is never printed


@pytest.mark.django_db
@pytest.mark.parametrize(
    "setting",
    [
        without(API_KEY=SECRET, ACCOUNT_ID=""),
        without(API_KEY=SECRET, API_VERSION=3),
        without(API_KEY=SECRET, DELIVERY="celery"),
        without(API_KEY=SECRET, ORDER_MODEL="shop.Invoice"),
        without(API_KEY=SECRET, SALE_FROM_ORDER="tests.shop.firstpromoter.missing"),
        without("SALE_FROM_ORDER", API_KEY=SECRET),
        without("API_KEY", api_key=SECRET, API_KEYS=SECRET),
        SECRET,
        [SECRET],
        without(WEBHOOK_SECRET=f"{SECRET} "),
        without(API_KEY=f"{SECRET}\n"),
        without(ACCOUNT_ID=f"{SECRET}\n"),
    ],
    ids=[
        "E002",
        "E003",
        "E004",
        "E005",
        "E006",
        "E008",
        "W001",
        "E007-str",
        "E007-list",
        "E015",
        "E016",
        "E017",
    ],
)
def test_messages_never_contain_the_api_key(setting: Any) -> None:
    found = messages(setting)
    assert found
    for message in found:
        assert SECRET not in f"{message.msg} {message.hint}"
    with override_settings(FIRSTPROMOTER=setting):
        try:
            out, err = run_check()
        except SystemCheckError as exc:
            out, err = str(exc), ""
    assert "firstpromoter." in out + err
    assert SECRET not in out + err


@pytest.mark.parametrize("key", ["TIMEOUT", "MAX_ATTEMPTS", "RETRY_BACKOFF"])
@pytest.mark.parametrize("value", ["ten", 0, -5, True])
def test_e009_numbers_must_be_positive(key, value):
    with firstpromoter(**{key: value}):
        messages = checks.check_settings()
    assert [m.id for m in messages] == ["firstpromoter.E009"]
    assert key in messages[0].msg and messages[0].hint


#: A URLconf without the webhook, for the test below (ROOT_URLCONF = this module).
urlpatterns: list[Any] = []


def test_no_secret_without_the_webhook_routed_is_fine() -> None:
    with override_settings(ROOT_URLCONF=__name__):
        assert messages(without("WEBHOOK_SECRET")) == []
    (warning,) = messages(without("WEBHOOK_SECRET"))
    assert warning.id == "firstpromoter.W004"
    assert "refuses every delivery" in warning.msg
    assert warning.hint is not None and "Authorization: Bearer" in warning.hint


@pytest.mark.django_db
def test_manage_py_check_passes_on_a_worker_machine_s_settings_without_urls(settings) -> None:
    # A worker (firstpromoter_deliver, rqworker, celery) needs no URLs; before, the
    # webhook's check crashed `check`, and so `migrate` and every worker command.
    del settings.ROOT_URLCONF
    with override_settings(FIRSTPROMOTER=without("WEBHOOK_SECRET")):
        out, err = run_check()
    assert "no issues" in out
    assert "firstpromoter" not in out + err


@pytest.mark.parametrize(("key", "code"), [("API_KEY", "E016"), ("ACCOUNT_ID", "E017")])
def test_a_credential_with_a_newline_names_the_setting_and_says_to_strip_it(key, code):
    (error,) = messages(without(**{key: f"{SECRET}\n"}))
    assert error.id == f"firstpromoter.{code}"
    assert f"FIRSTPROMOTER['{key}']" in error.msg and "newline" in error.msg
    assert error.hint is not None and "strip" in error.hint


def test_e003_true_is_not_a_version():
    with firstpromoter(API_VERSION=True):
        assert [m.id for m in checks.check_settings()] == ["firstpromoter.E003"]


# The rate limit's cache

LOCMEM = "django.core.cache.backends.locmem.LocMemCache"
SHARED_BACKENDS = [
    "django.core.cache.backends.redis.RedisCache",
    "django.core.cache.backends.memcached.PyMemcacheCache",
    "django.core.cache.backends.db.DatabaseCache",
]


def cache_messages(backend: str, **setting: Any) -> list[django_checks.CheckMessage]:
    caches = {
        "default": {"BACKEND": LOCMEM},
        "limits": {"BACKEND": backend, "LOCATION": "firstpromoter_checks"},
    }
    with override_settings(CACHES=caches):
        return messages(without(RATE_LIMIT_CACHE="limits", **setting))


def test_minimal_v2_settings_keep_the_slots_in_the_database_and_say_nothing() -> None:
    with override_settings(CACHES={"default": {"BACKEND": LOCMEM}}):
        # W004 only: tests/urls.py routes the webhook.
        assert ids({"API_KEY": "k", "ACCOUNT_ID": "a"}) == {"firstpromoter.W004"}
        assert messages(without("RATE_LIMIT")) == []


def test_naming_djangos_default_cache_warns_that_it_is_per_process() -> None:
    with override_settings(CACHES={"default": {"BACKEND": LOCMEM}}):
        (warning,) = messages(without("RATE_LIMIT", RATE_LIMIT_CACHE="default"))
    assert warning.id == "firstpromoter.W002"
    assert warning.level == django_checks.WARNING
    assert "'default'" in warning.msg and "380 a minute" in warning.msg
    assert warning.hint is not None and "Redis" in warning.hint
    assert "Leave RATE_LIMIT_CACHE out" in warning.hint


@pytest.mark.parametrize("backend", SHARED_BACKENDS)
def test_a_shared_cache_gives_no_warning(backend: str) -> None:
    assert cache_messages(backend, RATE_LIMIT=100) == []


@pytest.mark.parametrize("backend", [LOCMEM, "django.core.cache.backends.filebased.FileBasedCache"])
def test_a_cache_that_cannot_share_slots_between_processes_warns(backend: str) -> None:
    (warning,) = cache_messages(backend, RATE_LIMIT=100)
    assert warning.id == "firstpromoter.W002"
    assert "'limits'" in warning.msg and "100 a minute" in warning.msg


def test_the_dummy_cache_warns_that_nothing_is_limited() -> None:
    (warning,) = cache_messages("django.core.cache.backends.dummy.DummyCache", RATE_LIMIT=100)
    assert warning.id == "firstpromoter.W003"
    assert warning.level == django_checks.WARNING
    assert warning.hint is not None and "'RATE_LIMIT': None" in warning.hint


@pytest.mark.parametrize("limit", [None, 0])
def test_without_a_limit_the_cache_does_not_matter(limit: int | None) -> None:
    assert cache_messages(LOCMEM, RATE_LIMIT=limit) == []
    assert cache_messages("django.core.cache.backends.dummy.DummyCache", RATE_LIMIT=limit) == []


def test_a_cache_that_does_not_load_is_left_to_djangos_checks() -> None:
    assert cache_messages("no.such.Cache", RATE_LIMIT=100) == []


def test_e010_names_the_value_and_the_default() -> None:
    (error,) = messages(without(RATE_LIMIT=1))
    assert "1" in error.msg
    assert error.hint is not None and "380" in error.hint and "None" in error.hint
