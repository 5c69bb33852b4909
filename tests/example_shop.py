"""Running example_project/ the way `make demo` does, from a test: its own settings,
process and SQLite file, with nothing taken from a developer's example_project/.env."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parent.parent / "example_project"
MANAGE = [sys.executable, str(EXAMPLE / "manage.py")]
WEBHOOK_SECRET = "example-shop-webhook-secret"


def environment(database: Path, sandbox_url: str) -> dict[str, str]:
    # Set, even empty, so that a developer's .env cannot point the test at a real
    # FirstPromoter account or another database (the environment wins over .env).
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{database}",
        "FIRSTPROMOTER_API_KEY": "",
        "FIRSTPROMOTER_ACCOUNT_ID": "",
        "FIRSTPROMOTER_API_VERSION": "2",
        "FIRSTPROMOTER_CID": "",
        "FIRSTPROMOTER_DELIVERY": "on_commit",
        "FIRSTPROMOTER_SANDBOX_URL": sandbox_url,
        "FIRSTPROMOTER_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for(port: int, process: subprocess.Popen[Any], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not listening(port):
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on {port} after {seconds} s")
        time.sleep(0.1)
