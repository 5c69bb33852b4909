"""Faults on demand: slow, failing, hanging, forgetful and rate-limited FirstPromoters."""

from __future__ import annotations

import math
import threading
import time
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
import requests

from django_firstpromoter.sandbox import Faults, Sandbox
from django_firstpromoter.sandbox import server as sandbox_server
from tests.test_sandbox import call, click, sale
from tests.waiting import wait_until


def referred_sale(sandbox: Sandbox, event_id: str = "evt-1") -> dict[str, object]:
    return sale(event_id, email="buyer@example.com", tid=click(sandbox))


def test_latency_slows_every_tracking_call(sandbox, version):
    sandbox.faults.latency_ms = 150

    started = time.monotonic()
    response = call(sandbox, version, "sale", referred_sale(sandbox))

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.15


def test_error_rate_answers_500_and_records_nothing(sandbox, version):
    sandbox.faults.error_rate = 1.0

    response = call(sandbox, version, "sale", referred_sale(sandbox))

    assert response.status_code == 500
    assert response.json() == {"message": "Internal server error."}
    assert sandbox.sales == []
    assert [(r.status, r.fault) for r in sandbox.requests] == [(500, "error")]


def test_timeout_rate_holds_the_call_past_the_clients_timeout(sandbox, version):
    sandbox.faults.update({"timeout_rate": 1.0, "hold_seconds": 10})

    with pytest.raises(requests.ReadTimeout):
        call(sandbox, version, "sale", referred_sale(sandbox), timeout=0.3)

    assert sandbox.sales == []
    [request] = sandbox.requests
    assert request.status is None
    started = time.monotonic()
    sandbox.stop()
    assert time.monotonic() - started < 2, "stopping must not wait for held calls"


def test_after_the_hold_the_connection_closes_without_an_answer(sandbox, version):
    sandbox.faults.update({"timeout_rate": 1.0, "hold_seconds": 0.1})

    with pytest.raises(requests.ConnectionError):
        call(sandbox, version, "sale", referred_sale(sandbox))

    assert sandbox.sales == []
    assert [(r.status, r.fault) for r in sandbox.requests] == [(None, "timeout")]


def test_lost_rate_records_the_sale_but_drops_the_answer(sandbox, version):
    sandbox.faults.lost_rate = 1.0
    params = referred_sale(sandbox)

    with pytest.raises(requests.ConnectionError):
        call(sandbox, version, "sale", params)
    sandbox.faults.lost_rate = 0
    retry = call(sandbox, version, "sale", params)

    assert retry.status_code == 409
    assert [s.event_id for s in sandbox.sales] == ["evt-1"]
    assert [(r.status, r.fault) for r in sandbox.requests] == [(None, "lost"), (409, "")]


def test_rate_limit_answers_429_with_retry_after_until_the_minute_is_over(sandbox, monkeypatch):
    clock = [1000.0]
    # The sandbox's own reference to the clock, not the process's ``time.monotonic``.
    monkeypatch.setattr(sandbox_server, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    sandbox.faults.rate_limit = 2

    answers = [call(sandbox, 2, "sale", sale(f"e{n}", email="x@example.com")) for n in range(3)]
    clock[0] += 45
    still_limited = call(sandbox, 2, "sale", sale("e4", email="x@example.com"))
    clock[0] += 15
    admitted = call(sandbox, 2, "sale", sale("e5", email="x@example.com"))

    assert [a.status_code for a in answers] == [404, 404, 429]
    assert answers[2].headers["Retry-After"] == "60"
    assert answers[2].json() == {"message": "Too many requests."}
    assert still_limited.status_code == 429
    assert still_limited.headers["Retry-After"] == "15"
    assert admitted.status_code == 404
    assert [r.fault for r in sandbox.requests] == ["", "", "rate_limit", "rate_limit", ""]


def test_faults_touch_only_the_tracking_api(sandbox):
    sandbox.faults.update({"error_rate": 1, "lost_rate": 1, "rate_limit": 1, "latency_ms": 0})

    assert requests.get(f"{sandbox.url}/click?ref=bob", timeout=5).status_code == 200
    assert requests.get(sandbox.url, timeout=5).status_code == 200
    assert requests.get(f"{sandbox.url}/api/state", timeout=5).status_code == 200


def outcomes(sandbox: Sandbox, count: int = 30) -> list[int]:
    return [
        call(sandbox, 2, "sale", sale(f"e{n}", email="x@example.com")).status_code
        for n in range(count)
    ]


def test_a_seed_makes_random_faults_repeatable():
    with Sandbox(seed=7, faults=Faults(error_rate=0.5)) as first:
        first_run = outcomes(first)
        first.reset()
        after_reset = outcomes(first)
    with Sandbox(seed=7, faults=Faults(error_rate=0.5)) as second:
        second_run = outcomes(second)

    assert set(first_run) == {404, 500}
    assert first_run == after_reset == second_run


def test_the_dashboard_and_state_show_the_faults(sandbox):
    sandbox.faults.update({"timeout_rate": 0.1, "rate_limit": 100})

    assert requests.get(f"{sandbox.url}/api/state", timeout=5).json()["faults"] == {
        "latency_ms": 0.0,
        "error_rate": 0.0,
        "timeout_rate": 0.1,
        "lost_rate": 0.0,
        "rate_limit": 100,
        "hold_seconds": 30.0,
    }
    assert "Faults: timeout_rate 0.1, rate_limit 100." in requests.get(sandbox.url, timeout=5).text


def test_post_api_faults_sets_them_at_runtime(sandbox):
    response = requests.post(f"{sandbox.url}/api/faults", json={"error_rate": 1}, timeout=5)

    assert response.status_code == 200
    assert response.json()["error_rate"] == 1.0
    assert call(sandbox, 2, "sale", sale(email="x@example.com")).status_code == 500


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error_rate": 1, "lost_rate": 2}, "lost_rate must be between 0 and 1, not 2"),
        ({"error_rate": 1, "typo_rate": 1}, "there is no fault named 'typo_rate'"),
        ([1], "send a JSON object of faults"),
        ("not json", "Expecting value"),
    ],
)
def test_post_api_faults_refuses_mistakes_and_changes_nothing(sandbox, body, message):
    if isinstance(body, str):
        response = requests.post(f"{sandbox.url}/api/faults", data=body, timeout=5)
    else:
        response = requests.post(f"{sandbox.url}/api/faults", json=body, timeout=5)

    assert response.status_code == 400
    assert message in response.json()["message"]
    assert sandbox.faults == Faults()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("error_rate", 1.5, "error_rate must be between 0 and 1, not 1.5"),
        ("lost_rate", -0.1, "between 0 and 1"),
        ("timeout_rate", "often", "timeout_rate must be a number, not 'often'"),
        ("error_rate", True, "must be a number, not True"),
        ("error_rate", None, "must be a number, not None"),
        ("latency_ms", -1, "latency_ms must not be negative"),
        ("latency_ms", math.inf, "must be a finite number"),
        ("rate_limit", 1.5, "rate_limit must be a whole number"),
        ("hold_seconds", math.nan, "must be a finite number"),
    ],
)
def test_faults_are_checked_however_they_are_set(name, value, message):
    faults = Faults()

    with pytest.raises(ValueError, match=message):
        setattr(faults, name, value)
    with pytest.raises(ValueError, match=message):
        Faults(**{name: value})


def test_faults_take_numbers_written_as_text_and_refuse_unknown_names():
    faults = Faults()

    faults.update({"error_rate": "0.5", "rate_limit": "60.0"})

    assert (faults.error_rate, faults.rate_limit) == (0.5, 60)
    with pytest.raises(AttributeError, match="no fault named 'eror_rate'"):
        faults.eror_rate = 1


def test_a_reset_during_a_held_call_forgets_it(sandbox):
    sandbox.faults.update({"timeout_rate": 1.0, "hold_seconds": 0.3})
    dropped: list[Exception] = []

    def send() -> None:
        try:
            call(sandbox, 2, "sale", {})
        except requests.ConnectionError as exc:
            dropped.append(exc)

    held = threading.Thread(target=send)
    held.start()
    wait_until(lambda: bool(sandbox.requests), 10, "the held call to arrive", interval=0.01)

    sandbox.reset()
    held.join()

    assert len(dropped) == 1
    assert sandbox.requests == []
    assert sandbox.faults.timeout_rate == 0


def test_a_client_that_stops_waiting_leaves_no_traceback(sandbox, version, capfd):
    sandbox.faults.update({"latency_ms": 300})
    with pytest.raises(requests.exceptions.ReadTimeout):
        call(sandbox, version, "sale", referred_sale(sandbox), timeout=0.05)
    time.sleep(0.5)  # the sandbox answers, and finds the client gone

    assert "Traceback" not in capfd.readouterr().err
    assert sandbox.requests[-1].status == 200


class Forms(HTMLParser):
    """The dashboard's forms as a browser sees them: each button's text with the
    fields its form would send, and which fields have a label."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.fields: dict[str, dict[str, str]] = {}
        self.inputs: list[dict[str, str | None]] = []
        self.labelled: set[str] = set()
        self._form: dict[str, str] = {}
        self._button: str | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            assert (attributes["method"], attributes["action"]) == ("post", "/faults")
            self._form = {}
        elif tag == "input":
            self.inputs.append(attributes)
            self._form[attributes["name"] or ""] = attributes["value"] or ""
        elif tag == "label":
            self.labelled.add(attributes["for"] or "")
        elif tag == "button":
            assert attributes["type"] == "submit"
            self._button = ""

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None:
            self.fields[self._button] = self._form
            self._button = None


def dashboard(sandbox: Sandbox) -> str:
    return requests.get(sandbox.url, timeout=5).text


def press(sandbox: Sandbox, button: str) -> requests.Response:
    """What a browser posts when that button of the dashboard is pressed, as it is shown."""
    fields = Forms(dashboard(sandbox)).fields[button]
    return requests.post(f"{sandbox.url}/faults", data=fields, allow_redirects=False, timeout=5)


@pytest.mark.parametrize(
    ("button", "fault", "value"),
    [
        ("Set error rate", "error_rate", 1.0),
        ("Set slowness", "latency_ms", 3000.0),
        ("Set held calls", "timeout_rate", 1.0),
        ("Set lost answers", "lost_rate", 1.0),
        ("Set rate limit", "rate_limit", 2),
    ],
)
def test_each_button_on_the_dashboard_sets_its_fault(sandbox, button, fault, value):
    answer = press(sandbox, button)

    assert (answer.status_code, answer.headers["Location"]) == (303, "/")
    assert sandbox.faults == Faults(**{fault: value})
    assert f"Faults: {fault} {value}." in dashboard(sandbox)


def test_heal_on_the_dashboard_turns_every_fault_off_but_keeps_the_hold(sandbox):
    sandbox.faults.update({"error_rate": 1, "latency_ms": 20, "rate_limit": 5, "hold_seconds": 2})

    answer = press(sandbox, "Heal")

    assert answer.status_code == 303
    assert sandbox.faults == Faults(hold_seconds=2)
    assert call(sandbox, 2, "sale", sale(email="x@example.com")).status_code == 404


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"error_rate": "2"}, "error_rate must be between 0 and 1, not &#x27;2&#x27;"),
        ({"latency_ms": ""}, "latency_ms must be a number, not &#x27;&#x27;"),
        ({"<b>rate</b>": "1"}, "there is no fault named &#x27;&lt;b&gt;rate&lt;/b&gt;&#x27;"),
    ],
)
def test_a_wrong_form_changes_nothing_and_the_dashboard_says_why(sandbox, fields, message):
    answer = requests.post(f"{sandbox.url}/faults", data=fields, timeout=5)

    assert answer.status_code == 400
    assert f"Faults not changed: {message}." in answer.text
    assert "<b>" not in answer.text
    assert sandbox.faults == Faults()


def test_the_dashboards_buttons_are_buttons_and_every_field_has_a_label(sandbox):
    forms = Forms(dashboard(sandbox))

    assert list(forms.fields) == [
        "Set error rate",
        "Set slowness",
        "Set held calls",
        "Set lost answers",
        "Set rate limit",
        "Heal",
    ]
    shown = [field for field in forms.inputs if field["type"] != "hidden"]
    assert len(shown) == 5
    assert {field["id"] for field in shown} <= forms.labelled
