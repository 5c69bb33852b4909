"""`make demo`'s command: it brings up the shop, the sandbox and a worker, prints the
tour, stops them all on Ctrl-C, and a second run reuses what the first made."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
import requests

from tests.example_shop import EXAMPLE, MANAGE, environment
from tests.ports import free_port, listening

pytestmark = pytest.mark.slow

TOUR_END = "Ctrl-C stops it all."


def run_demo(database: Path, shop_port: int, sandbox_port: int) -> str:
    """The demo's output up to the tour, after checking both servers answer and
    stopping it with Ctrl-C."""
    demo = subprocess.Popen(
        [*MANAGE, "demo", "--port", str(shop_port)],
        env=environment(database, f"http://127.0.0.1:{sandbox_port}"),
        cwd=EXAMPLE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert demo.stdout is not None
    try:
        output = ""
        for line in demo.stdout:
            output += line
            if TOUR_END in line:
                break
        shop = requests.get(f"http://127.0.0.1:{shop_port}/?fpr=alice", timeout=10)
        sandbox = requests.get(f"http://127.0.0.1:{sandbox_port}/", timeout=10)
        assert "through <strong>alice</strong>" in shop.text
        assert sandbox.status_code == 200
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=20) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
    return output


def test_demo_serves_the_tour_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite3"
    shop_port, sandbox_port = free_port(), free_port()

    output = run_demo(database, shop_port, sandbox_port)

    assert f"1. Open http://127.0.0.1:{shop_port}/?fpr=alice" in output
    assert "user 'admin', password 'admin'" in output
    assert f"http://127.0.0.1:{sandbox_port}/" in output
    assert 'press "Set error rate" on the sandbox\'s dashboard' in output
    assert not listening(shop_port)
    assert not listening(sandbox_port)
    # Again, on the same database: migrations and the demo user are already there.
    assert TOUR_END in run_demo(database, shop_port, sandbox_port)
