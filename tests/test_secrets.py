"""The API key, the account id and the webhook secret show nowhere, whatever happens.

Every logger at DEBUG (SQL included), an error email for every ERROR record as a
production site sends them, and then: sales tracked, refused with 401, timed out
and crashed over real HTTP to the sandbox; a key with a trailing newline; webhook
deliveries with the right secret, a wrong one and none, and one whose handling
crashes. None of the three may then be in a log record, the output, a database
row, an admin page, an error report's frames or a repr.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import urllib3
from django.apps import apps
from django.contrib import admin
from django.core import mail, serializers
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils.log import AdminEmailHandler
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from django_firstpromoter import client, protocol, webhooks
from django_firstpromoter.conf import get_config
from django_firstpromoter.models import Reward, Sale
from django_firstpromoter.ratelimit import limiter_for
from django_firstpromoter.sandbox import Sandbox
from django_firstpromoter.statuses import DeliveryStatus
from django_firstpromoter.worker import Worker
from tests.conftest import BASE
from tests.shop.models import Order

pytestmark = pytest.mark.django_db

KEY = "fpk-Secret-Key-7Hq2"
ACCOUNT = "fpa-Secret-Account-3Zx9"
WEBHOOK_SECRET = "fpw-Secret-Webhook-8Kd4-0123456789"
WRONG_WEBHOOK_SECRET = "fpw-Wrong-Webhook-5Mn1-0123456789"
SECRETS = (KEY, ACCOUNT, WEBHOOK_SECRET, WRONG_WEBHOOK_SECRET)
LOGGERS = [None, "django_firstpromoter", "urllib3", "requests", "django.db.backends", "django"]
APP = "django_firstpromoter"


class ReporterFilter(SafeExceptionReporterFilter):
    """Django's error reports star out the settings named like a secret (API_KEY,
    WEBHOOK_SECRET); a site that keeps its account id private adds ACCOUNT."""

    hidden_settings = re.compile(f"{SafeExceptionReporterFilter.hidden_settings.pattern}|ACCOUNT")


@pytest.fixture
def exposed(
    caplog: pytest.LogCaptureFixture, settings: Any, version: int
) -> Iterator[pytest.LogCaptureFixture]:
    """Everything logged that can be, each ERROR record also mailed to the admins with
    its HTML report (frames and their locals), and the credentials set."""
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = f"{__name__}.ReporterFilter"
    settings.FIRSTPROMOTER = {
        **BASE,
        "API_KEY": KEY,
        "ACCOUNT_ID": ACCOUNT,
        "API_VERSION": version,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TIMEOUT": 0.3,
    }
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    mailer = AdminEmailHandler(include_html=True)
    mailer.setLevel(logging.ERROR)
    logging.getLogger().addHandler(mailer)
    for connection in connections.all():
        connection.force_debug_cursor = True
    try:
        yield caplog
    finally:
        for connection in connections.all():
            connection.force_debug_cursor = False
        logging.getLogger().removeHandler(mailer)


def record_texts(record: logging.LogRecord) -> list[str]:
    texts = [record.getMessage(), repr(record.args), str(vars(record))]
    if record.exc_info:
        texts.append(logging.Formatter().formatException(record.exc_info))
        texts.extend(report_frames(record.exc_info))
    return texts


def report_frames(exc_info: Any) -> list[str]:
    """The frames' locals an error report (an error email) shows, DEBUG off."""
    exc_type, exc_value, tb = exc_info
    reporter = ExceptionReporter(None, exc_type, exc_value, tb, is_email=True)
    return [
        f"{name}={value}"
        for frame in reporter.get_traceback_data()["frames"]
        for name, value in frame["vars"]
    ]


def assert_hidden(texts: list[str]) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, (secret, text[:2000])


def crash(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("a bug")


def track_order(django_capture_on_commit_callbacks: Any, **fields: Any) -> Order:
    """A paid order saved as a shop saves one, its sale sent after the commit."""
    with django_capture_on_commit_callbacks(execute=True):
        return Order.objects.create(
            email="buyer@example.com", total=Decimal("25.00"), paid=True, **fields
        )


def post_webhook(body: dict[str, Any], secret: str | None, event_id: str) -> Any:
    headers = {"X-Event-Id": event_id, "X-Event-Type": "commission.updated"}
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    return Client(raise_request_exception=False).post(
        reverse("firstpromoter:webhook"), body, content_type="application/json", headers=headers
    )


@pytest.mark.slow
def test_no_credential_is_logged_printed_stored_rendered_or_shown(
    exposed: pytest.LogCaptureFixture,
    version: int,
    settings: Any,
    capfd: pytest.CaptureFixture[str],
    admin_client: Client,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Sandbox(api_key=KEY, account_id=ACCOUNT) as sandbox:
        settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, "BASE_URL": sandbox.base_url(version)}
        track_order(django_capture_on_commit_callbacks, referral_tid=sandbox.click("alice"))
        sandbox.api_key = "fpk-not-this-one"
        track_order(django_capture_on_commit_callbacks)  # 401
        sandbox.api_key = KEY
        sandbox.faults.update({"timeout_rate": 1, "hold_seconds": 1})
        track_order(django_capture_on_commit_callbacks)  # times out
        sandbox.faults.timeout_rate = 0
        with monkeypatch.context() as patched:
            # A bug deep in the HTTP library, whose frames hold the request's headers.
            patched.setattr(urllib3.connectionpool.HTTPConnectionPool, "_make_request", crash)
            track_order(django_capture_on_commit_callbacks)  # logged at ERROR, mailed
        answer = client.send(get_config(), "sale", {"event_id": "direct", "amount": 100})
    assert Sale.objects.filter(status=DeliveryStatus.TRACKED).count() == 1
    assert Sale.objects.filter(last_error__contains="401").exists()
    assert Sale.objects.filter(last_error="timed out").exists()
    # The crash's sale: its claim given back, due again.
    assert Sale.objects.filter(
        status=DeliveryStatus.PENDING, attempt_count=1, last_error=""
    ).exists()
    reward = Reward.objects.get()

    reprs = [
        repr(get_config()),
        str(get_config()),
        repr(answer),
        repr(Worker(get_config())),
        repr(vars(limiter_for(get_config()))),
        repr(protocol.build_request(get_config(), "sale", {})),
        repr(client.session().prepare_request(protocol.build_request(get_config(), "sale", {}))),
        repr(client.session().headers),
    ]

    settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, "API_KEY": f"{KEY}\n"}
    waiting = Sale.objects.get(status=DeliveryStatus.PENDING, last_error="timed out")
    outputs = [
        *unusable_key_outputs(django_capture_on_commit_callbacks, admin_client, waiting),
        *webhook_outputs(reward, monkeypatch),
    ]
    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempt_count) == (DeliveryStatus.PENDING, 1)

    pages = admin_pages(admin_client)
    rows = [serializers.serialize("json", model._default_manager.all()) for model in app_models()]
    captured = capfd.readouterr()
    records = exposed.records
    assert any(r.name == "django.db.backends" for r in records)  # SQL was logged
    assert any(r.name.startswith("urllib3") for r in records)
    assert len(mail.outbox) >= 3  # the crash, the unusable key, the crashed delivery
    starred = SafeExceptionReporterFilter.cleansed_substitute
    assert any(starred in text for message in mail.outbox for text in email_texts(message))
    assert_hidden(reprs + outputs + pages + rows + [captured.out, captured.err])
    assert_hidden([text for record in records for text in record_texts(record)])
    assert_hidden([text for message in mail.outbox for text in email_texts(message)])


def unusable_key_outputs(
    django_capture_on_commit_callbacks: Any, admin_client: Client, waiting: Sale
) -> list[str]:
    """A key with a trailing newline: every way in says which setting, not its value."""
    track_order(django_capture_on_commit_callbacks)  # logged at ERROR: not recorded
    outputs = []
    with pytest.raises(CommandError, match="API_KEY") as refused:
        call_command("firstpromoter_deliver")
    outputs.append(str(refused.value))
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemCheckError, match=r"firstpromoter\.E016") as failed:
        call_command("check", stdout=out, stderr=err)
    outputs += [str(failed.value), out.getvalue(), err.getvalue()]
    retried = admin_client.post(
        reverse("admin:django_firstpromoter_sale_changelist"),
        {"action": "retry_sales", "_selected_action": [waiting.pk]},
        follow=True,
    )
    assert "API_KEY" in retried.content.decode()
    outputs.append(retried.content.decode())
    return outputs


def webhook_outputs(reward: Reward, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Deliveries with the right secret, a wrong one and none; and one that crashes."""
    body = {"data": {"id": reward.firstpromoter_id, "status": "approved"}}
    answers = [
        post_webhook(body, WEBHOOK_SECRET, "evt-right"),
        post_webhook(body, WRONG_WEBHOOK_SECRET, "evt-wrong"),
        post_webhook(body, None, "evt-none"),
    ]
    with monkeypatch.context() as patched:
        patched.setattr(webhooks, "store", crash)
        answers.append(post_webhook(body, WEBHOOK_SECRET, "evt-crash"))
    assert [answer.status_code for answer in answers] == [200, 401, 401, 500]
    reward.refresh_from_db()
    assert reward.status == "approved"
    return [answer.content.decode() + str(answer.headers) for answer in answers]


def email_texts(message: mail.EmailMessage) -> list[str]:
    """The text and the HTML report of an error email."""
    alternatives = getattr(message, "alternatives", [])
    return [str(message.body), *(str(content) for content, _ in alternatives)]


def app_models() -> list[Any]:
    """The app's models that hold rows (the overview's has no table)."""
    return [model for model in apps.get_app_config(APP).get_models() if model._meta.managed]


def admin_pages(admin_client: Client) -> list[str]:
    """Every changelist and change page of the app, as a superuser sees it."""
    pages = [admin_client.get(reverse("admin:index")), admin_client.get(f"/admin/{APP}/")]
    for model in admin.site._registry:
        if model._meta.app_label != APP:
            continue
        name = f"admin:{APP}_{model._meta.model_name}"
        pages.append(admin_client.get(reverse(f"{name}_changelist")))
        if not model._meta.managed:
            continue  # the overview: a page, no rows
        for pk in model._default_manager.values_list("pk", flat=True):
            pages.append(admin_client.get(reverse(f"{name}_change", args=[pk])))
    assert [page.status_code for page in pages] == [200] * len(pages)
    return [page.content.decode() for page in pages]


@pytest.mark.parametrize(
    ("setting", "local"),
    [({**BASE, "API_KEY": KEY, "ACCOUNT_ID": ""}, "raw="), (f"API_KEY={KEY}", "user=")],
    ids=["get_config", "raw_settings"],
)
def test_the_report_of_a_settings_error_stars_the_settings_out(
    settings: Any, setting: Any, local: str
) -> None:
    """An ImproperlyConfigured raised while the settings are a local: its report (an
    error email, DEBUG off) shows that local starred out."""
    settings.FIRSTPROMOTER = setting
    with pytest.raises(ImproperlyConfigured) as raised:
        get_config()
    # From get_config down: this test's own frame holds the setting, of course.
    frames = report_frames((raised.type, raised.value, raised.tb.tb_next))
    assert any(text.startswith(local) for text in frames)
    assert_hidden(frames)
