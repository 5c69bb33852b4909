"""What recording every kind of event shares: checking its fields, the one ``INSERT``
in the caller's transaction, and handing it to the delivery mode after commit.

The ``track_*`` functions (``sales``, ``refunds``, ``cancellations``, ``signups``)
are built from these."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any, NamedTuple, TypeVar

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.operations import BaseDatabaseOperations

from django_firstpromoter import signals
from django_firstpromoter.conf import Config
from django_firstpromoter.data import MoneyData
from django_firstpromoter.inserts import compiler_for, insert_for
from django_firstpromoter.kinds import kind_of
from django_firstpromoter.models import OrderLinked, TrackedEvent
from django_firstpromoter.money import to_minor_units
from django_firstpromoter.notify import send_robust
from django_firstpromoter.quick_checks import vouched
from django_firstpromoter.storable import as_utc, in_range, text_problem
from django_firstpromoter.strategies import strategy_for

CURRENCY = re.compile(r"^[A-Za-z]{3}$")
MAX_AMOUNT = 10**12
"""Above the ``amount`` and ``mrr`` columns' 12 digits before the point, and far
below where turning an amount into minor units would need more than Decimal's
default 28 digits."""
Errors = dict[str, list[str]]
ORDER_KEY_LENGTH = OrderLinked._meta.get_field("order_object_id").max_length or 0
Record = TypeVar("Record", bound=TrackedEvent)


def record_and_schedule(record: Record, config: Config) -> Record:
    """``record`` saved unless its ``event_id`` is known (then the known one), and, when
    this call saved it, its delivery scheduled for after the caller's commit."""
    record, created = record_once(record)
    if created:
        schedule(record, config)
    return record


def schedule(record: TrackedEvent | Inserted, config: Config) -> None:
    """For a record this call inserted: its delivery, by the mode, and the
    ``recorded`` signal, both after the caller's commit. Neither is there to do for
    one inserted without its id (``wants_id`` said so)."""
    if record.pk is None:
        return
    model = record.model if isinstance(record, Inserted) else type(record)
    strategy_for(config).recorded(model, record.pk)
    if announced(model):
        made = record.record() if isinstance(record, Inserted) else record
        transaction.on_commit(partial(announce, made))


def wants_id(model: type[TrackedEvent], config: Config) -> bool:
    """Whether anything after a record's insert uses its id: the delivery mode, or a
    receiver of ``recorded``. Reading it back costs the checkout a fetch."""
    return strategy_for(config).wants_id or announced(model)


def announced(model: type[TrackedEvent]) -> bool:
    # Asked first: a checkout with no receiver pays for no callback, nor the record.
    return bool(signals.recorded.receivers) and signals.recorded.has_listeners(model)


def announce(record: TrackedEvent) -> None:
    """The ``recorded`` signal, after the commit that wrote ``record``."""
    send_robust(signals.recorded, "recorded", type(record), **{kind_of(record).name: record})


def record_once(record: Record) -> tuple[Record, bool]:
    """``record`` inserted, or the one already recorded with its ``event_id``; and
    whether this call inserted it. ``record`` has passed ``full_clean``.

    This is the checkout's one write: ``INSERT … ON CONFLICT DO NOTHING RETURNING id``,
    one round trip, where ``get_or_create`` takes four (a ``SELECT``, a savepoint,
    the ``INSERT``, the savepoint's release). No savepoint is needed: the conflict is
    not an error, and the ``clean_*`` functions have checked every other constraint,
    so the statement cannot abort the host's transaction. Its SQL is built once
    (``inserts``). A database that cannot return the id from an ``INSERT`` (MySQL)
    takes ``get_or_create``'s way.
    """
    model = type(record)
    using = router.db_for_write(model)
    connection = connections[using]
    event_id = record.event_id
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    if not connection.features.can_return_columns_from_insert:
        defaults = {field.attname: getattr(record, field.attname) for field in fields}
        return model._default_manager.using(using).get_or_create(
            event_id=event_id, defaults=defaults
        )
    insert = insert_for(model, connection)
    row = insert.row(record.__dict__, connection, checked=True) if insert else None
    if insert and row:
        record.__dict__.update(row.made)
        pk = inserted(connection, insert.sql, row.params)
    else:
        [(sql, params)] = compiler_for(record, fields, connection).as_sql()
        pk = inserted(connection, sql, params)
    if pk is None:
        return model._default_manager.using(using).get(event_id=event_id), False
    saved(record, pk, using)
    return record, True


class Inserted(NamedTuple):
    """What ``insert_values`` did: whether the row went in (not for an ``event_id``
    already recorded), the new record's id if it was read back, and the record's
    values, given and made."""

    model: type[TrackedEvent]
    created: bool
    pk: int | None
    using: str
    values: dict[str, Any]
    made: dict[str, Any]

    def record(self) -> TrackedEvent:
        """The record as it was inserted (or as it would have been), made only for who
        asks: the checkout has no use for it."""
        made = new_record(self.model, {**self.values, **self.made})
        return made if self.pk is None else saved(made, self.pk, self.using)


def insert_values(
    model: type[TrackedEvent],
    values: dict[str, Any],
    trusted: frozenset[str] = frozenset(),
    *,
    with_id: bool,
) -> Inserted | None:
    """``record_once`` for a record not yet made, from its values by attname, each
    vouched for by its quick test as its parameter is made (but the ``trusted``, the
    app's own); None, writing nothing, when a value is not one the quick tests vouch
    for or the database's way is not one statement: then the record takes
    ``full_clean`` and ``record_once``. The id is read back only ``with_id``."""
    using = router.db_for_write(model)
    connection = connections[using]
    insert = insert_for(model, connection)
    if insert is None or not connection.features.can_return_columns_from_insert:
        return None
    row = insert.row(values, connection, checked=False, trusted=trusted)
    if row is None:
        return None
    if with_id:
        pk = inserted(connection, insert.sql, row.params)
        return Inserted(model, pk is not None, pk, using, values, row.made)
    created = went_in(connection, insert.sql_without_id, row.params)
    return Inserted(model, created, None, using, values, row.made)


def inserted(connection: BaseDatabaseWrapper, sql: str, params: list[Any]) -> int | None:
    """The id ``sql`` returns, or None: the ``event_id`` was known."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else row[0]


def went_in(connection: BaseDatabaseWrapper, sql: str, params: list[Any]) -> bool:
    """Whether ``sql`` inserted its row: not when the ``event_id`` was known."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1


def saved(record: Record, pk: int, using: str) -> Record:
    record.pk = pk
    record._state.adding = False
    record._state.db = using
    return record


def new_record(model: type[Record], fields: dict[str, Any]) -> Record:
    """``model(**fields)``, made the way Django loads a row: each field's value in
    order, given or its default. Django takes a third of the time so as by keywords,
    which for a sale's thirty fields is worth it on every checkout. A default that
    is a callable is called once for all its fields: a record's ``recorded_at`` and
    first ``next_attempt_at`` are one moment."""
    try:
        layout = _layouts[model]
    except KeyError:
        layout = _layouts[model] = Layout.of(model)
    if not fields.keys() <= layout.index.keys():
        return model(**fields)  # a relation given as its object: Django's way
    values = layout.constants.copy()
    made: dict[Callable[[], Any], Any] = {}
    for attname, index, make in layout.made:
        if attname not in fields:
            values[index] = made[make] if make in made else made.setdefault(make, make())
    for name, value in fields.items():
        values[layout.index[name]] = value
    return model(*values)


@dataclass(frozen=True)
class Layout:
    """A model's concrete fields in order: where each attname goes, the defaults that
    are values, and those made by a callable on every record."""

    index: dict[str, int]
    constants: list[Any]
    made: tuple[tuple[str, int, Callable[[], Any]], ...]

    @classmethod
    def of(cls, model: type[models.Model]) -> Layout:
        fields = model._meta.concrete_fields
        made = tuple(
            (field.attname, index, field.default)
            for index, field in enumerate(fields)
            if field.has_default() and callable(field.default)
        )
        callables = {index for _, index, _ in made}
        return cls(
            index={field.attname: index for index, field in enumerate(fields)},
            constants=[
                None if index in callables else field.get_default()
                for index, field in enumerate(fields)
            ],
            made=made,
        )


_layouts: dict[type[models.Model], Layout] = {}


def order_fields(order: models.Model | None) -> dict[str, Any]:
    """The fields that link a sale or a refund to the shop's order; ValidationError
    keyed ``order`` for a key that ``order_object_id`` cannot hold."""
    pk = None if order is None else order.pk
    if order is None or pk is None:
        return {}
    key = str(pk)
    limit = ORDER_KEY_LENGTH
    problem = None if type(pk) is int else text_problem(key)  # an int's digits are safe text
    if problem is None and len(key) > limit:
        problem = f"must be at most {limit} characters long, not {len(key)}."
    if problem:
        raise ValidationError({"order": [f"The order's primary key {problem}"]})
    # By its id: setting the relation would ask the database routers, on every checkout.
    return {
        "order_content_type_id": ContentType.objects.get_for_model(order).pk,
        "order_object_id": key,
    }


def money_event_fields(
    data: MoneyData, string_fields: tuple[str, ...], errors: Errors
) -> dict[str, Any]:
    """What checking a sale and a refund share: the data's fields, with ``""`` for the
    blank strings, the amount in minor units, and each problem of the event id, the
    currency, the amount or the customer put in ``errors``."""
    fields: dict[str, Any] = dict(vars(data))
    if fields.keys() != data.__dataclass_fields__.keys():  # a subclass's own attributes
        fields = {name: getattr(data, name) for name in data.__dataclass_fields__}
    for name in string_fields:
        fields[name] = fields[name] or ""
    fields["created_at"] = as_utc(fields["created_at"])
    check_event_id(data.event_id, errors)
    fields["currency"] = check_currency(data.currency, errors)
    fields["amount_minor"] = check_money("amount", data.amount, fields["currency"], errors)
    check_customer(fields["email"], fields["uid"], errors)
    return fields


def check_event_id(value: Any, errors: Errors) -> None:
    if not isinstance(value, str) or not value.strip():
        errors["event_id"] = ["event_id must be a non-blank string."]


def check_currency(value: Any, errors: Errors) -> str:
    """The currency upper-cased; USD (for the amounts' checks) when it is no currency."""
    if not isinstance(value, str) or not CURRENCY.match(value):
        errors["currency"] = ["currency must be a three-letter ISO 4217 code, e.g. 'USD'."]
        return "USD"
    return value if value.isupper() else value.upper()  # the given one: maybe the default


def check_money(name: str, value: Any, currency: str, errors: Errors) -> int | None:
    """``value`` in ``currency``'s minor units, or None with the problem in ``errors``."""
    problem = _money_problem(value)
    if problem:
        errors[name] = [f"{name} {problem}"]
        return None
    return to_minor_units(value, currency)


def as_text(value: Any) -> str:
    """A customer's email or uid as its text, as a ``CharField`` takes it: "" for
    None, the digits for a user's numeric id."""
    return "" if value is None else str(value)


def check_customer(email: str, uid: str, errors: Errors) -> None:
    if not email and not uid:
        message = "Give the customer's email or uid: FirstPromoter needs one of them."
        errors["email"] = [message]
        errors["uid"] = [message]


def full_clean(record: TrackedEvent) -> None:
    """The model's own checks (lengths, ranges), then what its checks leave to the
    database (``storable_problems``), so that the one ``INSERT`` cannot fail on any
    database; raises ``ValidationError`` keyed by field. A record whose every value
    passes its field's quick test (``quick_checks``) has nothing for them to find."""
    if vouched(record):
        return
    errors: Errors = {name: [problem] for name, problem in storable_problems(record)}
    try:
        # Not the fields found wrong already: Django's own checks would raise
        # OverflowError, not ValidationError, on an infinite count, for one.
        record.full_clean(validate_unique=False, exclude=["api_version", *errors])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)


def storable_problems(record: models.Model) -> list[tuple[str, str]]:
    """Each field whose value no database would take, or which one would take and
    another refuse, with why: what full_clean lets through in a blank field (None
    for NOT NULL text, "" for a date) but the INSERT could not convert, text with a
    NUL (PostgreSQL refuses it) or a lone surrogate (no driver encodes it), a
    datetime that overflows in another time zone, and an integer past PostgreSQL's
    range for its column (SQLite takes any 64-bit integer)."""
    problems = []
    for field in record._meta.concrete_fields:
        try:
            value = field.to_python(getattr(record, field.attname))
        except ValidationError as exc:
            problems.append((field.name, " ".join(exc.messages)))
            continue
        except (TypeError, ValueError, OverflowError):  # int(float("inf")), say
            problems.append((field.name, f"{field.name} is not a value its column can hold."))
            continue
        problem: str | None = None
        if value is None and isinstance(field, models.CharField) and not field.null:
            problem = "must not be None."
        elif isinstance(value, str):
            problem = text_problem(value)
        elif isinstance(value, datetime.datetime):
            problem = None if in_range(value) else "is too far in the past or future."
        elif isinstance(value, int) and not isinstance(value, bool):
            low, high = BaseDatabaseOperations.integer_field_ranges.get(
                field.get_internal_type(), (value, value)
            )
            problem = None if low <= value <= high else f"must be from {low} to {high}."
        if problem:
            problems.append((field.name, f"{field.name} {problem}"))
    return problems


def _money_problem(value: Any) -> str | None:
    if isinstance(value, float):
        return "must be a Decimal or an int, not a float: floats lose cents."
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        return f"must be a Decimal or an int, not {type(value).__name__}."
    if isinstance(value, Decimal) and not value.is_finite():
        return "must be a finite number."
    if value < 0:
        return "must not be negative."
    if value >= MAX_AMOUNT:
        return f"must be less than {MAX_AMOUNT:,}."
    return None
