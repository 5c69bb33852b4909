"""``python -m bench``: run the sections, print one table, write the results as JSON.

Each section runs in a process of its own on a fresh database (``bench.section``),
against a sandbox on loopback. ``--small`` runs every section with fewer rows, as
``.ci/run`` does so that the suite cannot rot; its numbers are not the published ones.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Each section and the databases it runs on.
SECTIONS = {
    "checkout": ("sqlite", "postgres"),
    "outage": ("sqlite", "postgres"),
    "drain": ("postgres",),
    "admin_size": ("postgres",),
    "memory": ("postgres",),
    "ratelimit": ("sqlite", "postgres"),
}


def postgres_version() -> str | None:
    try:
        import psycopg

        with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", connect_timeout=3) as c:
            row = c.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else None
    except Exception:
        return None


def machine(databases: list[str]) -> dict[str, Any]:
    import django

    described: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "system": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
    }
    if "sqlite" in databases:
        described["sqlite"] = sqlite3.sqlite_version
    if "postgres" in databases:
        described["postgresql"] = postgres_version()
    return described


def run_section(name: str, database: str, small: bool) -> list[dict[str, Any]]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = Path(out.name)
    command = [sys.executable, "-m", "bench.section", name, "--database", database]
    command += ["--out", str(path)] + (["--small"] if small else [])
    print(f"... {name} on {database}", file=sys.stderr, flush=True)
    subprocess.run(command, cwd=ROOT, check=True)
    rows: list[dict[str, Any]] = json.loads(path.read_text())
    path.unlink()
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    header = ["section", "case", "database", "measured", "target", "met"]
    lines = [
        [
            row["section"],
            row["case"],
            row["database"],
            ", ".join(f"{key} {value}" for key, value in row["values"].items()),
            row["target"],
            {True: "yes", False: "NO", None: ""}[row["met"]],
        ]
        for row in rows
    ]
    widths = [max(len(str(cells[i])) for cells in [header, *lines]) for i in range(len(header))]
    out = [
        " | ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True))
        for cells in [header, *lines]
    ]
    out.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--small", action="store_true", help="Fewer rows: a smoke run.")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="Comma-separated.")
    parser.add_argument("--databases", default="sqlite,postgres", help="Comma-separated.")
    parser.add_argument("--out", type=Path, default=None, help="Where the JSON goes.")
    options = parser.parse_args()
    sections = options.sections.split(",")
    databases = options.databases.split(",")
    if "postgres" in databases and postgres_version() is None:
        print("PostgreSQL at 127.0.0.1:5432 does not answer: SQLite only.", file=sys.stderr)
        databases.remove("postgres")
    out = options.out or ROOT / (
        "build/bench-small.json" if options.small else "bench/results.json"
    )

    rows: list[dict[str, Any]] = []
    for name in sections:
        for database in databases:
            if database in SECTIONS[name]:
                rows += run_section(name, database, options.small)
    results = {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "small": options.small,
        "machine": machine(databases),
        "rows": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(rows))
    print(f"\nmachine: {results['machine']}\nwritten to {os.path.relpath(out, ROOT)}")
    if any(row["section"] == "checkout" for row in rows):
        from bench import plot

        image = plot.checkout(
            results, ROOT / ("build/checkout-small.png" if options.small else "docs/checkout.png")
        )
        print(f"plot: {image.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
