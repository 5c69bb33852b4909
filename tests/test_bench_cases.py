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
