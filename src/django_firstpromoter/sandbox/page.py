"""The sandbox's dashboard at ``/``: what FirstPromoter would show the shop's owner.

Every value reaches the page through one escaping cell function: customer emails
and event ids come from whoever calls the API, and must not become markup.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

from django_firstpromoter.money import format_amount
from django_firstpromoter.sandbox.faults import Faults
from django_firstpromoter.sandbox.world import Lead, World

RECENT_REQUESTS = 50
STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #1f2937; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid #e5e7eb; }
th { background: #f3f4f6; } td.empty { color: #6b7280; font-style: italic; }
"""


def render(world: World, faults: Faults) -> str:
    with world.lock:
        promoters = world.promoters
        leads = world.leads
        events = world.events
        commissions = world.commissions
        leads_by_id = {lead.id: lead for lead in leads}
        requests = world.requests[-RECENT_REQUESTS:][::-1]
        earnings = {promoter.ref_id: world.earnings(promoter.ref_id) for promoter in promoters}
    sections = [
        _table(
            "Promoters",
            [
                "Referral id",
                "Name",
                "Email",
                "Commission",
                "Promo code",
                "Leads",
                "Earned (minor units)",
            ],
            [
                [
                    promoter.ref_id + (" (banned)" if promoter.banned else ""),
                    promoter.name,
                    promoter.email,
                    f"{promoter.commission_rate} %",
                    promoter.promo_code,
                    sum(lead.promoter == promoter.ref_id for lead in leads),
                    earnings[promoter.ref_id],
                ]
                for promoter in promoters
            ],
        ),
        _table(
            "Leads",
            ["Id", "Email", "Uid", "Promoter", "Credited by", "State", "Customer since"],
            [
                [
                    lead.id,
                    lead.email,
                    lead.uid,
                    lead.promoter,
                    lead.source,
                    lead.state,
                    lead.customer_since,
                ]
                for lead in leads
            ],
        ),
        _table(
            "Sales",
            ["Id", "Type", "Event id", "Amount", "Customer", "Promoter", "API", "At"],
            [
                [
                    event.id,
                    event.type,
                    event.event_id,
                    format_amount(event.amount, "cash", event.currency),
                    event.email or event.uid,
                    event.promoter,
                    f"v{event.api_version}",
                    event.created_at,
                ]
                for event in events
            ],
        ),
        _table(
            "Commissions",
            ["Id", "Promoter", "Amount", "Status", "Paid", "For event", "Lead"],
            [
                [
                    commission.id,
                    commission.promoter,
                    format_amount(commission.amount, commission.unit, commission.currency),
                    commission.status,
                    "yes" if commission.is_paid else "no",
                    commission.event_id,
                    _lead_name(leads_by_id.get(commission.lead_id or 0)),
                ]
                for commission in commissions
            ],
        ),
        _table(
            f"Latest requests (at most {RECENT_REQUESTS}, newest first)",
            ["At", "Call", "API", "Answer", "Fault"],
            [
                [
                    request.at,
                    request.call,
                    f"v{request.api_version}",
                    "none" if request.status is None else request.status,
                    request.fault,
                ]
                for request in requests
            ],
        ),
    ]
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta http-equiv="refresh" content="5">'
        f"<title>FirstPromoter sandbox</title><style>{STYLE}</style></head><body>"
        "<h1>FirstPromoter sandbox</h1>"
        f"<p>Faults: {escape(_describe(faults))}. The world as JSON: "
        '<a href="/api/state">/api/state</a>.</p>' + "".join(sections) + "</body></html>\n"
    )


def _lead_name(lead: Lead | None) -> str:
    return "" if lead is None else lead.email or lead.uid


def _describe(faults: Faults) -> str:
    defaults = Faults().as_dict()
    changed = [
        f"{name} {value}" for name, value in faults.as_dict().items() if value != defaults[name]
    ]
    return ", ".join(changed) or "none"


def _table(title: str, headers: list[str], rows: Iterable[list[Any]]) -> str:
    head = "".join(f"<th>{escape(header)}</th>" for header in headers)
    body = "".join("<tr>" + "".join(map(_cell, row)) + "</tr>" for row in rows)
    if not body:
        body = f'<tr><td colspan="{len(headers)}" class="empty">none yet</td></tr>'
    return (
        f"<section><h2>{escape(title)}</h2><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></section>"
    )


def _cell(value: Any) -> str:
    return f"<td>{escape('' if value is None else str(value))}</td>"
