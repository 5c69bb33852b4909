"""The HTTP side: routes, credentials, faults, and a server that runs in or out of process.

Standard library only (``http.server``), so the sandbox needs nothing installed,
no Django settings, and starts in a test in milliseconds on a free port.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit

from django_firstpromoter import __version__
from django_firstpromoter.fprjs import LINK_PARAMETERS
from django_firstpromoter.sandbox import admin, api, page
from django_firstpromoter.sandbox.faults import Faults
from django_firstpromoter.sandbox.world import (
    DEFAULT_PROMOTERS,
    Batch,
    Click,
    Commission,
    Event,
    Lead,
    Promoter,
    Request,
    World,
)

TRACK_PATH = re.compile(r"/api/v(?P<version>[12])/track/(?P<call>[a-z_]+)/?")
ADMIN_PATH = re.compile(r"/api/v2/company/commissions(?:/(?P<action>approve|deny))?/?")
CONTROL_PATH = re.compile(r"/api/commissions(?:/(?P<id>[0-9]+))?/?")
WINDOW_SECONDS = 60.0
# How often the serving loop looks up from waiting for a connection, to see whether
# it is to stop: short, so that a test's sandbox stops in a blink instead of
# socketserver's default half second.
POLL_INTERVAL = 0.02


class Sandbox:
    """A stand-in for FirstPromoter's tracking API, v1 and v2, listening once constructed.

    ``port=0`` picks a free port. Use it as a context manager, or ``start()`` it on
    a background thread and ``stop()`` it, or ``serve_forever()`` in the foreground.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str | None = None,
        account_id: str | None = None,
        faults: Faults | None = None,
        seed: int | None = None,
        promoters: Iterable[Promoter] = DEFAULT_PROMOTERS,
        quiet: bool = True,
    ) -> None:
        self.api_key = api_key
        self.account_id = account_id
        self.faults = faults or Faults()
        self.world = World(promoters)
        self.quiet = quiet
        self._started_with = self.faults.as_dict()
        self._seed = seed
        self._random = random.Random(seed)
        self._random_lock = threading.Lock()
        self._window: collections.deque[float] = collections.deque()
        self._window_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._httpd = _Server((host, port), self)

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_url(self, api_version: int) -> str:
        """What ``FIRSTPROMOTER["BASE_URL"]`` should be for that API version."""
        return f"{self.url}/api/v{api_version}/track"

    @property
    def admin_url(self) -> str:
        """Where the v2 admin ("company") API is: ``<admin_url>/commissions``."""
        return f"{self.url}/api/v2/company"

    @property
    def promoters(self) -> list[Promoter]:
        return self.world.promoters

    @property
    def clicks(self) -> list[Click]:
        return self.world.clicks

    @property
    def leads(self) -> list[Lead]:
        return self.world.leads

    @property
    def sales(self) -> list[Event]:
        return [event for event in self.world.events if event.type == "sale"]

    @property
    def refunds(self) -> list[Event]:
        return [event for event in self.world.events if event.type == "refund"]

    @property
    def requests(self) -> list[Request]:
        """Every API call received, tracking or admin, oldest first."""
        return self.world.requests

    def click(self, ref_id: str) -> str:
        """A referral visit for ``ref_id``'s promoter, as ``GET /click`` makes one: its tid."""
        click = self.world.click(ref_id)
        if click is None:
            raise ValueError(f"no promoter has the referral id {ref_id!r}")
        return click.tid

    def commissions(self) -> list[Commission]:
        """Every commission the admin API would list now, oldest first."""
        return sorted(self.world.commissions, key=lambda commission: commission.id)

    def batches(self) -> list[Batch]:
        """Every approve or deny the admin API received, with what became of it."""
        return self.world.batches

    def set_commission(
        self,
        id: int,
        *,
        status: str | None = None,
        is_paid: bool | None = None,
        amount: int | None = None,
    ) -> Commission:
        """Change a commission behind the app's back, as someone in FirstPromoter's
        dashboard would. KeyError for an unknown id, ValueError for an unknown status."""
        changes = {"status": status, "is_paid": is_paid, "amount": amount}
        with self.world.lock:
            commission = self.world.commission(id)
            if commission is None:
                raise KeyError(f"no commission has the id {id}")
            return self.world.save_commission(
                commission, **{name: value for name, value in changes.items() if value is not None}
            )

    def delete_commission(self, id: int) -> None:
        """Delete a commission behind the app's back. KeyError for an unknown id."""
        if self.world.delete_commission(id) is None:
            raise KeyError(f"no commission has the id {id}")

    def add_commission(
        self,
        event_id: str,
        amount: int,
        status: str = "pending",
        *,
        promoter: str | None = None,
        is_paid: bool = False,
    ) -> Commission:
        """A new commission for ``event_id`` that no tracking call made (FirstPromoter's
        ``commission_type`` ``custom``): credited to the referral and promoter of that
        event's commissions, or to ``promoter`` (a referral id) with no referral."""
        return self.world.add_commission(
            event_id, amount, status, promoter=promoter, is_paid=is_paid
        )

    def state(self) -> dict[str, Any]:
        return {**self.world.state(), "faults": self.faults.as_dict()}

    def reset(self) -> None:
        """Back to how it started: no visits, leads, sales or requests, the starting faults."""
        self.world.reset()
        self.faults.update(self._started_with)
        with self._random_lock:
            self._random.seed(self._seed)
        with self._window_lock:
            self._window.clear()

    def start(self) -> Sandbox:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            args=(POLL_INTERVAL,),
            name=f"firstpromoter-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (Ctrl-C), then close."""
        try:
            self._httpd.serve_forever(POLL_INTERVAL)
        finally:
            self.stop()

    def stop(self) -> None:
        # Held and slowed calls wait on this, so that stopping never waits for them.
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def authorized(self, api_version: int, headers: Any) -> bool:
        """FirstPromoter's credentials for that version: any non-empty ones, unless the
        sandbox was told which to expect."""
        if api_version == 1:
            key = headers.get("X-API-KEY", "")
        else:
            scheme, _, key = headers.get("Authorization", "").partition(" ")
            account = headers.get("ACCOUNT-ID", "")
            if scheme.lower() != "bearer" or not _matches(self.account_id, account):
                return False
        return _matches(self.api_key, key)

    def roll(self, rate: float) -> bool:
        """True with probability ``rate``; a rate of 0 draws nothing, so that turning one
        fault on leaves the seeded sequence of the others as it was."""
        if rate <= 0:
            return False
        with self._random_lock:
            return self._random.random() < rate

    def admit(self) -> int | None:
        """None if the call fits in the last minute's rate limit, else the seconds to wait."""
        limit = self.faults.rate_limit
        if not limit:
            return None
        now = time.monotonic()
        with self._window_lock:
            while self._window and now - self._window[0] >= WINDOW_SECONDS:
                self._window.popleft()
            if len(self._window) >= limit:
                return max(1, math.ceil(WINDOW_SECONDS - (now - self._window[0])))
            self._window.append(now)
        return None

    def pause(self, seconds: float) -> None:
        self._stopping.wait(seconds)


def _matches(expected: str | None, given: str) -> bool:
    given = given.strip()
    return bool(given) and expected in (None, given)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that stops waiting (its timeout, a held or slow call) closes the
        # connection before the answer: FirstPromoter does not mind, nor should we.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = f"FirstPromoterSandbox/{__version__}"

    def version_string(self) -> str:
        return self.server_version

    @property
    def sandbox(self) -> Sandbox:
        return self.server.sandbox

    def log_message(self, format: str, *args: Any) -> None:
        if not self.sandbox.quiet:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/":
            self._send_dashboard(200)
        elif url.path == "/api/state":
            self._send_json(200, self.sandbox.state())
        elif url.path == "/click":
            self._click(parse_qs(url.query))
        elif TRACK_PATH.fullmatch(url.path) or (
            (match := ADMIN_PATH.fullmatch(url.path)) and match["action"]
        ):
            self._send_json(405, {"message": "Use POST."}, {"Allow": "POST"})
        elif ADMIN_PATH.fullmatch(url.path):
            params = admin.query(url.query)
            self._serve(
                "GET",
                url.path,
                "commissions",
                params,
                lambda: admin.list_commissions(self.sandbox.world, params),
            )
        else:
            self._not_found()

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path == "/api/faults":
            self._set_faults(body)
        elif url.path == page.FAULTS_PATH:
            self._press(body)
        elif url.path == "/api/reset":
            self.sandbox.reset()
            self._send_json(200, self.sandbox.state())
        elif (match := TRACK_PATH.fullmatch(url.path)) and match["call"] in api.CALLS:
            self._track(int(match["version"]), match["call"], url, body)
        elif (match := ADMIN_PATH.fullmatch(url.path)) and match["action"]:
            self._act(match["action"], url.path, body)
        elif ADMIN_PATH.fullmatch(url.path):
            # The spec's create is not in the sandbox: a test adds one with add_commission.
            self._send_json(
                405, {"message": "The sandbox only lists commissions."}, {"Allow": "GET"}
            )
        elif match := CONTROL_PATH.fullmatch(url.path):
            self._control(match["id"], body)
        else:
            self._not_found()

    def do_DELETE(self) -> None:
        url = urlsplit(self.path)
        match = CONTROL_PATH.fullmatch(url.path)
        if match and match["id"]:
            self._control_delete(int(match["id"]))
        else:
            self._not_found()

    def _click(self, query: dict[str, list[str]]) -> None:
        ref_id = next((query[name][0] for name in LINK_PARAMETERS if name in query), "")
        if not ref_id:
            self._send_json(400, {"message": "Name the promoter: /click?ref=<referral id>."})
            return
        click = self.sandbox.world.click(ref_id)
        if click is None:
            self._send_json(404, {"message": f"No promoter has the referral id {ref_id!r}."})
            return
        self._send_json(200, {"tid": click.tid})

    def _set_faults(self, body: bytes) -> None:
        try:
            changes = json.loads(body)
            if not isinstance(changes, dict):
                raise ValueError("send a JSON object of faults")
            self.sandbox.faults.update(changes)
        except ValueError as exc:
            self._send_json(400, {"message": str(exc)})
            return
        self._send_json(200, self.sandbox.faults.as_dict())

    def _press(self, body: bytes) -> None:
        """A fault button on the dashboard: its form's fields are the faults to set. The
        answer is a redirect to the dashboard (so that reloading it posts nothing again),
        or the dashboard saying why nothing was changed."""
        changes = api.pairs(body.decode("utf-8", errors="replace"))
        try:
            self.sandbox.faults.update(changes)
        except ValueError as exc:
            self._send_dashboard(400, problem=f"Faults not changed: {exc}.")
            return
        self._send(303, b"", None, {"Location": "/"})

    def _send_dashboard(self, status: int, problem: str = "") -> None:
        html = page.render(self.sandbox.world, self.sandbox.faults, problem)
        self._send(status, html.encode(), "text/html; charset=utf-8")

    def _track(self, api_version: int, call: str, url: SplitResult, body: bytes) -> None:
        content_type = self.headers.get("Content-Type", "")
        try:
            params = api.parse(api_version, url.query, content_type, body)
            problem = None
        except api.BadRequest as exc:
            params, problem = {}, exc

        def carry_out() -> api.Reply:
            if problem is not None:
                return problem.reply()
            return api.track(self.sandbox.world, api_version, call, params)

        self._serve("POST", url.path, call, params, carry_out, api_version)

    def _act(self, action: str, path: str, body: bytes) -> None:
        try:
            params = json.loads(body)
        except ValueError:
            params = {}
        self._serve(
            "POST",
            path,
            f"commissions/{action}",
            params if isinstance(params, dict) else {},
            lambda: admin.act(self.sandbox.world, action, body),
        )

    def _serve(
        self,
        method: str,
        path: str,
        call: str,
        params: dict[str, Any],
        carry_out: Callable[[], api.Reply],
        api_version: int = 2,
    ) -> None:
        """One API call, tracking or admin, through the faults: recorded, slowed, limited,
        failed, held or lost as they say, else carried out if its credentials pass."""
        sandbox = self.sandbox
        request = sandbox.world.record_request(method, path, api_version, call, params)
        faults = sandbox.faults
        sandbox.pause(faults.latency_ms / 1000)
        retry_after = sandbox.admit()
        if retry_after is not None:
            reply = api.Reply(
                429, {"message": "Too many requests."}, {"Retry-After": str(retry_after)}
            )
            self._answer(request, reply, "rate_limit")
        elif sandbox.roll(faults.error_rate):
            self._answer(request, api.Reply(500, {"message": "Internal server error."}), "error")
        elif sandbox.roll(faults.timeout_rate):
            sandbox.pause(faults.hold_seconds)
            self._hang_up(request, "timeout")
        else:
            if not sandbox.authorized(api_version, self.headers):
                reply = api.Reply(401)
            else:
                reply = carry_out()
            if sandbox.roll(faults.lost_rate):
                self._hang_up(request, "lost")
            else:
                self._answer(request, reply)

    def _control(self, id: str | None, body: bytes) -> None:
        """``POST /api/commissions`` adds one (``event_id``, ``amount``, ``status``,
        ``promoter``, ``is_paid``); ``POST /api/commissions/<id>`` changes one
        (``status``, ``is_paid``, ``amount``): the hooks, for the demo."""
        try:
            changes = json.loads(body)
            if not isinstance(changes, dict):
                raise ValueError("send a JSON object")
            if id is None:
                commission = self.sandbox.add_commission(**changes)
            else:
                commission = self.sandbox.set_commission(int(id), **changes)
        except KeyError as exc:
            self._send_json(404, {"message": str(exc.args[0])})
            return
        except (TypeError, ValueError) as exc:
            self._send_json(400, {"message": str(exc)})
            return
        self._send_json(200, dataclasses.asdict(commission))

    def _control_delete(self, id: int) -> None:
        try:
            self.sandbox.delete_commission(id)
        except KeyError as exc:
            self._send_json(404, {"message": str(exc.args[0])})
            return
        self._send(204, b"", None)

    def _answer(self, request: Request, reply: api.Reply, fault: str = "") -> None:
        self.sandbox.world.finish_request(request, reply.status, fault)
        if reply.body is None:
            self._send(reply.status, b"", None, reply.headers)
        else:
            self._send_json(reply.status, reply.body, reply.headers)

    def _hang_up(self, request: Request, fault: str) -> None:
        # Returning without a word, the connection closed: the client sees it end
        # with no answer, as when a proxy or the network drops one.
        self.sandbox.world.finish_request(request, None, fault)
        self.close_connection = True

    def _not_found(self) -> None:
        # Deliberately without FirstPromoter's "code": a wrong URL is not "not a referral".
        self._send_json(404, {"message": f"Nothing at {urlsplit(self.path).path}."})

    def _send_json(
        self, status: int, body: dict[str, Any] | list[Any], headers: dict[str, str] | None = None
    ) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", headers)

    def _send(
        self,
        status: int,
        content: bytes,
        content_type: str | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        if status != 204:
            self.send_header("Content-Length", str(len(content)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(content)
