"""The options ``python -m django_firstpromoter.sandbox`` and ``manage.py firstpromoter_sandbox``
share, and running the sandbox in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from django_firstpromoter.sandbox.faults import Faults, count, duration, rate
from django_firstpromoter.sandbox.server import Sandbox

DEFAULT_PORT = 8765


class Output(Protocol):
    """``sys.stdout`` for ``python -m``, the command's own ``self.stdout`` for manage.py."""

    def write(self, text: str, /) -> Any: ...

    def flush(self) -> Any: ...


def port(value: str) -> int:
    result = count(value)
    if result > 65535:
        raise ValueError(value)
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (loopback).")
    parser.add_argument(
        "--port", type=port, default=DEFAULT_PORT, help="Port to listen on; 0 picks a free one."
    )
    parser.add_argument("--api-key", help="Accept only this API key (default: any non-empty).")
    parser.add_argument(
        "--account-id", help="Accept only this v2 ACCOUNT-ID (default: any non-empty)."
    )
    parser.add_argument(
        "--latency-ms", type=duration, default=0.0, help="Delay every API call, tracking or admin."
    )
    parser.add_argument(
        "--error-rate", type=rate, default=0.0, help="Share of API calls answered 500."
    )
    parser.add_argument(
        "--timeout-rate",
        type=rate,
        default=0.0,
        help="Share of API calls held --hold-seconds, then closed unanswered.",
    )
    parser.add_argument(
        "--lost-rate",
        type=rate,
        default=0.0,
        help="Share of API calls carried out whose answer is then lost.",
    )
    parser.add_argument(
        "--rate-limit",
        type=count,
        default=0,
        help="API calls per minute before 429 with Retry-After (0: no limit).",
    )
    parser.add_argument(
        "--hold-seconds",
        type=duration,
        default=Faults.hold_seconds,
        help="How long a timed-out call is held (longer than your client's TIMEOUT).",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="Seed the faults' randomness, for repeatable runs."
    )
    parser.add_argument("--quiet", action="store_true", help="Do not log each request.")


def sandbox_from_options(options: Mapping[str, Any]) -> Sandbox:
    """A listening sandbox; OSError when the address cannot be had."""
    faults = Faults(**{name: options[name] for name in Faults().as_dict()})
    return Sandbox(
        options["host"],
        options["port"],
        api_key=options["api_key"],
        account_id=options["account_id"],
        faults=faults,
        seed=options["seed"],
        quiet=options["quiet"],
    )


def banner(sandbox: Sandbox) -> str:
    return (
        f"FirstPromoter sandbox: dashboard at {sandbox.url}/\n"
        f'  FIRSTPROMOTER["BASE_URL"] = "{sandbox.base_url(2)}"  (API_VERSION 2)\n'
        f'  FIRSTPROMOTER["BASE_URL"] = "{sandbox.base_url(1)}"  (API_VERSION 1)\n'
        f"  a referral visit's tid: {sandbox.url}/click?ref=alice\n"
        "Quit with Ctrl-C.\n"
    )


def serve(sandbox: Sandbox, out: Output) -> None:
    out.write(banner(sandbox))
    # Whoever started it (a script, a test) may be waiting for this line on a pipe.
    out.flush()
    # Ctrl-C is how it is meant to end: no traceback for it.
    with contextlib.suppress(KeyboardInterrupt), interrupted_by_signals():
        sandbox.serve_forever()


@contextlib.contextmanager
def interrupted_by_signals() -> Iterator[None]:
    """SIGINT and SIGTERM interrupt the serving thread, the way Ctrl-C does.

    Python leaves SIGINT ignored when it started ignored, as it does for a job a
    non-interactive shell puts in the background (``... &``): without this, only
    SIGKILL would stop such a sandbox. SIGTERM, what ``kill`` and service managers
    send, would end it without closing the server. Signal handlers belong to the
    main thread; elsewhere (a sandbox served from a thread) nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        signum: signal.signal(signum, signal.default_int_handler)
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m django_firstpromoter.sandbox",
        description="A local stand-in for FirstPromoter's tracking API (v1 and v2).",
    )
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    try:
        sandbox = sandbox_from_options(options)
    except OSError as exc:
        parser.exit(1, f"cannot listen on {options['host']}:{options['port']}: {exc}\n")
    serve(sandbox, sys.stdout)
