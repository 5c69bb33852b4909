"""What a database column can hold, on every database Django supports alike.

PostgreSQL refuses a NUL in text and in JSON strings, every driver fails to encode
a lone surrogate, a ``bigint`` stops at 2**63 - 1, and a datetime near year 1 or
9999 overflows when shown in another time zone (the admin's). What the shop gives
us is checked against these limits and refused with a ``ValidationError``; what
FirstPromoter answers is cleaned to fit, since a sale must never be stuck because
an answer could not be stored.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"
MIN_BIGINT = -(2**63)
MAX_BIGINT = 2**63 - 1
# A day inside each end of Python's datetime range: shown in any time zone (UTC-12
# to UTC+14), the value still is a datetime.
EARLIEST = datetime.datetime(1, 1, 2, tzinfo=datetime.timezone.utc)
LATEST = datetime.datetime(9999, 12, 30, tzinfo=datetime.timezone.utc)
MAX_JSON_DEPTH = 32
"""FirstPromoter's payloads nest four or five levels; past this, JSON is not one of
them, and rendering or re-parsing it could hit Python's recursion limit."""
TOO_DEEP = "(nested too deep: left out)"


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None."""
    found = UNSTORABLE.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain NUL characters."
    return "must not contain unpaired surrogate characters."


def clean_text(value: str, limit: int | None = None) -> str:
    """``value`` with what cannot be stored replaced by U+FFFD, cut to ``limit``."""
    cleaned = UNSTORABLE.sub(REPLACEMENT, value)
    return cleaned if limit is None else cleaned[:limit]


def clean_int(value: Any, low: int = MIN_BIGINT, high: int = MAX_BIGINT) -> int | None:
    """``value`` if it is an int (not a bool) within ``low`` and ``high``; else None."""
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    return None


def in_range(moment: datetime.datetime) -> bool:
    """Whether an aware ``moment`` can be stored and shown in any time zone."""
    try:
        return EARLIEST <= moment <= LATEST
    except TypeError:  # naive: compared as it will be stored, in UTC
        return EARLIEST.replace(tzinfo=None) <= moment <= LATEST.replace(tzinfo=None)


def parse_moment(value: Any) -> datetime.datetime | None:
    """An ISO 8601 string as an aware datetime (UTC when it names no offset); None
    when it is no string or no such moment. Whether it can be stored is
    ``in_range``'s to say."""
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:  # well formed, but no such date
        return None
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, datetime.timezone.utc)
    return parsed


def storable_moment(value: Any) -> datetime.datetime | None:
    """An ISO 8601 string as a moment in UTC that can be stored and shown; None when it
    is no moment. Raises ``ValueError`` for a moment outside ``EARLIEST``..``LATEST``:
    whether that is an answer to clean or a request to refuse is the caller's call."""
    parsed = parse_moment(value)
    if parsed is None:
        return None
    if not in_range(parsed):
        raise ValueError(f"not between {EARLIEST.date()} and {LATEST.date()}")
    return as_utc(parsed)


def as_utc(value: Any) -> Any:
    """An aware datetime in range as the same moment in UTC; anything else as it is.
    PostgreSQL takes no offset past 15:59 nor one in seconds, which Python's
    datetimes (and ISO 8601 as Python reads it) allow."""
    if isinstance(value, datetime.datetime) and timezone.is_aware(value) and in_range(value):
        return value.astimezone(datetime.timezone.utc)
    return value


def json_problem(value: Any) -> str | None:
    """Why ``value`` (parsed JSON) cannot be stored in a JSON column, or None."""
    # A loop, not recursion: the value may nest as deep as the JSON parser allowed.
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if UNSTORABLE.search(item):
                return "holds a NUL or an unpaired surrogate character"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "holds NaN or Infinity"
        elif isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                return f"nests deeper than {MAX_JSON_DEPTH} levels"
            children = [*item, *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return None


def clean_json(value: Any, depth: int = 1) -> Any:
    """``value`` made storable: text cleaned, NaN and Infinity as None, containers
    deeper than ``MAX_JSON_DEPTH`` replaced by a note."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (dict, list)) and depth > MAX_JSON_DEPTH:
        return TOO_DEEP
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(item, depth + 1) for item in value]
    return value


def parse_json(content: bytes | str) -> Any:
    """``content`` parsed, or None when it is not JSON (or nests past what Python can
    parse). NaN and Infinity, which are not JSON, are parsed as None."""
    try:
        return json.loads(content, parse_constant=lambda _: None)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
