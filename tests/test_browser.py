"""The example shop and the admin in a real browser: Debian's Chromium, driven by Playwright.

The shop runs as `make demo` runs it (its own settings, process and SQLite file),
against a sandbox in this process, so the test can make FirstPromoter fail on demand.
Screenshots go to build/screenshots/; the README shows two of them (docs/).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from django_firstpromoter.sandbox import Sandbox
from tests.example_shop import (
    EXAMPLE,
    MANAGE,
    WEBHOOK_SECRET,
    environment,
    wait_for,
)
from tests.ports import free_port

CHROMIUM = Path("/usr/bin/chromium")
# Headless as root, and quiet: this machine's network is closed, and Chromium's
# calls home would otherwise fail by the dozen at every start.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = EXAMPLE.parent / "build" / "screenshots"
ADMIN = ("admin", "admin")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"browser test skipped: no Chromium at {CHROMIUM} "
    "(Debian's package `chromium`; .ci/run installs it)",
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


@pytest.fixture(scope="module")
def shop(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The example shop's URL, on a free port, with a fresh database and the demo user."""
    database = tmp_path_factory.mktemp("shop") / "db.sqlite3"
    env = {**environment(database, sandbox.url), "DJANGO_SUPERUSER_PASSWORD": ADMIN[1]}
    for command in (
        ["migrate", "--noinput"],
        ["createsuperuser", "--noinput", "--username", ADMIN[0], "--email", "admin@example.com"],
    ):
        subprocess.run([*MANAGE, *command], env=env, cwd=EXAMPLE, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [*MANAGE, "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        cwd=EXAMPLE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(port, server)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Imported here: the module must load (and skip) where Playwright's driver is absent.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    # The most common laptop's: what an operator and a buyer see first.
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def buy(page: Any, shop: str, plan: str, email: str) -> None:
    page.get_by_role("link", name=f"Buy {plan}").click()
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Continue to payment").click()
    page.get_by_role("button", name="Pay").click()


def referred_purchase(page: Any, shop: str, sandbox: Sandbox, email: str) -> Any:
    """A Starter plan bought through alice's link with FirstPromoter up; the sale as
    the sandbox recorded it."""
    from playwright.sync_api import expect

    sandbox.faults.update({"error_rate": 0.0})
    page.goto(f"{shop}/?fpr=alice")
    buy(page, shop, "Starter", email)
    expect(page.locator(".reward")).to_contain_text("alice")
    (sale,) = [event for event in sandbox.sales if event.email == email]
    return sale


def sale_row(page: Any, event_id: str) -> Any:
    return page.locator("#result_list tbody tr", has_text=event_id)


@pytest.mark.slow
def test_a_referred_sale_from_the_link_to_the_admin_and_a_retry(
    page: Any, shop: str, sandbox: Sandbox
) -> None:
    from playwright.sync_api import expect

    # alice's referral link, then a purchase: the order page shows her commission.
    page.goto(f"{shop}/?fpr=alice")
    expect(page.locator("#referral")).to_contain_text("alice")
    screenshot(page, "1-storefront")
    buy(page, shop, "Pro", "first@example.com")
    expect(page.locator("#sale-status")).to_have_text("Tracked")
    expect(page.locator(".reward")).to_contain_text("9.80 USD for alice@promoters.example")
    screenshot(page, "2-order-tracked")

    # The operator's view: the sale is tracked with alice's reward.
    page.goto(f"{shop}/admin/django_firstpromoter/sale/")
    page.get_by_label("Username").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Log in").click()
    first = sale_row(page, "order-1")
    expect(first.locator(".field-status_badge")).to_have_text("Tracked")
    expect(first.locator(".field-commission")).to_have_text("9.80 USDalice@promoters.example")

    # FirstPromoter fails: the next paid order is kept, pending a retry.
    sandbox.faults.update({"error_rate": 1.0})
    page.goto(f"{shop}/")
    buy(page, shop, "Starter", "second@example.com")
    expect(page.locator("#sale-status")).to_have_text("Pending")
    screenshot(page, "3-order-pending")
    page.goto(f"{shop}/admin/django_firstpromoter/sale/")
    second = sale_row(page, "order-2")
    expect(second.locator(".field-status_badge")).to_have_text("Pending")
    expect(page.locator(".fp-queue-status")).to_contain_text("waiting for retry: 1")
    screenshot(page, "4-admin-pending")

    # It is back: the operator retries the sale now instead of waiting for the backoff.
    sandbox.faults.update({"error_rate": 0.0})
    second.locator("input[name=_selected_action]").check()
    page.locator("select[name=action]").select_option(label="Retry now")
    screenshot(page, "5-admin-retry-now")
    # The admin's button says "Go" up to Django 6.0 and "Run" after.
    page.locator("#changelist-form button[name=index]").click()
    expect(page.locator(".messagelist")).to_contain_text("1 sale sent")
    second = sale_row(page, "order-2")
    expect(second.locator(".field-status_badge")).to_have_text("Tracked")
    expect(second.locator(".field-commission")).to_contain_text("3.80 USD")
    expect(page.locator(".fp-queue-status")).to_contain_text("waiting for retry: 0")
    screenshot(page, "6-admin-retried")

    # FirstPromoter counted each sale once, the failed answer included.
    assert sorted(sale.event_id for sale in sandbox.sales) == ["order-1", "order-2"]


@pytest.mark.slow
def test_a_refund_takes_part_of_the_commission_back_and_a_cancellation_is_reported(
    page: Any, shop: str, sandbox: Sandbox
) -> None:
    from playwright.sync_api import expect

    sandbox.faults.update({"error_rate": 0.0})
    page.goto(f"{shop}/?fpr=alice")
    buy(page, shop, "Pro", "refunded@example.com")
    expect(page.locator(".reward")).to_contain_text("9.80 USD for alice@promoters.example")

    # Half of the $49 back: half of alice's 9.80 is taken back.
    page.locator("#refund-form input[name=amount]").fill("24.50")
    page.get_by_role("button", name="Refund").click()
    expect(page.locator("#refunded")).to_have_text("$24.50")
    expect(page.locator(".refund")).to_contain_text("$24.50: Tracked")
    expect(page.locator(".refund-reward")).to_contain_text("-4.90 USD for alice@promoters.example")

    # More than is left is refused, and nothing is refunded.
    page.locator("#refund-form input[name=amount]").evaluate(
        "input => input.removeAttribute('max')"
    )
    page.locator("#refund-form input[name=amount]").fill("30")
    page.get_by_role("button", name="Refund").click()
    expect(page.locator(".errorlist")).to_contain_text("At most 24.50 is left to refund.")
    expect(page.locator("#refunded")).to_have_text("$24.50")

    page.get_by_role("button", name="Cancel subscription").click()
    expect(page.locator("#cancellation-status")).to_have_text("Tracked")
    screenshot(page, "7-order-refunded-and-cancelled")

    assert [event.amount for event in sandbox.refunds] == [2450]
    assert [lead.state for lead in sandbox.leads if lead.email == "refunded@example.com"] == [
        "cancelled"
    ]


@pytest.mark.slow
def test_a_webhook_from_firstpromoter_changes_the_rewards_status_in_the_admin(
    page: Any, shop: str, sandbox: Sandbox
) -> None:
    from playwright.sync_api import expect

    sale = referred_purchase(page, shop, sandbox, "approved-later@example.com")
    expect(page.locator(".reward")).to_contain_text("(approved)")

    def deliver(event_id: str, authorization: str) -> int:
        body = {
            "event_id": event_id,
            "event_type": "commission.updated",
            "entity_type": "commission",
            "entity_id": sale.commission_id,
            "data": {"id": sale.commission_id, "status": "denied", "is_paid": False},
            "timestamp": "2030-01-01T00:00:00Z",
        }
        answer = requests.post(
            f"{shop}/firstpromoter/webhook/",
            json=body,
            headers={
                "Authorization": authorization,
                "X-Event-Id": event_id,
                "X-Event-Type": "commission.updated",
            },
            timeout=10,
        )
        return answer.status_code

    # A forged delivery, without the secret, changes nothing; FirstPromoter's does.
    assert deliver("evt-forged", "Bearer not-the-secret") == 401
    page.goto(f"{shop}/admin/django_firstpromoter/reward/?q=approved-later")
    page.get_by_label("Username").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Log in").click()
    row = page.locator("#result_list tbody tr")
    expect(row.locator(".field-status")).to_have_text("approved")

    assert deliver("evt-real", f"Bearer {WEBHOOK_SECRET}") == 200
    page.reload()
    expect(row.locator(".field-status")).to_have_text("denied")
    screenshot(page, "8-admin-reward-denied-by-webhook")


@pytest.mark.slow
def test_an_operator_refreshes_and_approves_a_commission_behind_a_confirmation(
    page: Any, shop: str, sandbox: Sandbox
) -> None:
    from playwright.sync_api import expect

    sale = referred_purchase(page, shop, sandbox, "to-approve@example.com")
    (commission,) = [c for c in sandbox.commissions() if c.event_id == sale.event_id]
    # FirstPromoter's review puts it back to pending, and no webhook says so.
    sandbox.set_commission(commission.id, status="pending")

    page.goto(f"{shop}/admin/django_firstpromoter/reward/?q=to-approve")
    if page.get_by_label("Username").count():
        page.get_by_label("Username").fill(ADMIN[0])
        page.get_by_label("Password").fill(ADMIN[1])
        page.get_by_role("button", name="Log in").click()
    row = page.locator("#result_list tbody tr")

    def run(action: str) -> None:
        row.locator("input[name=_selected_action]").check()
        page.locator("select[name=action]").select_option(label=action)
        page.locator("#changelist-form button[name=index]").click()

    run("Refresh from FirstPromoter")
    expect(page.locator(".messagelist")).to_contain_text("status approved → pending")
    expect(row.locator(".field-status")).to_have_text("pending")

    run("Approve commission")
    # Nothing is sent before the operator confirms.
    expect(page.locator("#content")).to_contain_text(
        "FirstPromoter will be asked to Approve this commission"
    )
    screenshot(page, "9-admin-approve-confirmation")
    assert [c.status for c in sandbox.commissions() if c.id == commission.id] == ["pending"]
    page.get_by_role("button", name="Yes, Approve").click()
    expect(page.locator(".messagelist")).to_contain_text("status pending → approved")
    expect(row.locator(".field-status")).to_have_text("approved")
    assert [c.status for c in sandbox.commissions() if c.id == commission.id] == ["approved"]


def log_in(page: Any, shop: str) -> None:
    page.goto(f"{shop}/admin/")
    if page.get_by_label("Username").count():
        page.get_by_label("Username").fill(ADMIN[0])
        page.get_by_label("Password").fill(ADMIN[1])
        page.get_by_role("button", name="Log in").click()


CHANGELISTS = [
    "django_firstpromoter/sale",
    "django_firstpromoter/refund",
    "django_firstpromoter/cancellation",
    "django_firstpromoter/signup",
    "django_firstpromoter/reward",
    "django_firstpromoter/webhookevent",
    "shop/order",
]
# What scrolls sideways: the page itself, or the admin's results table in its box.
OVERFLOW = """() => [document.documentElement, ...document.querySelectorAll('.results')]
    .filter(each => each.scrollWidth > each.clientWidth + 1)
    .map(each => `${each.className || each.tagName}: ${each.scrollWidth} > ${each.clientWidth}`)"""


SIZES = [(1280, 800), (1920, 1080)]
"""The most common laptop's screen, and a desktop's."""


@pytest.fixture(params=SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def sized_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    width, height = request.param
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.mark.slow
def test_an_operator_walks_the_overview_and_a_sales_story_both_ways(
    sized_page: Any, shop: str, sandbox: Sandbox
) -> None:
    from playwright.sync_api import expect

    page = sized_page
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    size = f"{width}x{height}"
    email = f"walk-{width}@example.com"
    referred_purchase(page, shop, sandbox, email)
    page.locator("#refund-form input[name=amount]").fill("10")
    page.get_by_role("button", name="Refund").click()
    expect(page.locator(".refund")).to_contain_text("$10.00: Tracked")
    page.get_by_role("button", name="Cancel subscription").click()
    expect(page.locator("#cancellation-status")).to_have_text("Tracked")
    log_in(page, shop)

    # Is it working? The overview says, from the app's index.
    page.goto(f"{shop}/admin/django_firstpromoter/")
    page.get_by_role("link", name="FirstPromoter overview").click()
    expect(page.locator("h1")).to_have_text("FirstPromoter overview")
    expect(page.locator(".fp-queue table")).to_contain_text("Sales")
    expect(page.locator(".fp-chart svg").first).to_be_visible()
    expect(page.locator(".fp-commissions")).to_contain_text("alice@promoters.example")
    screenshot(page, f"overview-{size}")

    # Every list reads whole at this width: nothing scrolls sideways.
    for changelist in CHANGELISTS:
        page.goto(f"{shop}/admin/{changelist}/")
        screenshot(page, f"list-{changelist.replace('/', '-')}-{size}")
        assert page.evaluate(OVERFLOW) == [], f"{changelist} at {size}"
    page.goto(f"{shop}/admin/django_firstpromoter/sale/")
    screenshot(page, f"sales-{size}")

    # The sale's story, then each record it links to and back.
    page.goto(f"{shop}/admin/django_firstpromoter/sale/?q={email}")
    page.locator("#result_list tbody tr a").first.click()
    summary = page.locator(".field-summary")
    expect(summary).to_contain_text("after 1 attempt;")
    expect(summary).to_contain_text("alice@promoters.example earned 3.80 USD (approved)")
    expect(summary).to_contain_text("alice@promoters.example gave back 2.00 USD (approved)")
    expect(page.locator(".deletelink")).to_have_count(0)
    expect(page.locator("details.fp-last-response")).not_to_have_attribute("open", "")
    screenshot(page, f"sale-{size}")
    sale_url = page.url.split("?")[0]

    page.locator("#refunds-group a").first.click()
    expect(page.locator(".field-summary")).to_contain_text("Tracked on")
    expect(page.locator(".field-sale_link a")).to_be_visible()
    screenshot(page, f"refund-{size}")
    page.locator(".field-sale_link a").click()
    assert page.url.split("?")[0] == sale_url

    page.locator(".field-cancellations a").first.click()
    expect(page.locator("h1")).to_contain_text("cancellation")
    screenshot(page, f"cancellation-{size}")
    page.locator(".field-sales a").first.click()
    assert page.url.split("?")[0] == sale_url

    # The shop's own order admin shows what FirstPromoter made of the order.
    page.locator(".field-order_link a").click()
    firstpromoter = page.locator(".field-firstpromoter")
    expect(firstpromoter).to_contain_text("Sale")
    expect(firstpromoter).to_contain_text("Refund")
    expect(firstpromoter).to_contain_text("Cancellation")
    screenshot(page, f"shop-order-{size}")
    firstpromoter.get_by_role("link").first.click()
    assert page.url.split("?")[0] == sale_url


@pytest.mark.slow
def test_the_sandboxs_buttons_fail_a_sale_until_heal_and_the_order_links_to_its_admin_page(
    sized_page: Any, shop: str, sandbox: Sandbox
) -> None:
    from playwright.sync_api import expect

    page = sized_page

    sandbox.faults.update({"error_rate": 0.0})
    faults = page.locator("section", has_text="Set error rate")
    requests_table = page.locator("section", has_text="Latest requests")

    # The operator breaks FirstPromoter from its dashboard: every call fails.
    page.goto(sandbox.url)
    page.get_by_label("Error rate").fill("1")
    page.get_by_role("button", name="Set error rate").click()
    expect(page.locator("body")).to_contain_text("Faults: error_rate 1.0.")
    expect(faults.locator("tr", has_text="Error rate")).to_contain_text("1.0")

    # A referred purchase is kept, pending; its refund field waits for an amount.
    page.goto(f"{shop}/?fpr=alice")
    buy(page, shop, "Starter", "faulted@example.com")
    expect(page.locator("#sale-status")).to_have_text("Pending")
    refund = page.get_by_label("Refund $")
    expect(refund).to_have_value("")
    expect(refund).to_have_attribute("placeholder", "up to 19.00")
    event_id = page.locator("#firstpromoter dd").first.inner_text().split()[0]
    order = page.url

    page.goto(sandbox.url)
    expect(requests_table.locator("tbody tr").first).to_contain_text("500")
    expect(requests_table.locator("tbody tr").first).to_contain_text("error")
    screenshot(page, f"sandbox-faults-{page.viewport_size['width']}")

    page.get_by_role("button", name="Heal").click()
    expect(page.locator("body")).to_contain_text("Faults: none.")
    assert sandbox.faults.error_rate == 0

    # The order page leads to the sale's own admin page; the operator retries it.
    page.goto(order)
    page.get_by_role("link", name="its page in the admin").click()
    page.get_by_label("Username").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/django_firstpromoter/sale/[0-9]+/change/$"))
    expect(page.locator("#content")).to_contain_text(event_id)
    page.goto(f"{shop}/admin/django_firstpromoter/sale/")
    sale_row(page, event_id).locator("input[name=_selected_action]").check()
    page.locator("select[name=action]").select_option(label="Retry now")
    page.locator("#changelist-form button[name=index]").click()
    expect(page.locator(".messagelist")).to_contain_text("1 sale sent")

    page.goto(order)
    expect(page.locator("#sale-status")).to_have_text("Tracked")
    expect(page.locator(".reward")).to_contain_text("3.80 USD for alice@promoters.example")
    assert [sale.event_id for sale in sandbox.sales].count(event_id) == 1
