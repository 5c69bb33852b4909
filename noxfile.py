"""The test matrix: each Python with each Django that supports it, against the built wheel.

    nox -s package                   build the sdist and the wheel, twine-check them, and
                                     check what each holds
    nox -s tests                     the full suite, each pair, on SQLite and PostgreSQL
    nox -s fast                      the suite less its slow tests (-m "not slow"), each
                                     pair, on SQLite
    nox -t ci                        what .ci/run runs of the matrix (see its comments)
    nox -s "tests(3.13-django6.1-postgresql)" -- -k ratelimit    one session, pytest's options

Every test session installs the wheel that `package` built (it runs first), never src/:
a file the wheel leaves out fails the tests. PostgreSQL is $POSTGRES_URL, by default
postgres://postgres@127.0.0.1:5432/postgres (the tests make and drop test_<name>).
"""

from __future__ import annotations

import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import nox

nox.needs_version = ">=2025.10"
# uv makes and fills the environments in seconds; virtualenv and pip when uv is missing.
nox.options.default_venv_backend = "uv|virtualenv"
# The interpreters are the machine's (pyenv's); nothing is downloaded.
nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["package", "tests", "fast"]

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
DIST = ROOT / "dist"
PACKAGE = "django_firstpromoter"

# Django 6.0 and 6.1 need Python 3.12 or later. The classifiers claim exactly these.
PAIRS = [
    ("3.10", "5.2"),
    ("3.11", "5.2"),
    ("3.12", "5.2"),
    ("3.13", "5.2"),
    ("3.12", "6.0"),
    ("3.13", "6.0"),
    ("3.12", "6.1"),
    ("3.13", "6.1"),
]
OLDEST, NEWEST = PAIRS[0], PAIRS[-1]
# `make test` runs the whole suite with coverage on the machine's python3 (3.11) and the
# newest Django it supports (5.2); CI leaves that pair out of the fast sessions.
MAKE_TEST = ("3.11", "5.2")
POSTGRES_URL = os.environ.get("POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def pair_id(python: str, django: str) -> str:
    return f"{python}-django{django}"


def built_wheel() -> Path:
    wheels = sorted(DIST.glob(f"{PACKAGE}-*-py3-none-any.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one wheel in {DIST}, found {wheels}; run `nox -s package`")
    return wheels[0]


def install(session: nox.Session, django: str) -> None:
    """The wheel, the test group and the Django under test: nothing from the source tree."""
    session.install(
        str(built_wheel()),
        *nox.project.dependency_groups(PYPROJECT, "test"),
        f"Django=={django}.*",
    )
    # A reused environment (-R) gets this build, not the one it had.
    session.install("--no-deps", "--force-reinstall", str(built_wheel()))
    session.run(
        "python",
        "-c",
        "import sys, django, django_firstpromoter as p;"
        "assert 'site-packages' in p.__file__, p.__file__;"
        "print(f'Python {sys.version.split()[0]}, Django {django.__version__},', p.__file__)",
    )


def pytest(session: nox.Session, db: str, *args: str) -> None:
    env = {"DATABASE_URL": POSTGRES_URL if db == "postgresql" else None}
    session.run("python", "-m", "pytest", *args, *session.posargs, env=env)


@nox.session(python=OLDEST[0])
def package(session: nox.Session) -> None:
    """Build the sdist and the wheel; `twine check --strict`; check what each holds."""
    session.install("build>=1.2", "twine>=5")
    shutil.rmtree(DIST, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(DIST), str(ROOT))
    session.run("twine", "check", "--strict", *map(str, sorted(DIST.iterdir())))

    wheel = built_wheel()
    with zipfile.ZipFile(wheel) as zf:
        in_wheel = set(zf.namelist())
    dist_info = wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"
    source = ROOT / "src" / PACKAGE
    wanted = {
        f"{dist_info}/licenses/LICENSE",
        f"{PACKAGE}/py.typed",
        f"{PACKAGE}/migrations/0001_initial.py",
        # Every file of the package: templates, migrations, py.typed, the sandbox.
        *(
            f"{PACKAGE}/{path.relative_to(source).as_posix()}"
            for path in source.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        ),
    }
    if not any(
        name.startswith(f"{PACKAGE}/templates/") and name.endswith(".html") for name in in_wheel
    ):
        session.error(f"{wheel.name} has no templates")
    missing = sorted(wanted - in_wheel)
    if missing:
        session.error(f"{wheel.name} lacks {missing}")
    stray = sorted(
        name for name in in_wheel if not name.startswith((f"{PACKAGE}/", f"{dist_info}/"))
    )
    if stray:
        session.error(f"{wheel.name} holds what is not the package: {stray}")

    (sdist,) = DIST.glob("*.tar.gz")
    with tarfile.open(sdist) as tf:
        in_sdist = {name.split("/", 1)[1] for name in tf.getnames() if "/" in name}
    wanted = {"pyproject.toml", "LICENSE", "README.md", "noxfile.py", "tests/conftest.py"}
    for folder in ("tests", "tests_oscar", "docs"):
        wanted |= {
            path.relative_to(ROOT).as_posix()
            for path in (ROOT / folder).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        }
    missing = sorted(wanted - in_sdist)
    if missing:
        session.error(f"{sdist.name} lacks {missing}")
    session.log(f"{wheel.name}: {len(in_wheel)} files; {sdist.name}: {len(in_sdist)} files")


@nox.session(requires=["package"])
@nox.parametrize(
    ("python", "django", "db"),
    [
        nox.param(
            python,
            django,
            db,
            id=f"{pair_id(python, django)}-{db}",
            # CI: the whole suite on PostgreSQL for the oldest and the newest pair.
            tags=["ci"] if db == "postgresql" and (python, django) in (OLDEST, NEWEST) else [],
        )
        for python, django in PAIRS
        for db in ("sqlite", "postgresql")
    ],
)
def tests(session: nox.Session, django: str, db: str) -> None:
    """The whole suite, the process, chaos and browser tests included."""
    install(session, django)
    pytest(session, db)


@nox.session(requires=["package"])
@nox.parametrize(
    ("python", "django"),
    [
        nox.param(
            python,
            django,
            id=pair_id(python, django),
            tags=[] if (python, django) == MAKE_TEST else ["ci"],
        )
        for python, django in PAIRS
    ],
)
def fast(session: nox.Session, django: str) -> None:
    """The suite less the tests marked slow, on SQLite: minutes for the whole matrix."""
    install(session, django)
    pytest(session, "sqlite", "-m", "not slow")
