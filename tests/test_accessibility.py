"""The app's admin pages and the sandbox's dashboard through axe-core in Debian's Chromium:
none may have a serious or critical violation.

The rows are made as a shop makes them (an order paid through a referral, its partial
refund, a signup, a cancellation, a webhook from FirstPromoter) against the sandbox, so
each page shows what an operator sees: badges, inlines, links, the chart. A minor or
moderate violation is left to judgement; a serious one keeps someone from using the page.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.apps import apps
from django.conf import settings as django_settings
from django.contrib import admin
from django.core.management import call_command
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_firstpromoter import track_cancellation, track_signup
from django_firstpromoter.models import Overview, Reward, Sale
from django_firstpromoter.referral import Referral
from django_firstpromoter.sandbox import Sandbox
from django_firstpromoter.statuses import DeliveryStatus
from tests.conftest import BASE
from tests.factories import make_sale
from tests.shop.models import Order
from tests.test_browser import CHROMIUM, CHROMIUM_FLAGS

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"accessibility test skipped: no Chromium at {CHROMIUM} "
        "(Debian's package `chromium`; .ci/run installs it)",
    ),
    pytest.mark.slow,
]

BLOCKING = ("serious", "critical")
"""axe's impacts that fail a page: what keeps a person from reading or operating it."""

DJANGOS_OWN = {
    # Django's admin CSS makes the breadcrumbs' links white among light blue text, never
    # underlined. Our overview and confirmation pages use Django's breadcrumbs as they
    # are, so that they read like every other admin page; the fix is Django's to make.
    ("link-in-text-block", ".breadcrumbs"),
}
"""Violations that come from Django's admin markup, not ours: axe's rule, and the
selector of the element of Django's that holds what it found."""

APP = "django_firstpromoter"
# Every model the app registers, so that one added later is checked too; the overview
# (a page, not a table) is checked on its own.
RECORDS = sorted(
    str(model._meta.model_name)
    for model in admin.site._registry
    if model._meta.app_label == APP and model is not Overview
)
ADMIN_PAGES = [
    "app-index",
    "overview",
    *(f"{name}-list" for name in RECORDS),
    *(f"{name}-change" for name in RECORDS),
    "order-list",
    "order-change",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Imported here: the module must load (and skip) where Playwright's driver is absent.
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread, where Django
    # then refuses the tests' own queries as if they were made from async code. They
    # are not: each runs to its end before Playwright is called again.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(django_db_setup: None, live_server: Any) -> Any:
    """pytest-django's live server, started once the test database exists. Started
    before, it sees the settings' in-memory SQLite, and so hands the tests' one
    connection to all its threads at once, which SQLite does not survive."""
    return live_server


@pytest.fixture
def sandbox(request: pytest.FixtureRequest, settings: Any) -> Sandbox:
    """The plugin's sandbox, with the shop reporting its refunds too."""
    settings.FIRSTPROMOTER = {
        **settings.FIRSTPROMOTER,
        "REFUND_FROM_ORDER": "tests.shop.firstpromoter.refund_from_order",
    }
    running: Sandbox = request.getfixturevalue("firstpromoter_sandbox")
    return running


@pytest.fixture
def order(sandbox: Sandbox, server: Any) -> Order:
    """A referred order, its sale tracked at the second attempt, a tenth refunded, and a
    webhook approving its commission; a signup and a cancellation of the same customer;
    and one sale in each delivery status, so that every badge is on the list."""
    tid = requests.get(f"{sandbox.url}/click?ref=alice", timeout=5).json()["tid"]
    track_signup(Referral(tid=tid), email="buyer@example.com")

    sandbox.faults.error_rate = 1.0
    order = Order.objects.create(
        email="buyer@example.com", total=Decimal("49.95"), referral_tid=tid, paid=True
    )
    sandbox.faults.error_rate = 0.0
    Sale.objects.update(next_attempt_at=timezone.now())
    call_command("firstpromoter_deliver", stdout=io.StringIO())
    order.refunded = Decimal("5")
    order.save()
    track_cancellation(email="buyer@example.com", event_id="sub_1")

    commission = Reward.objects.get(refund=None).firstpromoter_id
    answer = requests.post(
        f"{server.url}/firstpromoter/webhook/",
        json={
            "event_id": "evt-approved",
            "event_type": "commission.updated",
            "entity_type": "commission",
            "entity_id": commission,
            "data": {"id": commission, "status": "approved", "is_paid": False},
            "timestamp": "2030-01-01T00:00:00Z",
        },
        headers={"Authorization": f"Bearer {BASE['WEBHOOK_SECRET']}", "X-Event-Id": "evt-approved"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    sale = Sale.objects.get()
    # What the sale's page is to show: two attempts, the rewards, the refund.
    assert (sale.attempts.count(), sale.refunds.count()) == (2, 1)
    assert sale.rewards.count() == 2
    for status in DeliveryStatus:
        make_sale(f"evt-{status}", status=status)
    return order


@pytest.fixture
def page(browser: Any, server: Any, admin_user: Any) -> Iterator[Any]:
    """A tab logged in as a superuser: the session cookie of a forced login."""
    client = Client()
    client.force_login(admin_user)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    context.add_cookies(
        [
            {
                "name": django_settings.SESSION_COOKIE_NAME,
                "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                "url": server.url,
            }
        ]
    )
    yield context.new_page()
    context.close()


def change_url(record: Model) -> str:
    opts = record._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[record.pk])


def admin_path(name: str, order: Order) -> str:
    if name == "app-index":
        return reverse("admin:app_list", kwargs={"app_label": APP})
    if name == "overview":
        return reverse(f"admin:{APP}_overview")
    if name == "order-list":
        return reverse("admin:shop_order_changelist")
    if name == "order-change":
        return change_url(order)
    model, kind = name.rsplit("-", 1)
    if kind == "list":
        return reverse(f"admin:{APP}_{model}_changelist")
    # The first of each kind is the referred order's: the sale with its attempts, its
    # rewards and its refund, made before the sales of each status.
    first = apps.get_model(APP, model)._default_manager.order_by("pk").first()
    assert first is not None, f"the order fixture makes no {model}"
    return change_url(first)


def blocking_violations(page: Any) -> str:
    """axe's serious and critical violations on the page, each with its help and the
    elements it found, so a failure says what to fix and where; "" when none."""
    from axe_playwright_python.sync_playwright import Axe

    lines = []
    for violation in Axe().run(page).response["violations"]:
        targets = [
            " ".join(map(str, node["target"]))
            for node in violation["nodes"]
            if not any(
                violation["id"] == rule and str(node["target"][0]).startswith(holder)
                for rule, holder in DJANGOS_OWN
            )
        ]
        if violation["impact"] in BLOCKING and targets:
            lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
            lines += [f"    {target}" for target in targets]
    return "\n".join(lines)


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_an_admin_page_has_no_serious_violation(
    page: Any, server: Any, order: Order, name: str
) -> None:
    response = page.goto(server.url + admin_path(name, order))
    assert response.status == 200, name
    assert page.locator("#user-tools").count() == 1, "not logged in"
    violations = blocking_violations(page)
    assert not violations, f"{page.url}\n{violations}"


def test_the_approve_confirmation_has_no_serious_violation(
    page: Any, server: Any, order: Order
) -> None:
    page.goto(server.url + reverse(f"admin:{APP}_reward_changelist"))
    page.locator("#action-toggle").check()
    page.locator("select[name=action]").select_option("approve_rewards")
    # The admin's button says "Go" up to Django 6.0 and "Run" after.
    page.locator("#changelist-form button[name=index]").click()
    page.get_by_role("heading", name="Approve commissions?").wait_for()
    violations = blocking_violations(page)
    assert not violations, f"{page.url}\n{violations}"


def test_the_sandbox_dashboard_has_no_serious_violation(
    page: Any, sandbox: Sandbox, order: Order
) -> None:
    page.goto(f"{sandbox.url}/")
    page.get_by_role("heading", name="Commissions").wait_for()
    violations = blocking_violations(page)
    assert not violations, f"{page.url}\n{violations}"
