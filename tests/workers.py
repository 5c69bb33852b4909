"""Worker processes on the test database, for the tests that need real ones:
``firstpromoter_deliver`` workers, or a tasks backend's worker. They share nothing
with the test but the database, the cache (CACHE_URL) and the settings handed over
through ``tests/worker_settings.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def worker_environment(
    firstpromoter: dict[str, Any],
    *,
    tasks: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a worker process: the test settings on the test's own
    database, with ``settings.FIRSTPROMOTER`` updated by ``firstpromoter``."""
    given = {
        "database": connection.settings_dict["NAME"],
        "FIRSTPROMOTER": {**settings.FIRSTPROMOTER, **firstpromoter},
        "TASKS": tasks,
    }
    return {
        **os.environ,
        **(env or {}),
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "FIRSTPROMOTER_TEST_WORKER": json.dumps(given),
    }


def start_worker(
    firstpromoter: dict[str, Any], log: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """A ``firstpromoter_deliver --loop`` worker, its output in ``log`` (a pipe nobody
    reads would fill up and stall it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "django", "firstpromoter_deliver", "--loop", *args],
        env=worker_environment(firstpromoter, env=env),
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
