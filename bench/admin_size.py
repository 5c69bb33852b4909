"""4. The admin at size: 100,000 sales and 150,000 attempts. Queries and time to render
the sales list, one sale's page, the rewards list and the FirstPromoter overview; the
number of queries must not depend on how many rows a page shows, nor the overview's
on how many rows there are."""

from __future__ import annotations

import datetime
import statistics
import time
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.common import Row
from django_firstpromoter.admin import RewardAdmin, SaleAdmin
from django_firstpromoter.models import Reward, Sale, SaleAttempt

RENDERS = 5
TARGET_MS = 300
OVERVIEW = "/admin/django_firstpromoter/overview/"


def fill(sales: int, attempts: int) -> Sale:
    """The history: every sale tracked (one in a hundred failed) with a reward, half of
    them after a failed try, the attempts spread over forty days."""
    now = timezone.now()
    Sale.objects.bulk_create(
        (
            Sale(
                event_id=f"order-{n}",
                amount=Decimal("19.99"),
                amount_minor=1999,
                email=f"buyer{n}@example.com",
                api_version=2,
                # A few failed: the overview's "needs a person" has rows to count.
                status="failed" if n % 100 == 0 else "tracked",
                attempt_count=1 + n % 2,
                tracked_at=now,
            )
            for n in range(sales)
        ),
        batch_size=5000,
    )
    pks = list(Sale.objects.values_list("pk", flat=True))
    Reward.objects.bulk_create(
        (
            Reward(
                sale_id=pk, firstpromoter_id=pk, status="approved", amount=400, unit="cash",
                promoter_email="alice@promoters.example",
            )
            for pk in pks
        ),
        batch_size=5000,
    )  # fmt: skip
    SaleAttempt.objects.bulk_create(
        (
            SaleAttempt(
                sale_id=pks[n % len(pks)], api_version=2, url="https://example.invalid/sale",
                http_status=200, outcome="retry" if n % 3 == 0 else "tracked",
                request_params={"event_id": f"order-{n}"}, response_body="{}",
                # Forty days of history: the overview charts the last thirty.
                started_at=now - datetime.timedelta(minutes=n * 40 * 24 * 60 // attempts),
            )
            for n in range(attempts)
        ),
        batch_size=5000,
    )  # fmt: skip
    return Sale.objects.order_by("-attempt_count", "pk").first()  # type: ignore[return-value]


def render(client: Client, url: str) -> tuple[float, int]:
    """Median milliseconds of a few renders of ``url``, and the queries of one."""
    client.get(url)  # warm up
    seconds = []
    for _ in range(RENDERS):
        started = time.perf_counter()
        response = client.get(url)
        seconds.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return statistics.median(seconds) * 1000, len(queries)


def run(database: str, small: bool) -> list[Row]:
    sales, attempts = (2_000, 3_000) if small else (100_000, 150_000)
    User.objects.create_superuser("bench", "bench@example.com", "bench")
    client = Client()
    client.login(username="bench", password="bench")
    _, queries_when_empty = render(client, OVERVIEW)
    sale = fill(sales, attempts)
    pages = {
        "sales list": ("/admin/django_firstpromoter/sale/", SaleAdmin),
        "one sale's page": (f"/admin/django_firstpromoter/sale/{sale.pk}/change/", None),
        "rewards list": ("/admin/django_firstpromoter/reward/", RewardAdmin),
        "overview": (OVERVIEW, None),
    }
    rows = []
    for page, (url, model_admin) in pages.items():
        ms, queries = render(client, url)
        values: dict[str, float | int | str] = {
            "sales": sales,
            "ms": round(ms, 1),
            "queries": queries,
        }
        constant = True
        if model_admin is not None:
            # The same page at another size: the number of queries must not change.
            shown = model_admin.list_per_page
            model_admin.list_per_page = 20
            try:
                _, small_page_queries = render(client, url)
            finally:
                model_admin.list_per_page = shown
            values["queries_at_20_rows"] = small_page_queries
            constant = small_page_queries == queries
        if url == OVERVIEW:
            # Aggregates only: the same queries on an empty database as at full size.
            values["queries_when_empty"] = queries_when_empty
            constant = queries_when_empty == queries
        row = Row("admin", page, database, values)
        row.target = f"< {TARGET_MS} ms, queries constant"
        row.met = ms < TARGET_MS and constant
        rows.append(row)
    return rows
