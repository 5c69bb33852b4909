"""The benchmark's checkout cases measure what they say: each switches its integration
on for its block only, and leaves the app's order hook connected once."""

from __future__ import annotations

from collections import Counter
from unittest import mock

import pytest

from bench.orders import integration, pay
from django_firstpromoter import hooks
from django_firstpromoter.models import Sale
from tests.shop.models import Order

pytestmark = pytest.mark.django_db

NOWHERE = "http://127.0.0.1:9/api/v2/track"


def test_after_the_bare_save_the_hook_runs_once_per_save() -> None:
    with mock.patch.object(hooks, "record_sale", wraps=hooks.record_sale) as record_sale:
        with integration("a", NOWHERE):
            pay()
        assert record_sale.call_count == 0
        with integration("c", NOWHERE):
            pay()
        assert record_sale.call_count == 1
    assert Sale.objects.count() == 1


def test_every_case_comes_at_every_place_and_after_every_other_equally_often() -> None:
    from bench.checkout import CYCLE, order_of
    from bench.orders import CASES

    rows = [order_of(turn) for turn in range(CYCLE)]
    each = CYCLE // len(CASES)
    for place in range(len(CASES)):
        assert Counter(row[place] for row in rows) == dict.fromkeys(CASES, each)
    pairs = Counter((row[i], row[i + 1]) for row in rows for i in range(len(CASES) - 1))
    assert len(pairs) == len(CASES) * (len(CASES) - 1)
    assert set(pairs.values()) == {each}


def test_the_floor_with_the_adapter_writes_the_orders_sale_and_skips_a_known_one() -> None:
    with integration("f2", NOWHERE):
        pay()
        order = Order.objects.get()
        order.save()  # the same event_id again: skipped, the order's save goes through
    sale = Sale.objects.get()
    assert (sale.event_id, sale.amount_minor, sale.ref_id) == (f"order-{order.pk}", 4900, "alice")
