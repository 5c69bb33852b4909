"""The checkout's one write, ``INSERT … ON CONFLICT DO NOTHING RETURNING id``, with its
SQL built by Django's compiler once per model and connection and reused.

Building the statement for some thirty columns on every call cost about what the
row itself costs the database. The SQL does not depend on the values (each is a
``%s``), so it is built from a blank record; each call makes only the parameters,
a value the driver takes as it is (a ``str`` for a text column, an ``int`` for an
integer one, ``None``) passed along unconverted, any other through the field's
``get_db_prep_save`` as the compiler would. A value that is an expression, which
the compiler would put in the SQL itself, leaves the record to the compiler.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.constants import OnConflict
from django.db.models.fields import Field
from django.db.models.sql import InsertQuery

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


class Column(NamedTuple):
    """How one column's value is made, in the order ``Insert.params`` unpacks it."""

    attname: str
    kind: type | None
    """The type of value converted by ``convert`` alone, or None: all by the field."""
    text: bool
    """Any ``str`` is taken as it is, not only an exact one."""
    convert: Callable[[Any], Any] | None
    """None: a value of ``kind`` is taken as it is."""
    none_is_null: bool
    """None is passed along as it is (not so for a JSON column, where it is ``null``)."""
    pre_save: bool
    """The field sets its value at the insert (``auto_now``): ask it, as the compiler does."""
    moment: bool
    """A ``DateTimeField``: an aware datetime it converts as the backend does, which is
    all the field does to one."""
    field: Field[Any, Any]


@dataclass(frozen=True)
class Insert:
    sql: str
    columns: tuple[Column, ...]

    def params(self, record: models.Model, connection: BaseDatabaseWrapper) -> list[Any] | None:
        """The values of ``record`` for ``sql``; None when one is an expression."""
        params = []
        given = record.__dict__
        # A moment in several columns (a record's creation, its first due time) is
        # converted once.
        moments: dict[int, Any] = {}
        adapt_moment = connection.ops.adapt_datetimefield_value
        for attname, kind, text, convert, none_is_null, pre_save, moment, field in self.columns:
            value = field.pre_save(record, True) if pre_save else given[attname]
            if type(value) is kind or (text and isinstance(value, str)):
                params.append(value if convert is None else convert(value))
            elif value is None and none_is_null:
                params.append(None)
            elif moment and type(value) is datetime.datetime and value.utcoffset() is not None:
                if id(value) not in moments:
                    moments[id(value)] = adapt_moment(value)
                params.append(moments[id(value)])
            elif hasattr(value, "resolve_expression"):
                return None
            else:
                params.append(field.get_db_prep_save(value, connection))
        return params


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
    [(sql, params)] = compiler_for(model(), fields, connection).as_sql()
    if len(params) != len(fields):
        return None
    return Insert(sql, tuple(column_for(field, connection) for field in fields))


def compiler_for(
    record: models.Model, fields: list[Field[Any, Any]], connection: BaseDatabaseWrapper
) -> Any:
    """Django's compiler for inserting ``record``, as ``bulk_create(ignore_conflicts=True)``
    builds it, but asking for the id back, which ``bulk_create`` does not when it
    ignores conflicts."""
    model = type(record)
    query = InsertQuery(model, on_conflict=OnConflict.IGNORE)
    query.insert_values(fields, [record])
    compiler = query.get_compiler(connection=connection)
    compiler.returning_fields = [model._meta.pk]
    return compiler


def column_for(field: Field[Any, Any], connection: BaseDatabaseWrapper) -> Column:
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
    return Column(
        attname=field.attname,
        kind=kind,
        text=kind is str and convert is None,
        convert=convert,
        none_is_null=field.get_db_prep_save(None, connection) is None,
        pre_save=sets_itself(field),
        moment=type(field) is models.DateTimeField,
        field=field,
    )


def sets_itself(field: Field[Any, Any]) -> bool:
    """Whether ``pre_save`` gives the field a value of its own rather than the record's."""
    if isinstance(field, models.DateField):
        return bool(field.auto_now or field.auto_now_add)
    return type(field).pre_save is not Field.pre_save
