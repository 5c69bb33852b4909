"""The sandbox with the app: the ``firstpromoter_sandbox`` fixture as a shop's test uses it,
the faults seen through the app's retries, and the two ways to run it by hand."""

from __future__ import annotations

import _thread
import datetime
import io
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from django_firstpromoter.conf import get_config
from django_firstpromoter.models import Reward, Sale
from django_firstpromoter.sandbox import Sandbox, cli
from django_firstpromoter.statuses import DeliveryStatus
from tests.ports import free_port
from tests.shop.models import Order
from tests.test_sandbox import CREDENTIALS, call, sale
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent


def paid_order(email: str = "buyer@example.com", tid: str = "", total: str = "49.95") -> Order:
    order = Order.objects.create(email=email, total=Decimal(total), referral_tid=tid)
    order.paid = True
    order.save()
    return order


def visit(sandbox: Sandbox, ref: str = "alice") -> str:
    """A referral visit, the way the shop's page would get it from fpr.js."""
    response = requests.get(f"{sandbox.url}/click", params={"ref": ref}, timeout=5)
    tid: str = response.json()["tid"]
    return tid


def retry_now() -> str:
    Sale.objects.update(next_attempt_at=timezone.now())
    out = io.StringIO()
    call_command("firstpromoter_deliver", stdout=out)
    return out.getvalue().strip()


@pytest.fixture(params=[2, 1], ids=["v2", "v1"])
def api_version(request: pytest.FixtureRequest, settings: Any) -> int:
    """The shop's API version, set before the sandbox fixture reads it."""
    settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, "API_VERSION": request.param}
    version: int = request.param
    return version


@pytest.fixture
def sandbox(api_version: int, firstpromoter_sandbox: Sandbox) -> Sandbox:
    return firstpromoter_sandbox


@pytest.mark.django_db(transaction=True)
def test_a_shops_test_with_the_fixture_sees_a_referred_order_tracked_once(firstpromoter_sandbox):
    tid = requests.get(f"{firstpromoter_sandbox.url}/click?ref=alice", timeout=5).json()["tid"]

    order = paid_order(tid=tid)
    order.save()

    sale = Sale.objects.get()
    assert sale.status == DeliveryStatus.TRACKED
    reward = sale.rewards.get()
    assert (reward.amount, reward.unit, reward.tier) == (999, "cash", 1)
    assert (reward.promoter_email, reward.lead_email) == (
        "alice@promoters.example",
        "buyer@example.com",
    )
    [tracked] = firstpromoter_sandbox.sales
    assert (tracked.event_id, tracked.amount, tracked.email) == (
        f"order-{order.pk}",
        4995,
        "buyer@example.com",
    )
    assert (tracked.promoter, tracked.commission, tracked.commission_id) == (
        "alice",
        999,
        reward.firstpromoter_id,
    )
    assert [lead.email for lead in firstpromoter_sandbox.leads] == ["buyer@example.com"]


@pytest.mark.django_db(transaction=True)
def test_both_api_versions_track_a_referred_order(sandbox, api_version):
    order = paid_order(tid=visit(sandbox, "bob"), total="10.05")

    sale = Sale.objects.get()
    assert (sale.status, sale.api_version) == (DeliveryStatus.TRACKED, api_version)
    assert sale.rewards.get().amount == 302  # 30 % of 1005 is 301.5: half up
    assert [(s.event_id, s.api_version) for s in sandbox.sales] == [
        (f"order-{order.pk}", api_version)
    ]
    assert sandbox.requests[0].path == f"/api/v{api_version}/track/sale"


@pytest.mark.django_db(transaction=True)
def test_an_order_nobody_referred_is_not_a_referral(sandbox):
    paid_order()

    assert Sale.objects.get().status == DeliveryStatus.NOT_REFERRAL
    assert sandbox.sales == []


@pytest.mark.django_db(transaction=True)
def test_a_lost_answer_is_retried_and_the_409_makes_it_tracked_counted_once(sandbox):
    sandbox.faults.lost_rate = 1.0

    paid_order(tid=visit(sandbox))

    sale = Sale.objects.get()
    assert sale.status == DeliveryStatus.PENDING
    assert sale.last_error.startswith("connection error")
    assert len(sandbox.sales) == 1
    sandbox.faults.lost_rate = 0

    assert retry_now() == "sent 1: 1 tracked, 0 not referral, 0 retry later, 0 failed"

    sale.refresh_from_db()
    assert sale.status == DeliveryStatus.TRACKED
    assert [a.http_status for a in sale.attempts.order_by("started_at", "pk")] == [None, 409]
    assert len(sandbox.sales) == 1
    # The 409 said the sale was counted, not what it earned: the worker asked the admin
    # API by event id (v2's, for a v1 account too) once it had nothing left to send.
    # Nothing was asked in the buyer's request, whose one call was the lost one.
    assert [(r.call, r.status, r.fault) for r in sandbox.requests] == [
        ("sale", None, "lost"),
        ("sale", 409, ""),
        ("commissions", 200, ""),
    ]
    (commission,) = sandbox.commissions()
    reward = sale.rewards.get()
    assert (reward.firstpromoter_id, reward.amount) == (commission.id, commission.amount)
    assert reward.promoter_email == "alice@promoters.example"
    assert not sale.rewards_unknown


@pytest.mark.django_db(transaction=True)
def test_a_timeout_leaves_the_sale_pending_and_the_retry_tracks_it(sandbox, settings):
    settings.FIRSTPROMOTER = {**settings.FIRSTPROMOTER, "TIMEOUT": 0.3}
    sandbox.faults.update({"timeout_rate": 1.0, "hold_seconds": 5})

    paid_order(tid=visit(sandbox))

    sale = Sale.objects.get()
    assert (sale.status, sale.last_error) == (DeliveryStatus.PENDING, "timed out")
    assert sandbox.sales == []
    sandbox.faults.timeout_rate = 0
    retry_now()
    sale.refresh_from_db()
    assert sale.status == DeliveryStatus.TRACKED
    assert sale.rewards.get().amount == 999


@pytest.mark.django_db(transaction=True)
def test_a_500_leaves_the_sale_pending(sandbox):
    sandbox.faults.error_rate = 1.0

    paid_order(tid=visit(sandbox))

    sale = Sale.objects.get()
    assert (sale.status, sale.last_error) == (
        DeliveryStatus.PENDING,
        "HTTP 500: Internal server error.",
    )


@pytest.mark.django_db(transaction=True)
def test_a_429_waits_as_long_as_retry_after_says(sandbox):
    sandbox.faults.rate_limit = 1

    paid_order("first@example.com", tid=visit(sandbox))
    paid_order("second@example.com", tid=visit(sandbox))

    first, second = Sale.objects.order_by("pk")
    assert first.status == DeliveryStatus.TRACKED
    assert (second.status, second.last_error) == (
        DeliveryStatus.PENDING,
        "HTTP 429: Too many requests.",
    )
    wait = (second.next_attempt_at - timezone.now()).total_seconds()
    assert 55 < wait <= 60


@pytest.mark.django_db(transaction=True)
def test_the_admin_shows_what_the_sandbox_granted(firstpromoter_sandbox, admin_client):
    paid_order(tid=visit(firstpromoter_sandbox))

    sale = Sale.objects.get()
    page = admin_client.get(f"/admin/django_firstpromoter/sale/{sale.pk}/change/").content.decode()
    assert "fp-status-tracked" in page
    assert "alice@promoters.example" in page


def test_the_fixture_points_the_apps_settings_at_the_sandbox(firstpromoter_sandbox, settings):
    config = get_config()

    assert config.base_url == firstpromoter_sandbox.base_url(2)
    assert (config.api_key, config.account_id) == ("test-api-key", "acc_test")
    assert settings.FIRSTPROMOTER["ORDER_MODEL"] == "shop.Order"


@pytest.fixture
def no_credentials(settings: Any) -> None:
    settings.FIRSTPROMOTER = {"API_VERSION": 1, "TIMEOUT": 3}


def test_the_fixture_fills_in_missing_credentials(no_credentials, firstpromoter_sandbox):
    config = get_config()

    assert config.base_url == firstpromoter_sandbox.base_url(1)
    assert (config.api_key, config.account_id, config.timeout) == (
        "sandbox-api-key",
        "sandbox-account",
        3,
    )


def wait_until_answering(url: str, process: subprocess.Popen[str] | None = None) -> None:
    def answering() -> bool:
        if process is not None and process.poll() is not None:
            pytest.fail(f"the sandbox exited: {process.communicate()}")
        try:
            requests.get(f"{url}/api/state", timeout=1)
        except requests.ConnectionError:
            return False
        return True

    wait_until(answering, 20, f"the sandbox to answer at {url}")


def run_by_hand(args: list[str], env: dict[str, str]) -> Iterator[str]:
    """Start the sandbox as a person would, in its own process; yield something that
    knows its URLs, then stop it with Ctrl-C (SIGINT) and hand over what it printed."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, *args, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_answering(url, process)
        yield url
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
        assert process.returncode == 0, err
        assert f'FIRSTPROMOTER["BASE_URL"] = "{url}/api/v2/track"' in out
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def environment(**changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    return {**env, **changes}


def sale_at(url: str, version: int, headers: dict[str, str] | None = None) -> requests.Response:
    params = sale(email="walk-in@example.com")
    target = f"{url}/api/v{version}/track/sale"
    headers = CREDENTIALS[version] if headers is None else headers
    if version == 1:
        return requests.post(target, params=params, headers=headers, timeout=5)
    return requests.post(target, json=params, headers=headers, timeout=5)


def test_python_m_runs_it_without_django_settings():
    for url in run_by_hand(["-m", "django_firstpromoter.sandbox", "--quiet"], environment()):
        assert sale_at(url, 1).status_code == 204
        assert sale_at(url, 2).status_code == 404


@pytest.mark.slow
def test_the_management_command_runs_it_with_the_options_given():
    args = ["-m", "django", "firstpromoter_sandbox", "--api-key", "sk_live", "--account-id", "a1"]
    env = environment(DJANGO_SETTINGS_MODULE="tests.settings", PYTHONPATH=str(ROOT))
    for url in run_by_hand(args, env):
        assert sale_at(url, 2).status_code == 401
        good = {"Authorization": "Bearer sk_live", "ACCOUNT-ID": "a1"}
        assert sale_at(url, 2, good).status_code == 404


def ignore_sigint() -> None:
    """What a non-interactive shell does to a job it puts in the background (``&``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_sandbox_in_the_background_stops_on_sigint_and_sigterm(signum):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "django_firstpromoter.sandbox", "--quiet", "--port", str(port)],
        cwd=ROOT,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ignore_sigint,
    )
    try:
        wait_until_answering(f"http://127.0.0.1:{port}", process)
        process.send_signal(signum)
        _, err = process.communicate(timeout=5)
        assert process.returncode == 0, err
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_the_sandbox_imports_no_django():
    code = (
        "import sys, django_firstpromoter.sandbox, django_firstpromoter.sandbox.cli;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        check=True,
    )

    assert result.stdout.strip() == "[]"


def interrupt_after(port: int, visit: Callable[[str], Any], seen: list[Any]) -> threading.Thread:
    """Ctrl-C for an in-process run: once the sandbox answers, make one visit, then
    raise KeyboardInterrupt in the main thread, which is serving."""

    def run() -> None:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_answering(url)
            seen.append(visit(url))
        finally:
            _thread.interrupt_main()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_the_command_in_process_serves_until_ctrl_c():
    port, seen = free_port(), list[Any]()
    out = io.StringIO()
    thread = interrupt_after(port, lambda url: sale_at(url, 2).status_code, seen)

    call_command(
        "firstpromoter_sandbox", "--port", str(port), "--error-rate", "1", "--seed", "3", stdout=out
    )
    thread.join()

    assert seen == [500]
    assert f"dashboard at http://127.0.0.1:{port}/" in out.getvalue()


def test_cli_in_process_serves_until_ctrl_c(capsys, monkeypatch):
    port, seen = free_port(), list[Any]()
    monkeypatch.setattr(
        sys, "argv", ["sandbox", "--port", str(port), "--latency-ms", "5", "--quiet"]
    )
    thread = interrupt_after(port, lambda url: requests.get(url, timeout=5).status_code, seen)

    cli.main()
    thread.join()

    assert seen == [200]
    assert f"{port}/click?ref=alice" in capsys.readouterr().out


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_a_taken_port_is_a_clear_error(taken_port, capsys):
    with pytest.raises(CommandError, match=f"cannot listen on 127.0.0.1:{taken_port}"):
        call_command("firstpromoter_sandbox", "--port", str(taken_port))
    with pytest.raises(SystemExit) as exit:
        cli.main(["--port", str(taken_port)])

    assert exit.value.code == 1
    assert f"cannot listen on 127.0.0.1:{taken_port}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [["--error-rate", "1.5"], ["--port", "70000"], ["--rate-limit", "-1"], ["--seed", "x"]],
)
def test_bad_options_are_refused(args, capsys):
    with pytest.raises(CommandError, match="invalid"):
        call_command("firstpromoter_sandbox", *args)
    with pytest.raises(SystemExit) as exit:
        cli.main(args)

    assert exit.value.code == 2
    assert "invalid" in capsys.readouterr().err


def test_a_sandboxs_timestamps_are_utc_with_milliseconds(firstpromoter_sandbox):
    call(firstpromoter_sandbox, 2, "sale", sale(email="t@example.com", ref_id="bob"))

    created = firstpromoter_sandbox.sales[0].created_at
    parsed = datetime.datetime.fromisoformat(created.replace("Z", "+00:00"))
    assert created.endswith("Z") and len(created) == len("2024-09-11T14:22:12.160Z")
    assert abs((timezone.now() - parsed).total_seconds()) < 5


@pytest.mark.django_db(transaction=True)
def test_reconcile_fixes_what_changed_behind_the_apps_back_and_a_second_run_nothing(sandbox):
    orders = [paid_order(f"buyer{i}@example.com", tid=visit(sandbox)) for i in range(3)]
    sales = [Sale.objects.get(event_id=f"order-{order.pk}") for order in orders]
    assert {sale.status for sale in sales} == {DeliveryStatus.TRACKED}
    first, second, third = (sale.rewards.get() for sale in sales)
    assert third.paid is None  # the tracking answer has no paid flag
    # At FirstPromoter, without a webhook: one approved and paid, one deleted, and one
    # more commission for the third sale (a bonus).
    sandbox.set_commission(first.firstpromoter_id, status="approved", is_paid=True)
    sandbox.delete_commission(second.firstpromoter_id)
    bonus = sandbox.add_commission(sales[2].event_id, amount=250)

    out = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("firstpromoter_reconcile", stdout=out)
    assert raised.value.returncode == 1  # the second sale has no commission any more
    # Updated: the first's status and paid state, and the third's paid state (unknown
    # until now: not paid).
    assert "2 rewards updated, 1 created, 1 deleted, 0 commissions not for our events" in (
        out.getvalue()
    )
    assert f"1 tracked without a commission at FirstPromoter: {sales[1].event_id}" in (
        out.getvalue()
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.paid) == ("approved", True)
    assert second.status == "deleted"
    assert sales[2].rewards.get(firstpromoter_id=bonus.id).amount == 250
    third.refresh_from_db()
    assert third.paid is False

    again = io.StringIO()
    with pytest.raises(CommandError):
        call_command("firstpromoter_reconcile", stdout=again)
    assert "0 rewards updated, 0 created, 0 deleted" in again.getvalue()


@pytest.mark.django_db(transaction=True)
def test_denying_more_than_five_from_the_admin_is_a_batch_the_refresh_then_shows(
    sandbox, admin_client
):
    for i in range(6):
        paid_order(f"denied{i}@example.com", tid=visit(sandbox))
    rewards = list(Reward.objects.order_by("pk"))
    assert len(rewards) == 6
    url = "/admin/django_firstpromoter/reward/"
    picked = {"_selected_action": [reward.pk for reward in rewards]}
    confirm = admin_client.post(url, {"action": "deny_rewards", **picked})
    assert "these 6 commissions" in confirm.content.decode()
    assert {c.status for c in sandbox.commissions()} != {"denied"}

    done = admin_client.post(url, {"action": "deny_rewards", "post": "yes", **picked}, follow=True)
    (text,) = [str(message) for message in done.context["messages"]]
    assert "took the 6 commissions as a batch (pending)" in text
    refreshed = admin_client.post(
        url, {"action": "refresh_from_firstpromoter", **picked}, follow=True
    )
    (refresh_text,) = [str(message) for message in refreshed.context["messages"]]
    assert "status approved → denied" in refresh_text
    assert set(Reward.objects.values_list("status", flat=True)) == {"denied"}
    assert {c.status for c in sandbox.commissions()} == {"denied"}
