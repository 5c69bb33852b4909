"""One benchmark section in a process of its own, on a fresh database:
``python -m bench.section NAME --database sqlite|postgres [--small] --out FILE``.

A process per section and database, because Django's settings (and so the database)
are fixed once a process has set Django up, and so that one section's memory, threads
and connections cannot colour the next one's numbers."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import tempfile
from pathlib import Path

POSTGRES = "postgres://postgres@127.0.0.1:5432"


def fresh_database(name: str, database: str) -> str:
    """The URL of an empty database for this section, made now."""
    if database == "sqlite":
        path = Path(tempfile.gettempdir()) / f"firstpromoter-bench-{name}-{os.getpid()}.sqlite3"
        path.unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg

    db_name = f"firstpromoter_bench_{name}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{db_name}"')
    return f"{POSTGRES}/{db_name}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.section")
    parser.add_argument("name")
    parser.add_argument("--database", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--out", type=Path, required=True)
    options = parser.parse_args()

    os.environ["BENCH_DATABASE_URL"] = fresh_database(options.name, options.database)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    module = importlib.import_module(f"bench.{options.name}")
    rows = module.run(database=options.database, small=options.small)
    options.out.write_text(json.dumps([row.as_dict() for row in rows]))


if __name__ == "__main__":
    main()
