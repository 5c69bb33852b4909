"""The benchmark's checkout cases measure what they say: each switches its integration
on for its block only, and leaves the app's order hook connected once."""

from __future__ import annotations

from unittest import mock

import pytest

from bench.orders import integration, pay
from django_firstpromoter import hooks
from django_firstpromoter.models import Sale

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


def test_every_case_comes_at_every_place_and_after_every_other_once_a_cycle() -> None:
    from bench.checkout import order_of
    from bench.orders import CASES

    rows = [order_of(turn) for turn in range(len(CASES))]
    for place in range(len(CASES)):
        assert sorted(row[place] for row in rows) == sorted(CASES)
    pairs = [(row[i], row[i + 1]) for row in rows for i in range(len(CASES) - 1)]
    assert len(set(pairs)) == len(pairs) == len(CASES) * (len(CASES) - 1)
