"""Settings of a worker process a test starts (tests/workers.py): the test settings,
on the test's own database, with the FIRSTPROMOTER (and TASKS) it hands over, and
whatever a tasks backend's worker needs besides (its queues, its broker, its app)."""

import json
import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, INSTALLED_APPS

_given = json.loads(os.environ["FIRSTPROMOTER_TEST_WORKER"])
DATABASES["default"]["NAME"] = _given["database"]
FIRSTPROMOTER = _given["FIRSTPROMOTER"]
if _given["TASKS"]:
    TASKS = _given["TASKS"]
# An engine's own settings (RQ_QUEUES, CELERY_*), by name, and the apps that bring its
# worker command (django_rq's rqworker) or start its app (django_tasks_fennel).
globals().update(_given.get("settings", {}))
INSTALLED_APPS = [*INSTALLED_APPS, *_given.get("apps", [])]
