"""FirstPromoter's answers, field for field as the specs' 200 schemas lay them out.

The sandbox runs one campaign in which each promoter has one promotion and one
reward rule; both reuse the promoter's id, which is all the answers need of them.
A field the schema declares non-nullable is left out when there is no value for
it (a lead that never bought has no ``customer_since``), as a null would break
the schema.
"""

from __future__ import annotations

from typing import Any

from django_firstpromoter.sandbox.world import Commission, Event, Lead, Promoter, World

CAMPAIGN = {"id": 1, "name": "Sandbox campaign", "color": "#4F46E5"}
TIER = 1
UNIT = "cash"
COMMISSION_STATUS = "approved"


def signed_amount(event: Event) -> int:
    return -event.amount if event.type == "refund" else event.amount


def lead_v1(lead: Lead) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": lead.id,
        "state": lead.state,
        "email": lead.email,
        "uid": lead.uid or None,
        "customer_since": lead.customer_since,
        "cancelled_at": lead.cancelled_at,
        "plan_name": None,
        "suspicion": "no_suspicion",
        "username": None,
        "website": None,
        "created_at": lead.created_at,
        "split_promotion_id": None,
        "custom_fields": None,
        "split_percentage_value": None,
        "visitor_sub_id": None,
    }
    for optional in ("customer_since", "cancelled_at"):
        if body[optional] is None:
            del body[optional]
    return body


def promoter_v1(world: World, promoter: Promoter) -> dict[str, Any]:
    # No parent_promoter_id or auth_token: they are non-nullable, and sandbox
    # promoters have no parent and are handed no token.
    earned = world.earnings(promoter.ref_id)
    return {
        "id": promoter.id,
        "status": "active",
        "cust_id": "",
        "email": promoter.email,
        "created_at": world.opened_at,
        "temp_password": None,
        "default_promotion_id": promoter.id,
        "pref": promoter.ref_id,
        "default_ref_id": promoter.ref_id,
        "note": None,
        "w8_form_url": None,
        "w9_form_url": None,
        "earnings_balance": {"cash": earned},
        "current_balance": {"cash": earned},
        "paid_balance": {"cash": 0},
    }


def money_event_v1(world: World, event: Event, lead: Lead, promoter: Promoter) -> dict[str, Any]:
    """A v1 ``/sale`` or ``/refund`` answer (and a v2 ``/refund`` one: its spec says the same)."""
    return {
        "id": event.id,
        "type": event.type,
        "amount_cents": signed_amount(event),
        "reward": {
            "id": event.commission_id,
            "status": COMMISSION_STATUS,
            "amount": event.commission,
            "unit": UNIT,
            "created_at": event.created_at,
            "lead": lead_v1(lead),
            "event_id": event.event_id,
            "conversion_amount": signed_amount(event),
            "tier_level": TIER,
            "split_type": None,
        },
        "lead": lead_v1(lead),
        "promoter": promoter_v1(world, promoter),
    }


def lead_event_v1(
    world: World, event_id: int, type: str, lead: Lead, promoter: Promoter
) -> dict[str, Any]:
    """A v1 ``/signup`` or ``/cancellation`` answer (and a v2 ``/cancellation`` one)."""
    return {
        "id": event_id,
        "type": type,
        "amount_cents": None,
        "reward": None,
        "lead": lead_v1(lead),
        "promoter": promoter_v1(world, promoter),
    }


def referral_v2(lead: Lead) -> dict[str, Any]:
    return {"id": lead.id, "email": lead.email, "uid": lead.uid or None}


def commission_v2(world: World, commission: Commission) -> dict[str, Any]:
    """A commission as the v2 tracking answer's ``commissions[]`` holds it."""
    promoter = world.promoter(commission.promoter)
    lead = world.lead(commission.lead_id) if commission.lead_id is not None else None
    return {
        "id": commission.id,
        "status": commission.status,
        "metadata": {},
        "is_self_referral": False,
        "commission_type": commission.kind,
        "created_by_user_email": None,
        "created_by_user_at": None,
        "sale_amount": commission.sale_amount,
        "original_sale_amount": commission.sale_amount,
        "original_sale_currency": commission.currency,
        "event_id": commission.event_id,
        "plan_id": commission.plan or None,
        "tier": TIER,
        "internal_note": None,
        "external_note": None,
        "unit": commission.unit,
        "fraud_check": "no_suspicion",
        "amount": commission.amount,
        "is_paid": commission.is_paid,
        "is_split": False,
        "created_at": commission.created_at,
        "status_updated_at": commission.status_updated_at,
        "promoter_campaign": promoter_campaign(world, promoter) if promoter else {},
        "referral": referral_v2(lead) if lead else None,
        "reward": reward(promoter) if promoter else {},
    }


def admin_commission(world: World, commission: Commission) -> dict[str, Any]:
    """A commission as the admin API's ``GET /commissions`` lists it. Its referral's
    ``email`` and ``uid`` are not nullable there: one the lead lacks is left out."""
    body = {**commission_v2(world, commission), "split_details": None}
    if body["referral"] is not None:
        body["referral"] = {key: value for key, value in body["referral"].items() if value}
    return body


def promoter_campaign(world: World, promoter: Promoter) -> dict[str, Any]:
    return {
        "id": promoter.id,
        "campaign_id": CAMPAIGN["id"],
        "promoter_id": promoter.id,
        "created_at": world.opened_at,
        "promoter": {"id": promoter.id, "email": promoter.email, "name": promoter.name},
        "campaign": CAMPAIGN,
    }


def reward(promoter: Promoter) -> dict[str, Any]:
    return {"id": promoter.id, "name": f"{promoter.commission_rate}% commission"}


def sale_v2(world: World, event: Event, commission: Commission, lead: Lead) -> dict[str, Any]:
    return {
        "id": event.id,
        "etype": "sale",
        "sale_amount": event.amount,
        "original_sale_amount": event.amount,
        "original_sale_currency": event.currency,
        "event_id": event.event_id,
        "plan_id": event.plan or None,
        "billing_period": None,
        "created_at": event.created_at,
        "referral": referral_v2(lead),
        "commissions": [commission_v2(world, commission)],
    }


def signup_v2(event_id: int, lead: Lead) -> dict[str, Any]:
    return {
        "id": event_id,
        "etype": "signup",
        "sale_amount": None,
        "original_sale_amount": None,
        "original_sale_currency": None,
        "event_id": None,
        "plan_id": None,
        "billing_period": None,
        "created_at": lead.created_at,
        "referral": referral_v2(lead),
        "commissions": [],
    }
