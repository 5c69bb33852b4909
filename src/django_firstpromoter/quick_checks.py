"""``recording.full_clean``'s checks made cheap for what a checkout gives: one test per
field, worked out once per model, that passes only a value both Django's
``full_clean`` and ``recording.storable_problems`` would pass: a string that fits
its column, an int in its column's range on every database, a finite Decimal with
the column's digits, an aware datetime in range, a bool, a None where the column
takes one.

Whatever a test cannot vouch for (another type, an empty string where none is
allowed, text too long, a NUL) is not refused here: ``full_clean`` runs the full
checks on the record then, so what is refused, and the message saying why, stay
theirs. A test made too lenient would let a value through; one made too strict only
costs that record the full checks.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.core import validators
from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations

from django_firstpromoter.storable import UNSTORABLE, in_range

Test = Callable[[Any], bool]

NOT_CHECKED = ("api_version",)
"""Left out as ``full_clean`` leaves it out: the settings give it, not the host."""

_tests: dict[type[models.Model], dict[str, Test] | None] = {}


def vouched(record: models.Model) -> bool:
    """Whether every field of ``record`` passes its quick test: then ``full_clean``
    would find nothing wrong with it."""
    tests = tests_for(type(record))
    return tests is not None and all(
        test(getattr(record, attname)) for attname, test in tests.items()
    )


def vouched_values(model: type[models.Model], values: dict[str, Any]) -> bool:
    """Whether each of ``values`` (by attname) passes its field's quick test: a record
    of ``model`` made of them and of the model's own defaults for the other fields
    has nothing for ``full_clean`` to find."""
    tests = tests_for(model)
    if tests is None:
        return False
    for attname, value in values.items():
        test = tests.get(attname)
        if test is None or not test(value):
            return False
    return True


def tests_for(model: type[models.Model]) -> dict[str, Test] | None:
    """Each field's test by attname, worked out the first time; None when some field
    or the model itself checks what no test here knows of (its own ``clean``,
    constraints, a field's validators), and every record of it takes the full checks."""
    try:
        return _tests[model]
    except KeyError:
        tests = _tests[model] = _made_tests(model)
        return tests


def _made_tests(model: type[models.Model]) -> dict[str, Test] | None:
    if model.clean is not models.Model.clean or model._meta.constraints:
        return None
    tests = {}
    for field in model._meta.concrete_fields:
        if field.name in NOT_CHECKED:
            continue
        test = test_for(field)
        if test is None:
            return None
        tests[field.attname] = test
    return tests


def sets_itself(field: models.Field[Any, Any]) -> bool:
    """Whether ``pre_save`` gives the field a value of its own rather than the record's."""
    if isinstance(field, models.DateField):
        return bool(field.auto_now or field.auto_now_add)
    return type(field).pre_save is not models.Field.pre_save


def test_for(field: models.Field[Any, Any]) -> Test | None:
    # None passes full_clean in a blank field, and the column takes it where it is
    # nullable or the field sets its own value at the insert (auto_now).
    empty = field.blank and (field.null or sets_itself(field))
    if field.primary_key:
        return _none()
    if field.is_relation:
        # An id is checked by a query (ForeignKey.validate), which only the full checks make.
        return _none() if empty else None
    others = [v for v in field.validators if not isinstance(v, KNOWN_VALIDATORS)]
    if others or (field.choices and not isinstance(field, models.CharField)):
        return None
    if isinstance(field, (models.CharField, models.TextField)):
        return _text(field, empty)
    if isinstance(field, models.BooleanField):
        return _typed(bool, empty)
    if isinstance(field, models.DateTimeField):
        return _moment(empty)
    if isinstance(field, models.DecimalField):
        return _decimal(field, empty)
    if isinstance(field, models.IntegerField):
        return _integer(field, empty)
    return None


KNOWN_VALIDATORS = (
    validators.MaxLengthValidator,
    validators.ProhibitNullCharactersValidator,
    validators.MinValueValidator,
    validators.MaxValueValidator,
    validators.DecimalValidator,
)
"""What Django gives the fields tested here, each covered by its test."""


def _none() -> Test:
    return lambda value: value is None


def _typed(kind: type, empty: bool) -> Test:
    return lambda value: type(value) is kind or (empty and value is None)


def _text(field: models.Field[Any, Any], empty: bool) -> Test | None:
    limit = field.max_length
    choices = {str(value) for value, _ in field.flatchoices} if field.choices else None
    if choices is not None and not all(_fits(choice, limit) for choice in choices):
        return None
    blank = field.blank
    unstorable = UNSTORABLE.search

    def test(value: Any) -> bool:
        if type(value) is str and choices is None:
            if not value:
                return blank
            return (limit is None or len(value) <= limit) and unstorable(value) is None
        if choices is not None and isinstance(value, str):
            return value in choices  # a TextChoices member is a str of its own type
        return empty and value is None

    return test


def _fits(value: str, limit: int | None) -> bool:
    return (limit is None or len(value) <= limit) and UNSTORABLE.search(value) is None


def _moment(empty: bool) -> Test:
    def test(value: Any) -> bool:
        if type(value) is datetime.datetime:
            return value.tzinfo is not None and in_range(value)
        return empty and value is None

    return test


def _decimal(field: models.DecimalField[Any, Any], empty: bool) -> Test:
    # Stricter than DecimalValidator, and cheaper: no more places than the column's and
    # no more whole digits than it leaves them make no more digits than it has.
    places = field.decimal_places
    whole = field.max_digits - places

    def test(value: Any) -> bool:
        if type(value) is not Decimal:
            return empty and value is None
        return (
            value.is_finite()
            and int(value.as_tuple().exponent) >= -places
            and value.adjusted() < whole
        )

    return test


def _integer(field: models.Field[Any, Any], empty: bool) -> Test | None:
    # The narrowest of the field's own validators (which follow the default database)
    # and PostgreSQL's range for its column, as storable_problems checks on any.
    low, high = BaseDatabaseOperations.integer_field_ranges.get(
        field.get_internal_type(), (-(2**63), 2**63 - 1)
    )
    for validator in field.validators:
        if callable(getattr(validator, "limit_value", None)):
            return None
        if isinstance(validator, validators.MinValueValidator):
            low = max(low, validator.limit_value)
        elif isinstance(validator, validators.MaxValueValidator):
            high = min(high, validator.limit_value)

    def test(value: Any) -> bool:
        if type(value) is int:
            return low <= value <= high
        return empty and value is None

    return test
