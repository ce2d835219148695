"""``manage.py fake_blink``: run the fake Blink in the foreground until SIGTERM/SIGINT.

The platform API key and wallet id are taken from the environment (or settings) so the Django app
and the fake agree without anyone copying a key around; the key is never printed.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import threading
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from payments.wallet.errors import WalletError
from payments.wallet.fake import FakeBlink

DEMO_USERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("demo_merchant", ("BTC", "USD")),
    ("alice", ("BTC",)),
    ("bob", ("BTC",)),
    ("carol", ("BTC",)),
    ("dave_usd", ("USD",)),  # no BTC wallet: shows the WrongCurrency path
)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _from_env_or_settings(env_name: str | None, setting: str) -> str:
    if env_name and os.environ.get(env_name):
        return os.environ[env_name]
    return str(getattr(settings, setting, "") or "")


class Command(BaseCommand):
    help = "Run the fake Blink GraphQL server (loopback) with a ledger, scenarios and signed webhooks."
    # The fake needs neither the database nor the app's system checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--port", type=int, default=8089, help="TCP port (keep it below 32768)")
        parser.add_argument(
            "--host",
            default="127.0.0.1",
            help="Address to bind. The control endpoints are unauthenticated: anything but loopback is for "
            "an isolated dev network (e.g. docker compose) only.",
        )
        parser.add_argument("--demo", action="store_true", help="Seed demo accounts (demo_merchant, alice, ...)")
        parser.add_argument("--autopay", type=float, default=None, help="A customer pays new invoices after N seconds")
        parser.add_argument("--webhook-url", default=None, help="Deliver svix-signed platform events here")
        parser.add_argument(
            "--webhook-secret-env", default="BLINK_WEBHOOK_SECRET", help="Env var with the whsec_ secret"
        )
        parser.add_argument("--platform-api-key-env", default="BLINK_API_KEY", help="Env var with the platform key")
        parser.add_argument("--platform-wallet-id-env", default="BLINK_WALLET_ID", help="Env var with the wallet id")
        parser.add_argument("--seed", type=int, default=None, help="Seed ids and invoices for reproducible runs")
        parser.add_argument("--pending-polls", type=int, default=3, help="Lookups before a PENDING send settles")

    def handle(self, *args: Any, **options: Any) -> None:
        api_key = _from_env_or_settings(options["platform_api_key_env"], "BLINK_API_KEY")
        if not api_key:
            raise CommandError(f"Set {options['platform_api_key_env']} (or BLINK_API_KEY) to the platform API key.")
        wallet_id = _from_env_or_settings(options["platform_wallet_id_env"], "BLINK_WALLET_ID") or None
        host = options["host"]
        if not _is_loopback(host):
            self.stderr.write(f"WARNING: binding {host}: /control endpoints are reachable without authentication.")
        try:
            fake = FakeBlink(
                host=host,
                port=options["port"],
                platform_api_key=api_key,
                platform_wallet_id=wallet_id,
                seed=options["seed"],
                pending_polls=options["pending_polls"],
            )
        except WalletError as exc:  # a malformed key or wallet id from the environment
            raise CommandError(f"cannot configure the fake Blink: {exc}") from exc
        if options["webhook_url"]:
            # BLINK_WEBHOOK_SECRET may list several secrets (rotation); the first one signs.
            secret = os.environ.get(options["webhook_secret_env"], "").split(",")[0].strip()
            if not secret:
                raise CommandError(f"--webhook-url needs a whsec_ secret in ${options['webhook_secret_env']}")
            try:
                fake.configure_webhooks(options["webhook_url"], secret)
            except ValueError as exc:
                raise CommandError(f"${options['webhook_secret_env']}: {exc}") from exc
        if options["demo"]:
            for username, currencies in DEMO_USERS:
                fake.add_account(username, currencies=currencies)
        if options["autopay"] is not None:
            fake.set_autopay(options["autopay"])

        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            try:
                fake.start()
            except OSError as exc:
                raise CommandError(f"cannot listen on {host}:{options['port']}: {exc}") from exc
            self._announce(fake, options)
            stop.wait()
        finally:
            fake.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("fake Blink stopped")

    def _announce(self, fake: FakeBlink, options: dict[str, Any]) -> None:
        lines = [
            f"fake Blink listening on {fake.url} (control: {fake.base_url}/control/...)",
            f"  BLINK_API_URL={fake.url}",
            f"  BLINK_WALLET_ID={fake.platform_wallet_id}",
            f"  platform API key: from ${options['platform_api_key_env']} (not printed)",
        ]
        if options["webhook_url"]:
            lines.append(f"  webhooks -> {options['webhook_url']}")
        if options["autopay"] is not None:
            lines.append(f"  autopay: new platform invoices are paid after {options['autopay']} s")
        if options["demo"]:
            for username, _ in DEMO_USERS:
                wallets = ", ".join(f"{cur} {wid}" for cur, wid in fake.wallets_of(username).items())
                lines.append(f"  demo account {username}: {wallets}")
        lines.append("ready")
        self.stdout.write("\n".join(lines))
        self.stdout.flush()
