"""The sandbox's dashboard at ``/``: what FirstPromoter would show the shop's owner,
and buttons for its faults, so that a demo's retries need no curl.

Every value reaches the page through one escaping function, ``_text``: customer
emails and event ids come from whoever calls the API, and must not become markup.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from html import escape
from typing import Any, NamedTuple

from django_firstpromoter.money import format_amount
from django_firstpromoter.sandbox.faults import Faults, healed
from django_firstpromoter.sandbox.world import Commission, Lead, World, earned

RECENT_REQUESTS = 50
# Where the dashboard's forms post, answered by the dashboard again.
FAULTS_PATH = "/faults"
STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #1f2937; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid #e5e7eb; }
th { background: #f3f4f6; } td.empty { color: #6b7280; font-style: italic; }
form { margin: 0; } section > form { margin-top: .6em; } input { width: 7em; }
.problem { color: #b91c1c; font-weight: bold; }
"""


class Button(NamedTuple):
    """One fault's form: its field is named after the fault, so that the form's body is
    exactly what ``Faults.update`` takes."""

    fault: str
    label: str
    hint: str
    value: float
    most: float | None = None
    step: str = "any"


# Each value shows its fault at once in a demo (every call failing, not one in ten);
# the field can be changed before pressing.
BUTTONS = [
    Button("error_rate", "Error rate", "share of calls answered 500, 0 to 1", 1, 1),
    Button("latency_ms", "Slowness", "milliseconds added to each call", 3000),
    Button("timeout_rate", "Held calls", "share held past the client's timeout, 0 to 1", 1, 1),
    Button("lost_rate", "Lost answers", "share carried out, then left unanswered, 0 to 1", 1, 1),
    Button("rate_limit", "Rate limit", "calls a minute, then 429", 2, step="1"),
]


class _Html(str):
    """Markup this module made from escaped parts: the one value ``_cell`` keeps as it is."""


def render(world: World, faults: Faults, problem: str = "") -> str:
    """The whole page; ``problem`` is why the faults were not changed, when a form was wrong."""
    with world.lock:
        promoters = world.promoters
        leads = world.leads
        events = world.events
        commissions = world.commissions
        leads_by_id = {lead.id: lead for lead in leads}
        requests = world.requests[-RECENT_REQUESTS:][::-1]
    earnings = _earnings(commissions)
    sections = [
        _faults_section(faults),
        _table(
            "Promoters",
            [
                "Referral id",
                "Name",
                "Email",
                "Commission",
                "Promo code",
                "Leads",
                "Earned",
            ],
            [
                [
                    promoter.ref_id + (" (banned)" if promoter.banned else ""),
                    promoter.name,
                    promoter.email,
                    f"{promoter.commission_rate} %",
                    promoter.promo_code,
                    sum(lead.promoter == promoter.ref_id for lead in leads),
                    ", ".join(earnings[promoter.ref_id]) or "nothing yet",
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
    warning = f'<p class="problem" role="alert">{_text(problem)}</p>' if problem else ""
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>FirstPromoter sandbox</title><style>{STYLE}</style></head><body>"
        f"<h1>FirstPromoter sandbox</h1>{warning}"
        # No self-reload: it would lose a reader's place and a value half typed. The
        # link goes to / by name: after a form's answer, reloading would post it again.
        f'<p>Faults: {_text(_describe(faults))}. <a href="/">Reload</a> to see the latest '
        'calls. The world as JSON: <a href="/api/state">/api/state</a>.</p>'
        + "".join(sections)
        + "</body></html>\n"
    )


def _earnings(commissions: Iterable[Commission]) -> dict[str, list[str]]:
    """Each promoter's earnings in units, a total per currency (and per non-cash unit):
    one sum of minor units would add yen to cents."""
    totals: collections.Counter[tuple[str, str, str]] = collections.Counter()
    for commission in commissions:
        totals[commission.promoter, commission.unit, commission.currency] += earned(commission)
    earnings: dict[str, list[str]] = collections.defaultdict(list)
    for (promoter, unit, currency), amount in sorted(totals.items()):
        earnings[promoter].append(format_amount(amount, unit, currency))
    return earnings


def _faults_section(faults: Faults) -> str:
    now = faults.as_dict()
    rows = [[_label(button), now[button.fault] or "off", _fault_form(button)] for button in BUTTONS]
    heal = _form("".join(_hidden(name, value) for name, value in healed().items()), "Heal")
    return _table("Faults", ["Fault", "Now", "Set it"], rows, after=heal)


def _label(button: Button) -> _Html:
    return _Html(
        f'<label for="fault-{_text(button.fault)}">{_text(button.label)}</label><br>'
        f"<small>{_text(button.hint)}</small>"
    )


def _fault_form(button: Button) -> _Html:
    most = "" if button.most is None else f' max="{_text(button.most)}"'
    return _form(
        f'<input type="number" id="fault-{_text(button.fault)}" name="{_text(button.fault)}" '
        f'value="{_text(button.value)}" min="0"{most} step="{_text(button.step)}" required> ',
        f"Set {button.label.lower()}",
    )


def _hidden(name: str, value: Any) -> str:
    return f'<input type="hidden" name="{_text(name)}" value="{_text(value)}">'


def _form(fields: str, button: str) -> _Html:
    return _Html(
        f'<form method="post" action="{FAULTS_PATH}">{fields}'
        f'<button type="submit">{_text(button)}</button></form>'
    )


def _lead_name(lead: Lead | None) -> str:
    return "" if lead is None else lead.email or lead.uid


def _describe(faults: Faults) -> str:
    defaults = Faults().as_dict()
    changed = [
        f"{name} {value}" for name, value in faults.as_dict().items() if value != defaults[name]
    ]
    return ", ".join(changed) or "none"


def _table(title: str, headers: list[str], rows: Iterable[list[Any]], after: str = "") -> str:
    head = "".join(f"<th>{_text(header)}</th>" for header in headers)
    body = "".join("<tr>" + "".join(map(_cell, row)) + "</tr>" for row in rows)
    if not body:
        body = f'<tr><td colspan="{len(headers)}" class="empty">none yet</td></tr>'
    return (
        f"<section><h2>{_text(title)}</h2><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>{after}</section>"
    )


def _cell(value: Any) -> str:
    return f"<td>{value if isinstance(value, _Html) else _text(value)}</td>"


def _text(value: Any) -> str:
    return escape("" if value is None else str(value))
