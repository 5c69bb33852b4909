"""Everything public is documented: every setting, check id, signal and management
command (with each of its options) has its place on the documentation site, the
README lists every check id, and the site builds with warnings as errors.

What is public is read from the installed package at run time, so a new setting,
check, signal or command fails this test until a page describes it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import load_command_class
from django.core.management.base import BaseCommand
from django.dispatch import Signal

import django_firstpromoter
from django_firstpromoter import conf, signals
from django_firstpromoter.conf import DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PACKAGE = Path(django_firstpromoter.__file__).resolve().parent
CHECK_ID = re.compile(r"firstpromoter\.[EW]\d{3}")
RAW_IMAGES = (
    "https://raw.githubusercontent.com/django-firstpromoter/django-firstpromoter/main/docs/"
)
SITE = "https://django-firstpromoter.readthedocs.io/en/latest/"


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def check_ids() -> list[str]:
    """The settings' rules (``conf.RULES``) and every id the checks write out."""
    found = {f"firstpromoter.{rule.id}" for rule in conf.RULES}
    for source in PACKAGE.rglob("*.py"):
        found.update(CHECK_ID.findall(source.read_text(encoding="utf-8")))
    return sorted(found)


def signal_names() -> list[str]:
    return sorted(name for name, value in vars(signals).items() if isinstance(value, Signal))


def command_names() -> list[str]:
    commands = PACKAGE / "management" / "commands"
    return sorted(path.stem for path in commands.glob("*.py") if not path.stem.startswith("_"))


def own_options(name: str) -> list[str]:
    """The long options a command adds to those every Django command has."""
    common = {
        option
        for action in BaseCommand().create_parser("manage.py", "any")._actions
        for option in action.option_strings
    }
    command = load_command_class("django_firstpromoter", name)
    parser = command.create_parser("manage.py", name)
    return sorted(
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and option not in common
    )


def test_what_is_looked_for_is_found() -> None:
    # Guards the guards: a regex or a path gone wrong would make every test below pass.
    assert len(DEFAULTS) >= 16
    assert len(check_ids()) >= 21
    assert {"order_paid", "sale_tracked", "reward_updated"} <= set(signal_names())
    assert command_names() == [
        "firstpromoter_deliver",
        "firstpromoter_reconcile",
        "firstpromoter_sandbox",
    ]
    assert "--threads" in own_options("firstpromoter_deliver")


@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_every_setting_has_a_row_in_the_configuration_page(key: str) -> None:
    assert f"| `{key}` |" in page("configuration.md")


@pytest.mark.parametrize("check_id", check_ids())
def test_every_check_id_has_a_section_in_the_checks_page(check_id: str) -> None:
    text = page("checks.md")
    assert f"### {check_id}\n" in text
    assert f"| `{check_id}` |" in text


@pytest.mark.parametrize("check_id", check_ids())
def test_the_readme_lists_every_check_id_with_its_meaning(check_id: str) -> None:
    row = re.search(rf"^\| `{re.escape(check_id)}` \| (.+) \|$", readme(), re.MULTILINE)
    assert row, f"{check_id} has no row in the README's table of checks"
    assert row[1].strip()


def test_the_checks_documented_are_the_checks_that_exist() -> None:
    # A check removed or renumbered in the code must leave the pages too.
    assert sorted(set(CHECK_ID.findall(page("checks.md")))) == check_ids()
    assert sorted(set(CHECK_ID.findall(readme()))) == check_ids()


@pytest.mark.parametrize("name", signal_names())
def test_every_signal_is_in_the_signals_page(name: str) -> None:
    assert f"| `{name}` |" in page("signals.md")


@pytest.mark.parametrize("name", command_names())
def test_every_command_and_option_is_in_the_commands_page(name: str) -> None:
    text = page("commands.md")
    section = text.split(f"## `{name}`\n", 1)
    assert len(section) == 2, f"commands.md has no section for {name}"
    own = section[1].split("\n## ", 1)[0]
    missing = [option for option in own_options(name) if f"| `{option}" not in own]
    assert not missing, f"{name}'s options missing from its table: {missing}"


def nav_pages() -> list[str]:
    return re.findall(r"^\s+- [^:]+: (\S+\.md)$", (ROOT / "mkdocs.yml").read_text(), re.MULTILINE)


def readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_page_is_in_the_nav_and_linked_from_the_readme() -> None:
    pages = sorted(path.name for path in DOCS.glob("*.md"))
    assert sorted(nav_pages()) == pages
    for name in pages:
        url = SITE if name == "index.md" else f"{SITE}{name.removesuffix('.md')}/"
        assert f"]({url})" in readme(), f"the README does not link to {url}"


def test_the_readmes_images_are_absolute_and_exist() -> None:
    # PyPI shows the README without the repository beside it: a relative image breaks.
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme())
    assert images
    for url in images:
        assert url.startswith(RAW_IMAGES), url
        assert (DOCS / url.removeprefix(RAW_IMAGES)).is_file(), url


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    if not (ROOT / "example_project").is_dir():
        pytest.skip("the pages include example_project/, which is not here (an sdist?)")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "index.html").is_file()
    assert "Unreleased" in (tmp_path / "changelog" / "index.html").read_text(encoding="utf-8")
