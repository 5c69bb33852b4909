"""``manage.py demo`` (what ``make demo`` runs): the shop, the sandbox and a delivery
worker in one terminal, until Ctrl-C."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

HOST = "127.0.0.1"
DEMO_USER = ("admin", "admin")
STARTUP_SECONDS = 30


class Command(BaseCommand):
    help = "Migrate, add the demo superuser, and run the shop, the sandbox and a worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port", type=int, default=8000, help="The shop's port (the sandbox's is in .env)."
        )

    def handle(self, *args: Any, port: int, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.add_demo_user()
        shop = (HOST, port)
        servers = [shop]
        commands = [
            self.manage("runserver", f"{HOST}:{port}", "--noreload"),
            # Picks up the retries of sales FirstPromoter (or the sandbox) failed.
            self.manage("firstpromoter_deliver", "--loop", "--interval", "5"),
        ]
        if settings.USES_SANDBOX:
            address = urlsplit(settings.FIRSTPROMOTER_SANDBOX_URL)
            sandbox = (address.hostname or "127.0.0.1", address.port or 80)
            servers.append(sandbox)
            options = ["--host", sandbox[0], "--port", str(sandbox[1])]
            commands.append([sys.executable, "-m", "django_firstpromoter.sandbox", *options])
        for host, taken in servers:
            if listening(host, taken):
                raise CommandError(f"{host}:{taken} is taken: is another `make demo` running?")
        # Their own session, so that Ctrl-C reaches only this command, which then
        # stops each of them in turn (no traceback from every child).
        processes = [
            subprocess.Popen(command, start_new_session=True, preexec_fn=obey_ctrl_c)
            for command in commands
        ]
        # A process manager (or `timeout`) stops the demo with SIGTERM: the same as Ctrl-C.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            self.wait_until_listening(servers, processes)
            self.stdout.write(self.tour(f"http://{HOST}:{port}"))
            self.stdout.flush()
            while all(process.poll() is None for process in processes):
                time.sleep(0.5)
            raise CommandError("a demo process stopped; see its output above")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping the demo.")
        finally:
            stop(processes)

    def manage(self, *args: str) -> list[str]:
        return [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args]

    def add_demo_user(self) -> None:
        username, password = DEMO_USER
        User = get_user_model()
        if not User.objects.filter(username=username).exists():
            User.objects.create_superuser(username, f"{username}@example.com", password)

    def wait_until_listening(
        self, servers: list[tuple[str, int]], processes: list[subprocess.Popen[bytes]]
    ) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not all(listening(host, port) for host, port in servers):
            if any(process.poll() is not None for process in processes):
                raise CommandError("a demo process did not start; see its output above")
            if time.monotonic() > deadline:
                raise CommandError(f"not listening after {STARTUP_SECONDS} s: {servers}")
            time.sleep(0.2)

    def tour(self, shop: str) -> str:
        username, password = DEMO_USER
        if settings.USES_SANDBOX:
            where = f"and on the sandbox's dashboard, {settings.FIRSTPROMOTER_SANDBOX_URL}/"
            retry = (
                '  5. For a retry, press "Set error rate" on the sandbox\'s dashboard and buy\n'
                '     again (the order stays pending), then "Heal": the worker sends it.\n'
            )
        else:
            where = "and in your FirstPromoter account (real credentials are set: it is real)"
            retry = ""
        return (
            "\n"
            "The demo is running. Try it:\n"
            f"  1. Open {shop}/?fpr=alice  (alice's referral link)\n"
            "  2. Buy a plan with any email and press Pay: the order page shows alice's reward.\n"
            f"  3. See the sale in the admin, {shop}/admin/django_firstpromoter/sale/\n"
            f"     (user {username!r}, password {password!r}: for this demo only),\n"
            f"     {where}.\n"
            f"  4. In {shop}/admin/django_firstpromoter/reward/ select alice's reward and run\n"
            '     "Approve commission" (it asks first), then "Refresh from FirstPromoter":\n'
            "     the reward says FirstPromoter approved it.\n"
            f"{retry}"
            "Ctrl-C stops it all.\n"
        )


def listening(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def obey_ctrl_c() -> None:
    """Run in each child before it starts: a shell starts background jobs with
    SIGINT ignored, and the children would inherit that; stop() relies on it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Ctrl-C for each (the worker finishes the sale it is sending), then a kill for
    any that has not stopped within a few seconds."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
