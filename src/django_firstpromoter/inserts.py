"""The checkout's one write, ``INSERT … ON CONFLICT DO NOTHING RETURNING id``, with its
SQL built by Django's compiler once per model and connection and reused.

Building the statement for some thirty columns on every call cost about what the
row itself costs the database. The SQL does not depend on the values (each is a
``%s``), so it is built from a blank record; each call makes only the parameters
(``Insert.row``), from a record or straight from the values a ``track_*`` function
checked, with no record made: each column's default made into its parameter once,
a value the driver takes as it is (a ``str`` for a text column, an ``int`` for an
integer one, ``None``) passed along unconverted, any other through the field's
``get_db_prep_save`` as the compiler would. Made from values, each passes its quick
test (``quick_checks``) as it goes, or the caller takes the long way. A value that
is an expression, which the compiler would put in the SQL itself, leaves the record
to the compiler.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.constants import OnConflict
from django.db.models.fields import Field
from django.db.models.sql import InsertQuery
from django.utils import timezone

from django_firstpromoter.quick_checks import Test, sets_itself, tests_for

SAMPLES: dict[str, Any] = {
    "CharField": "text",
    "TextField": "text",
    "BooleanField": True,
    "DecimalField": Decimal("1.5"),
    **{
        name: 7
        for name in (
            "IntegerField",
            "BigIntegerField",
            "SmallIntegerField",
            "PositiveIntegerField",
            "PositiveBigIntegerField",
            "PositiveSmallIntegerField",
            "AutoField",
            "BigAutoField",
            "SmallAutoField",
        )
    },
}
"""For the column types whose values a backend converts by type alone, a sample: what
``get_db_prep_save`` makes of it says how (as it is; psycopg's ``Int4`` for an
integer on PostgreSQL), and values of the sample's type are converted so directly.
Text is taken as it is whatever ``str`` it is (a ``TextChoices`` member), as
Django's text fields take it."""


NO_DEFAULT = object()
"""A column's ``default`` when the values must give it: the field has no default the
quick tests pass (``amount_minor``), or it is made per row."""


class Row(NamedTuple):
    """The parameters for ``Insert.sql``, and the values made for the row (its moments:
    a callable default, ``auto_now``), for the record that is its copy."""

    params: list[Any]
    made: dict[str, Any]


class Column(NamedTuple):
    """How one column's value is made, in the order ``Insert.row`` unpacks it."""

    attname: str
    kind: type | None
    """The type of value converted by ``convert`` alone, or None: all by the field."""
    text: bool
    """Any ``str`` is taken as it is, not only an exact one."""
    convert: Callable[[Any], Any] | None
    """None: a value of ``kind`` is taken as it is."""
    none_is_null: bool
    """None is passed along as it is (not so for a JSON column, where it is ``null``)."""
    moment: bool
    """A ``DateTimeField``: an aware datetime it converts as the backend does, which is
    all the field does to one."""
    test: Test | None
    """The quick test of a value the host gives (``quick_checks``); None for what the
    settings give (``NOT_CHECKED``) or a model the tests cannot vouch for."""
    default: Any
    """The field's default as the parameter it makes, or ``NO_DEFAULT``."""
    given: Any
    """The field's default as a value, which ``default`` is made of (or ``NO_DEFAULT``):
    a value that is this very object needs neither its test nor converting."""
    make: Callable[[], Any] | None
    """What makes the value once per row where none is given: a callable default, or
    ``timezone.now`` for ``auto_now``."""
    auto: bool
    """The field sets its value at every insert (``auto_now``), whatever is given."""
    field: Field[Any, Any]


class Insert:
    """A model's statement on one connection, and what ``row`` looks up on every
    checkout, worked out once."""

    def __init__(
        self, sql: str, sql_without_id: str, columns: tuple[Column, ...], *, tested: bool
    ) -> None:
        self.sql = sql
        self.sql_without_id = sql_without_id
        """The same statement not reading the id back, which costs a fetch: for an insert
        whose id nobody uses, the cursor's row count says whether the row went in."""
        self.columns = columns
        self.tested = tested
        """Every column has a quick test, so values can be vouched for as they are made."""
        self.defaults = [column.default for column in columns]
        self.slots = {
            column.attname: (index, column.given, column.test, column.kind, column.convert, column)
            for index, column in enumerate(columns)
            if not column.auto
        }
        self.required = frozenset(
            column.attname
            for column in columns
            if column.default is NO_DEFAULT and column.make is None
        )
        makes: dict[Callable[[], Any], list[tuple[int, Column]]] = {}
        for index, column in enumerate(columns):
            if column.make is not None:
                makes.setdefault(column.make, []).append((index, column))
        self.made = tuple((make, tuple(at)) for make, at in makes.items())

    def row(
        self,
        values: Mapping[str, Any],
        connection: BaseDatabaseWrapper,
        *,
        checked: bool,
        trusted: AbstractSet[str] = frozenset(),
    ) -> Row | None:
        """The row for ``values`` by attname (a record's ``__dict__``, or what the host
        gave), each column's value or its default. Unless ``checked`` (``full_clean``
        passed), a value its quick test does not vouch for makes it None, and the caller
        takes the long way; so does a value that is an expression, which the compiler
        puts in the SQL itself, a column left without a value, and a value for no
        column. The ``trusted`` values are the app's own, made right (the order's
        content type id)."""
        if not (checked or self.tested) or not self.required <= values.keys():
            return None
        params = self.defaults.copy()
        slots = self.slots
        for attname, value in values.items():
            slot = slots.get(attname)
            if slot is None:
                if checked:
                    continue  # the record's own attributes: its state, its pk
                return None
            if value is slot[1]:
                continue  # the field's own default, which its test passed: its parameter
            index, _, test, kind, convert, column = slot
            if not checked and test is not None and not test(value) and attname not in trusted:
                return None
            if type(value) is kind:
                params[index] = value if convert is None else convert(value)
            elif value is None and column.none_is_null:
                params[index] = None
            elif column.text and isinstance(value, str):
                params[index] = value
            elif hasattr(value, "resolve_expression"):
                return None
            else:
                params[index] = self.prepared(column, value, connection)
        made: dict[str, Any] = {}
        for make, columns in self.made:
            # One moment, converted once, for every column it is made for that was not
            # given a value: a record's creation, its first due time, its last change.
            moment = prepared = NO_DEFAULT
            for index, column in columns:
                if column.auto or params[index] is NO_DEFAULT:
                    if moment is NO_DEFAULT:
                        moment = make()
                        prepared = self.prepared(column, moment, connection)
                    params[index] = prepared
                    made[column.attname] = moment
        return Row(params, made)

    @staticmethod
    def prepared(column: Column, value: Any, connection: BaseDatabaseWrapper) -> Any:
        """What the field makes of ``value``; an aware datetime as the backend adapts it,
        which is all a ``DateTimeField`` does to one."""
        if column.moment and type(value) is datetime.datetime and value.utcoffset() is not None:
            return connection.ops.adapt_datetimefield_value(value)
        return column.field.get_db_prep_save(value, connection)


_built: dict[tuple[type[models.Model], str, str], Insert | None] = {}


def insert_for(model: type[models.Model], connection: BaseDatabaseWrapper) -> Insert | None:
    """``model``'s statement on ``connection``, built the first time it is asked for;
    None where Django's statement is not one ``%s`` per column (a field with a
    placeholder of its own, a backend that adds parameters), so it is built each time."""
    key = (model, connection.alias, connection.vendor)
    try:
        return _built[key]
    except KeyError:
        built = _built[key] = build(model, connection)
        return built


def build(model: type[models.Model], connection: BaseDatabaseWrapper) -> Insert | None:
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    if any(hasattr(field, "get_placeholder") for field in fields):
        return None
    if any(sets_itself(field) and not auto_now(field) for field in fields):
        return None  # a pre_save of the field's own, which needs the record
    [(sql, params)] = compiler_for(model(), fields, connection).as_sql()
    [(sql_without_id, params_without_id)] = compiler_for(
        model(), fields, connection, with_id=False
    ).as_sql()
    if not len(params) == len(params_without_id) == len(fields):
        return None
    tests = tests_for(model)
    columns = tuple(
        column_for(field, None if tests is None else tests.get(field.attname), connection)
        for field in fields
    )
    return Insert(sql, sql_without_id, columns, tested=tests is not None)


def compiler_for(
    record: models.Model,
    fields: list[Field[Any, Any]],
    connection: BaseDatabaseWrapper,
    *,
    with_id: bool = True,
) -> Any:
    """Django's compiler for inserting ``record``, as ``bulk_create(ignore_conflicts=True)``
    builds it, but asking for the id back (``with_id``), which ``bulk_create`` does not
    when it ignores conflicts."""
    model = type(record)
    query = InsertQuery(model, on_conflict=OnConflict.IGNORE)
    query.insert_values(fields, [record])
    compiler = query.get_compiler(connection=connection)
    if with_id:
        compiler.returning_fields = [model._meta.pk]
    return compiler


def column_for(
    field: Field[Any, Any], test: Test | None, connection: BaseDatabaseWrapper
) -> Column:
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    sample = SAMPLES.get(target.get_internal_type())
    kind: type | None = None
    convert: Callable[[Any], Any] | None = None
    if sample is not None:
        prepared = field.get_db_prep_save(sample, connection)
        converter = type(prepared)
        if converter is type(sample) and repr(prepared) == repr(sample):
            kind = converter
        elif prepared == sample and converter(sample) == prepared:
            kind, convert = type(sample), converter
    auto = auto_now(field)
    make: Callable[[], Any] | None = None
    default = given = NO_DEFAULT
    if auto:
        make = timezone.now
    elif field.has_default() and callable(field.default):
        make = field.default
    elif test is None or test(field.get_default()):
        given = field.get_default()
        default = field.get_db_prep_save(given, connection)
    return Column(
        attname=field.attname,
        kind=kind,
        text=kind is str and convert is None,
        convert=convert,
        none_is_null=field.get_db_prep_save(None, connection) is None,
        moment=type(field) is models.DateTimeField,
        test=test,
        default=default,
        given=given,
        make=make,
        auto=auto,
        field=field,
    )


def auto_now(field: Field[Any, Any]) -> bool:
    """Whether the field takes the moment of the insert (``auto_now``, ``auto_now_add``)."""
    return isinstance(field, models.DateField) and bool(field.auto_now or field.auto_now_add)
