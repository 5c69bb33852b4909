"""A project set up as the README's "Install" says checks clean and is rate limited.

The project is what ``django-admin startproject`` makes (no ``CACHES``, so Django's
per-process ``LocMemCache``) plus the README's lines, run in processes of its own as
a newcomer runs it: nothing of the tests' settings reaches it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

README_SETTINGS = """
INSTALLED_APPS += ["django_firstpromoter", "shop"]

FIRSTPROMOTER = {
    "API_KEY": os.environ["FIRSTPROMOTER_API_KEY"],
    "ACCOUNT_ID": os.environ["FIRSTPROMOTER_ACCOUNT_ID"],
    "ORDER_MODEL": "shop.Order",
    "SALE_FROM_ORDER": "shop.firstpromoter.sale_from_order",
}
"""
SHOP = {
    "__init__.py": "",
    "models.py": """
        from django.db import models


        class Order(models.Model):
            paid = models.BooleanField(default=False)
    """,
    "firstpromoter.py": """
        def sale_from_order(order):
            return None
    """,
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("readme")
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(root)], check=True
    )
    settings = root / "mysite" / "settings.py"
    settings.write_text("import os\n" + settings.read_text() + README_SETTINGS)
    (root / "shop").mkdir()
    for name, source in SHOP.items():
        (root / "shop" / name).write_text(textwrap.dedent(source).lstrip())
    return root


def manage(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CACHE"))
    }
    env |= {"FIRSTPROMOTER_API_KEY": "key", "FIRSTPROMOTER_ACCOUNT_ID": "acc"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_readmes_project_has_no_caches_of_its_own(project: Path) -> None:
    assert "CACHES" not in (project / "mysite" / "settings.py").read_text()


def test_the_readmes_project_checks_clean_even_of_warnings(project: Path) -> None:
    checked = manage(project, "check", "--fail-level", "WARNING")
    assert checked.returncode == 0, checked.stderr
    assert "no issues" in checked.stdout


def test_after_migrate_the_readmes_project_takes_its_slots_in_the_database(
    project: Path,
) -> None:
    migrated = manage(project, "migrate", "--verbosity", "0")
    assert migrated.returncode == 0, migrated.stderr
    assert "System check identified" not in migrated.stderr
    taken = manage(
        project,
        "shell",
        "--verbosity",
        "0",
        "-c",
        "from django_firstpromoter.conf import get_config;"
        "from django_firstpromoter.models import RateLimitSlot;"
        "from django_firstpromoter.ratelimit import limiter_for;"
        "limiter_for(get_config()).acquire();"
        "print(RateLimitSlot.objects.count())",
    )
    assert taken.returncode == 0, taken.stderr
    # One slot, or a few on a loaded machine: a slot over before its sender could go is
    # left unused and the next one taken (ratelimit.py).
    assert 1 <= int(taken.stdout.split()[-1]) <= 3
