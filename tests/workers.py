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
from typing import IO, Any

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def worker_environment(
    firstpromoter: dict[str, Any],
    *,
    tasks: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    extra_settings: dict[str, Any] | None = None,
    apps: list[str] | None = None,
) -> dict[str, str]:
    """The environment of a worker process: the test settings on the test's own
    database, with ``settings.FIRSTPROMOTER`` updated by ``firstpromoter``, the
    settings ``extra_settings`` names (an engine's broker) and ``apps`` installed too."""
    given = {
        "database": connection.settings_dict["NAME"],
        "FIRSTPROMOTER": {**settings.FIRSTPROMOTER, **firstpromoter},
        "TASKS": tasks,
        "settings": extra_settings or {},
        "apps": apps or [],
    }
    return {
        **os.environ,
        **(env or {}),
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "FIRSTPROMOTER_TEST_WORKER": json.dumps(given),
    }


def start_deliver(
    *args: str, env: dict[str, str], output: IO[bytes] | int
) -> subprocess.Popen[bytes]:
    """``manage.py firstpromoter_deliver *args`` in a process of its own, run from the
    repository's root with the environment ``env`` (which names its settings), its
    output and errors to ``output``: a file, or ``subprocess.DEVNULL``, never a pipe
    nobody reads, which would fill up and stall it."""
    return subprocess.Popen(
        [sys.executable, "-m", "django", "firstpromoter_deliver", *args],
        env=env,
        cwd=ROOT,
        stdout=output,
        stderr=subprocess.STDOUT,
    )


def start_worker(
    firstpromoter: dict[str, Any], log: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """A ``firstpromoter_deliver --loop`` worker on the test database, its output in
    ``log``."""
    with log.open("ab") as output:
        return start_deliver(
            "--loop", *args, env=worker_environment(firstpromoter, env=env), output=output
        )
