"""The ``recorded`` signal: after the commit that wrote a new record, once per record,
for code that wants to know one exists (a shop's own queue)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction

from django_firstpromoter import (
    RefundData,
    SaleData,
    track_cancellation,
    track_refund,
    track_sale,
    track_signup,
)
from django_firstpromoter.models import Cancellation, Refund, Sale, Signup
from django_firstpromoter.referral import Referral
from django_firstpromoter.signals import recorded
from tests.conftest import firstpromoter

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard() -> Iterator[list[tuple[Any, dict[str, Any]]]]:
    calls: list[tuple[Any, dict[str, Any]]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        calls.append((sender, {k: v for k, v in kwargs.items() if k != "signal"}))

    recorded.connect(receiver)
    yield calls
    recorded.disconnect(receiver)


def test_each_kind_is_announced_after_the_commit_with_its_record(
    heard, django_capture_on_commit_callbacks
):
    with firstpromoter(DELIVERY="worker"), django_capture_on_commit_callbacks() as callbacks:
        sale = track_sale(SaleData(event_id="s-1", amount=Decimal(20), email="b@example.com"))
        refund = track_refund(
            RefundData(event_id="r-1", sale_event_id="s-1", amount=Decimal(5), email="b@x.com")
        )
        cancellation = track_cancellation(email="b@example.com", event_id="sub-1")
        signup = track_signup(Referral(ref_id="alice"), email="b@example.com")
        assert heard == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert heard == [
        (Sale, {"sale": sale}),
        (Refund, {"refund": refund}),
        (Cancellation, {"cancellation": cancellation}),
        (Signup, {"signup": signup}),
    ]


def test_a_repeat_of_a_known_event_id_is_not_announced_again(
    heard, django_capture_on_commit_callbacks
):
    with firstpromoter(DELIVERY="worker"), django_capture_on_commit_callbacks(execute=True):
        data = SaleData(event_id="s-1", amount=Decimal(20), email="b@example.com")
        track_sale(data)
        track_sale(data)
    assert [sender for sender, _ in heard] == [Sale]


def test_nothing_is_announced_when_the_host_rolls_back(heard, django_capture_on_commit_callbacks):
    with (
        firstpromoter(DELIVERY="worker"),
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        track_sale(SaleData(event_id="s-1", amount=Decimal(20), email="b@example.com"))
        raise RuntimeError("payment failed")
    assert heard == []


def test_a_broken_receiver_is_logged_and_breaks_nothing(django_capture_on_commit_callbacks, caplog):
    def broken(sender: Any, **kwargs: Any) -> None:
        raise ValueError("receiver bug")

    recorded.connect(broken)
    try:
        with (
            caplog.at_level(logging.ERROR, logger="django_firstpromoter"),
            firstpromoter(DELIVERY="worker"),
            django_capture_on_commit_callbacks(execute=True),
        ):
            track_sale(SaleData(event_id="s-1", amount=Decimal(20), email="b@example.com"))
    finally:
        recorded.disconnect(broken)
    assert Sale.objects.filter(event_id="s-1").exists()
    assert " of recorded raised" in caplog.text and "receiver bug" in caplog.text
