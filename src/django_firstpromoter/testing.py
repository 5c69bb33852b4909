"""The pytest plugin (entry point ``pytest11``) with the ``firstpromoter_sandbox`` fixture.

Imports are made in the fixture, not here: pytest loads this module in every
run of every project that installs the app, before Django is set up.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from django_firstpromoter.sandbox import Sandbox


@pytest.fixture
def firstpromoter_sandbox(settings: Any) -> Iterator[Sandbox]:
    """A FirstPromoter sandbox on a free loopback port, with ``settings.FIRSTPROMOTER``
    pointed at it for the configured ``API_VERSION`` until the test ends.

    Needs pytest-django (for ``settings``). Set ``API_VERSION`` before this fixture
    runs. A missing ``API_KEY`` or ``ACCOUNT_ID`` is filled in: the sandbox takes any.
    Assert on ``.sales``, ``.leads``, ``.requests``; fail on demand with ``.faults``.
    """
    from django_firstpromoter.conf import raw_settings
    from django_firstpromoter.sandbox import Sandbox

    configured = raw_settings()
    with Sandbox() as sandbox:
        settings.FIRSTPROMOTER = {
            **(getattr(settings, "FIRSTPROMOTER", None) or {}),
            "API_KEY": configured["API_KEY"] or "sandbox-api-key",
            "ACCOUNT_ID": configured["ACCOUNT_ID"] or "sandbox-account",
            "BASE_URL": sandbox.base_url(configured["API_VERSION"]),
        }
        yield sandbox
