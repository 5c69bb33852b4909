"""Hypothesis strategies for what a hostile shop or a broken FirstPromoter can hand
the app: any text (NUL, lone surrogates, huge, unicode), any number, far dates and
wrong types."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from django.db import transaction
from hypothesis import strategies as st

from django_firstpromoter import RefundData, SaleData

# The ends of what Python allows, and offsets PostgreSQL refuses as they are (past
# 15:59, or in seconds).
ZONES = [
    datetime.timezone(datetime.timedelta(minutes=minutes))
    for minutes in (-(24 * 60 - 1), -12 * 60, -10 * 60, 0, 5 * 60 + 30.5, 14 * 60, 24 * 60 - 1)
]

# Every code point, surrogates included (Hypothesis leaves them out unless asked).
any_char = st.characters(exclude_categories=())
nasty_text = st.one_of(
    st.text(any_char, max_size=300),
    st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfffy", "josé@example.com", "x" * 256]),
)
wrong_type = st.one_of(st.none(), st.integers(), st.booleans(), st.floats(), st.binary(max_size=4))
any_text = st.one_of(nasty_text, nasty_text, wrong_type)
any_number = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([Decimal("1E+26"), Decimal("999999999999.99"), Decimal("0.001"), 10**30]),
    wrong_type,
    st.text(max_size=4),
)
any_int = st.one_of(st.none(), st.integers(min_value=-(2**70), max_value=2**70), wrong_type)
any_datetime = st.one_of(
    st.none(),
    st.datetimes(timezones=st.sampled_from(ZONES)),
    st.datetimes(),
    st.sampled_from(
        [
            datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=ZONES[2]),
            datetime.datetime(1, 1, 1, tzinfo=ZONES[5]),
        ]
    ),
    st.text(max_size=30),
)
any_flag = st.one_of(st.booleans(), st.none(), st.text(max_size=3))


def hostile(cls: type[Any], fair: dict[str, Any], kinds: dict[str, Any]) -> Any:
    """Instances of ``cls`` that are fair (``fair``'s values) but for a few fields,
    each drawn from the strategy ``kinds`` has for it: one bad field at a time is
    what finds the field whose check is missing."""
    names = sorted(cls.__dataclass_fields__)
    return st.builds(
        lambda bad, values: cls(**{**fair, **{name: values[name] for name in bad}}),
        st.sets(st.sampled_from(names), max_size=3),
        st.fixed_dictionaries({name: kinds[name] for name in names}),
    )


TEXT_FIELDS = ("event_id", "currency", "email", "uid", "plan", "promo_code", "tid", "ref_id")
FAIR = {
    "event_id": "order-1",
    "amount": Decimal("19.99"),
    "currency": "EUR",
    "email": "josé@example.com",
    "uid": "cus_1",
}
sale_data = hostile(
    SaleData,
    FAIR,
    {
        **dict.fromkeys((*TEXT_FIELDS, "subscription_id"), any_text),
        **dict.fromkeys(("amount", "mrr"), any_number),
        **dict.fromkeys(
            (
                "quantity",
                "start_recurring_reward_in",
                "recurring_reward_frequency",
                "max_recurring",
            ),
            any_int,
        ),
        "created_at": any_datetime,
        "skip_email_notification": any_flag,
        "ecom_sale": any_flag,
    },
)
refund_data = hostile(
    RefundData,
    FAIR,
    {
        **dict.fromkeys(("event_id", "currency", "email", "uid", "sale_event_id"), any_text),
        "amount": any_number,
        "quantity": any_int,
        "created_at": any_datetime,
        "skip_email_notification": any_flag,
    },
)

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    nasty_text,
    st.sampled_from(
        ["9999-12-31T23:59:59-10:00", "0001-01-01T00:00:00+14:00", "2024-02-30T00:00Z"]
    ),
)
any_json = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(any_char, max_size=10), inner, max_size=4),
    ),
    max_leaves=20,
)


def deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"data": value}
    return value


@st.composite
def commission(draw: st.DrawFn) -> dict[str, Any]:
    """A v2 commission whose every field may be anything."""
    return {
        "id": draw(st.one_of(st.integers(min_value=-(2**70), max_value=2**70), any_json)),
        "status": draw(any_json),
        "amount": draw(st.one_of(st.just(2**64), any_json)),
        "unit": draw(any_json),
        "tier": draw(any_json),
        "created_at": draw(any_json),
        "promoter_campaign": {"promoter": {"id": draw(any_json), "email": draw(any_json)}},
        "extra": draw(st.one_of(any_json, st.just(deep(200)))),
    }


def dumps(value: Any) -> bytes:
    """JSON as a server might write it: NaN as NaN, and a lone surrogate escaped."""
    return json.dumps(value, allow_nan=True).encode()


any_body = st.one_of(
    st.binary(max_size=200),
    st.builds(dumps, any_json),
    st.builds(
        lambda items, extra: dumps({"commissions": items, **extra}),
        st.lists(commission(), max_size=3),
        st.dictionaries(st.text(max_size=5), any_json, max_size=2),
    ),
    st.builds(lambda reward, lead: dumps({"reward": reward, "lead": lead}), commission(), any_json),
    st.just(b'{"a": "\\u0000", "b": "\\ud800", "c": NaN, "d": 1e999}'),
    st.just(dumps(deep(920))),
)
any_status = st.one_of(
    st.integers(min_value=100, max_value=599), st.sampled_from([200, 201, 204, 409, 429, 500, 503])
)
any_headers = st.fixed_dictionaries(
    {},
    optional={
        "Retry-After": st.one_of(
            st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40),
            st.sampled_from(["0", "-5", "nan", "inf", "1e400", "Wed, 21 Oct 2015 07:28:00 GMT"]),
        )
    },
)


@contextmanager
def rolled_back() -> Iterator[None]:
    """One example's database work, undone after it, so the examples of a test share
    a clean database without a flush each (a transaction the example left aborted is
    undone too)."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)
