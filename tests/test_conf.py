"""Settings read at use time; what cannot be sent with is an ImproperlyConfigured."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_firstpromoter.conf import get_config
from tests.conftest import BASE, firstpromoter


def test_defaults():
    config = get_config()
    assert config.api_version == 2
    assert config.base_url == "https://api.firstpromoter.com/api/v2/track"
    assert (config.timeout, config.max_attempts, config.retry_backoff) == (10.0, 12, 60.0)
    assert config.delivery == "on_commit"
    assert config.lease_seconds == 50.0


def test_v1_default_url_and_no_account_needed():
    with firstpromoter(API_VERSION=1, ACCOUNT_ID=""):
        config = get_config()
    assert config.base_url == "https://firstpromoter.com/api/v1/track"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"API_KEY": ""}, "API_KEY"),
        ({"ACCOUNT_ID": ""}, "ACCOUNT_ID"),
        ({"API_VERSION": "2"}, "API_VERSION"),
        ({"API_VERSION": 3}, "API_VERSION"),
        ({"DELIVERY": "celery"}, "DELIVERY"),
    ],
)
def test_unusable_settings_raise_naming_the_key(overrides, named):
    with firstpromoter(**overrides), pytest.raises(ImproperlyConfigured, match=named):
        get_config()


def test_settings_must_be_a_dict():
    with override_settings(FIRSTPROMOTER=["API_KEY"]), pytest.raises(ImproperlyConfigured):
        get_config()


def test_no_settings_at_all_is_a_missing_key():
    with (
        override_settings(FIRSTPROMOTER=None),
        pytest.raises(ImproperlyConfigured, match="API_KEY"),
    ):
        get_config()


@pytest.mark.parametrize("key", ["TIMEOUT", "MAX_ATTEMPTS", "RETRY_BACKOFF"])
@pytest.mark.parametrize("value", ["ten", 0, -1, True, None])
def test_numbers_must_be_positive(key, value):
    with firstpromoter(**{key: value}), pytest.raises(ImproperlyConfigured, match=key):
        get_config()


def test_true_is_not_api_version_1():
    with firstpromoter(API_VERSION=True), pytest.raises(ImproperlyConfigured, match="API_VERSION"):
        get_config()


def without_rate_limit(**overrides):
    """The test settings with RATE_LIMIT left to its default."""
    setting = {k: v for k, v in BASE.items() if k != "RATE_LIMIT"}
    return override_settings(FIRSTPROMOTER={**setting, **overrides})


def test_rate_limit_defaults_to_380_with_v2_and_none_with_v1():
    with without_rate_limit():
        config = get_config()
    assert (config.rate_limit, config.rate_limit_cache) == (380, None)
    with without_rate_limit(API_VERSION=1):
        assert get_config().rate_limit is None


@pytest.mark.parametrize(("value", "limit"), [(None, None), (0, None), (2, 2), (1000, 1000)])
def test_rate_limit_none_or_zero_is_no_limit(value, limit):
    with firstpromoter(RATE_LIMIT=value):
        assert get_config().rate_limit == limit


@pytest.mark.parametrize("value", [1, -5, "380", 380.0, True])
def test_rate_limit_must_be_an_int_of_two_or_more(value):
    with firstpromoter(RATE_LIMIT=value), pytest.raises(ImproperlyConfigured, match="RATE_LIMIT"):
        get_config()


@pytest.mark.parametrize("alias", ["redis", ""])
def test_rate_limit_cache_must_be_in_caches(alias):
    with (
        firstpromoter(RATE_LIMIT_CACHE=alias),
        pytest.raises(ImproperlyConfigured, match="RATE_LIMIT_CACHE"),
    ):
        get_config()


# The credentials: sendable, and never shown

KEY = "fp-key-do-not-show"
ACCOUNT = "acct-do-not-show"
UNSENDABLE = [f"{KEY}\n", f" {KEY}", f"{KEY} x", f"{KEY}\t", f"{KEY}\x00", f"{KEY}é", b"fp-key"]


@pytest.mark.parametrize("key", ["API_KEY", "ACCOUNT_ID"])
@pytest.mark.parametrize(
    "value",
    UNSENDABLE,
    ids=["newline", "leading-space", "space", "tab", "nul", "non-ascii", "bytes"],
)
@pytest.mark.parametrize("version", [2, 1])
def test_a_credential_a_header_cannot_carry_raises_naming_the_key_only(key, value, version):
    with (
        firstpromoter(**{key: value, "API_VERSION": version}),
        pytest.raises(ImproperlyConfigured, match=key) as raised,
    ):
        get_config()
    assert KEY not in str(raised.value) and "fp-key" not in str(raised.value)


def test_an_unset_account_id_is_fine_with_v1():
    for unset in ("", None):
        with firstpromoter(API_VERSION=1, ACCOUNT_ID=unset):
            assert get_config().account_id == ""


def test_the_config_repr_shows_no_credential():
    with firstpromoter(API_KEY=KEY, ACCOUNT_ID=ACCOUNT):
        config = get_config()
    assert (config.api_key, config.account_id) == (KEY, ACCOUNT)
    for text in (repr(config), str(config), f"{config!r}"):
        assert KEY not in text and ACCOUNT not in text
        assert "api_version=2" in text
