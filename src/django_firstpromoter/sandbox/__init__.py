"""An offline stand-in for FirstPromoter's tracking API, for tests and demos.

It speaks v1 and v2 of ``/sale``, ``/refund``, ``/cancellation`` and ``/signup``
the way FirstPromoter's OpenAPI specs describe them, credits sales to its
promoters (``alice`` 20 %, promo code ``ALICE10``; ``bob`` 30 %), hands out
referral visits at ``GET /click?ref=alice``, shows everything at ``/`` and
``/api/state``, and fails on demand (``Faults``). Its v2 admin API lists,
approves and denies the commissions it granted, at ``/api/v2/company/commissions``.

Standard library only, and no Django: ``python -m django_firstpromoter.sandbox``
runs without settings. In a test, use the ``firstpromoter_sandbox`` fixture.
"""

from django_firstpromoter.sandbox.faults import Faults
from django_firstpromoter.sandbox.server import Sandbox
from django_firstpromoter.sandbox.world import (
    DEFAULT_PROMOTERS,
    Batch,
    Click,
    Commission,
    Event,
    Lead,
    Promoter,
    Request,
)

__all__ = [
    "DEFAULT_PROMOTERS",
    "Batch",
    "Click",
    "Commission",
    "Event",
    "Faults",
    "Lead",
    "Promoter",
    "Request",
    "Sandbox",
]
