"""What the shop sells. Plans live in code: the demo needs no catalogue admin."""

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Plan:
    slug: str
    name: str
    price: Decimal
    blurb: str


PLANS = {
    plan.slug: plan
    for plan in (
        Plan("starter", "Starter", Decimal("19.00"), "One project, email support."),
        Plan("pro", "Pro", Decimal("49.00"), "Ten projects, priority support."),
        Plan("team", "Team", Decimal("99.90"), "Unlimited projects for five people."),
    )
}
