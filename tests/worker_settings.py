"""Settings of a worker process a test starts (tests/workers.py): the test settings,
on the test's own database, with the FIRSTPROMOTER (and TASKS) it hands over."""

import json
import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES

_given = json.loads(os.environ["FIRSTPROMOTER_TEST_WORKER"])
DATABASES["default"]["NAME"] = _given["database"]
FIRSTPROMOTER = _given["FIRSTPROMOTER"]
if _given["TASKS"]:
    TASKS = _given["TASKS"]
