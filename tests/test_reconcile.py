"""``firstpromoter_reconcile``: FirstPromoter's commissions for a period against the
rewards here, every row brought up to date, a summary, exit codes for monitoring."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from django_firstpromoter.models import Reward, Sale
from django_firstpromoter.protocol import PER_PAGE
from django_firstpromoter.statuses import DeliveryStatus, RewardSource
from tests.conftest import firstpromoter
from tests.test_commissions import LIST, commission

pytestmark = pytest.mark.django_db


def tracked_sale(event_id: str) -> Sale:
    return Sale.objects.create(
        event_id=event_id,
        amount=Decimal(20),
        amount_minor=2000,
        api_version=2,
        status=DeliveryStatus.TRACKED,
        tracked_at=timezone.now(),
    )


def reward(sale: Sale, id: int, **fields: Any) -> Reward:
    defaults = {"status": "pending", "amount": 400, "unit": "cash", "created_at": timezone.now()}
    return Reward.objects.create(sale=sale, firstpromoter_id=id, **{**defaults, **fields})


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("firstpromoter_reconcile", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def shop() -> dict[str, Sale]:
    sales = {name: tracked_sale(name) for name in ("a", "b", "c", "d")}
    reward(sales["a"], 1)  # approved and paid behind our back
    reward(sales["b"], 2)  # unchanged
    reward(sales["c"], 3)  # deleted at FirstPromoter
    return sales  # "d" has a commission we never stored


def test_it_brings_every_row_up_to_date_and_a_second_run_changes_nothing(mocked, shop):
    now = "2026-12-01T10:00:00.000Z"
    mocked.get(
        LIST,
        json=[
            commission(1, "a", status="approved", is_paid=True, status_updated_at=now),
            commission(2, "b", is_paid=None, status_updated_at=None),
            commission(4, "d", amount=600),
            commission(5, "someone-elses-7"),
        ],
    )
    Reward.objects.filter(firstpromoter_id=2).update(paid=None)
    with pytest.raises(CommandError) as raised:
        run("--since", "2026-11-01", "--until", "2099-12-31")
    # "c" lost its commission: a person's to look at, so the exit is non-zero.
    assert raised.value.returncode == 1
    rows = {r.firstpromoter_id: r for r in Reward.objects.all()}
    assert (rows[1].status, rows[1].paid) == ("approved", True)
    assert rows[1].confirmed_by == RewardSource.RECONCILE
    assert (rows[4].sale, rows[4].amount) == (shop["d"], 600)
    assert rows[3].status == "deleted"
    assert 5 not in rows
    query = parse_qs(urlsplit(mocked.calls[0].request.url).query)
    # A day more on each side: FirstPromoter reads dates in the account's time zone.
    assert query["filters[created_at][from]"] == ["2026-10-31"]

    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command(
            "firstpromoter_reconcile", "--since", "2026-11-01", "--until", "2099-12-31", stdout=out
        )
    assert "0 rewards updated, 0 created, 0 deleted, 1 commissions not for our events" in (
        out.getvalue()
    )
    assert "1 tracked without a commission at FirstPromoter: c" in out.getvalue()


def test_the_first_run_reports_what_it_did(mocked, shop):
    mocked.get(LIST, json=[commission(1, "a", status="denied"), commission(4, "d")])
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("firstpromoter_reconcile", stdout=out)
    assert "1 rewards updated, 1 created, 2 deleted, 0 commissions not for our events" in (
        out.getvalue()
    )


def test_no_drift_exits_zero(mocked):
    sale = tracked_sale("a")
    reward(sale, 1, paid=False)
    mocked.get(LIST, json=[commission(1, "a", status="pending", status_updated_at=None)])
    assert "0 rewards updated, 0 created, 0 deleted" in run()


def test_a_failure_midway_keeps_what_was_done_and_says_where_to_go_on(mocked):
    sales = [tracked_sale(f"s{i}") for i in range(PER_PAGE)]
    mocked.get(LIST, json=[commission(i + 1, sale.event_id) for i, sale in enumerate(sales)])
    mocked.get(LIST, status=503)
    with pytest.raises(CommandError) as raised:
        run()
    assert raised.value.returncode == 2
    assert "rerun with --start-page 2" in str(raised.value)
    assert Reward.objects.count() == PER_PAGE
    mocked.replace("GET", LIST, json=[])
    run("--start-page", "2")
    assert "page=2" in mocked.calls[-1].request.url


def test_an_account_without_an_account_id_is_told_what_to_set():
    with firstpromoter(API_VERSION=1, ACCOUNT_ID=""), pytest.raises(CommandError) as raised:
        run()
    assert "ACCOUNT_ID" in str(raised.value) and raised.value.returncode == 2


@pytest.mark.parametrize(
    "args", [["--since", "yesterday"], ["--since", "2026-12-02", "--until", "2026-12-01"]]
)
def test_bad_dates_are_refused(args):
    with pytest.raises(CommandError):
        run(*args)
