"""Running example_project/ the way `make demo` does, from a test: its own settings,
process and SQLite file, with nothing taken from a developer's example_project/.env."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.ports import listening
from tests.waiting import wait_until

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


def wait_for(port: int, process: subprocess.Popen[Any], seconds: float = 30) -> None:
    """Return once ``process`` listens on ``port``; fail if it exits first."""

    def up() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        return listening(port)

    wait_until(up, seconds, f"{process.args!r} to listen on {port}", interval=0.1)
