"""``python -m fakeblink``: run the fake Blink in the foreground until SIGTERM/SIGINT.

The platform API key, wallet id and webhook secret are read from environment variables (named by
options, so the app and the fake agree without anyone copying a key around, and no key shows up in
a process listing); the key is never printed. Needs no Django settings and no database.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

from fakeblink.blink import FakeBlink
from fakeblink.limits import LEVEL_ONE_INTRALEDGER_CENTS, InvoiceRateLimit, LimitsConfig
from fakeblink.webhooks import DEFAULT_STRING_AMOUNTS
from payments.wallet.errors import WalletError

DEMO_USERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("demo_merchant", ("BTC", "USD")),
    ("alice", ("BTC",)),
    ("bob", ("BTC",)),
    ("carol", ("BTC",)),
    ("dave_usd", ("USD",)),  # no BTC wallet: shows the WrongCurrency path
)
DEMO_OUTSIDE_USER = "dave"  # on the outside LNURL host (--outside-lnurl-port): dave@127.0.0.1:<port>


class UsageError(Exception):
    """A configuration the fake cannot run with; the message names the option or variable."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _count_or_off(value: str) -> int | None:
    """A limit: a whole number >= 0, or ``off``."""
    if value.strip().lower() == "off":
        return None
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be >= 0 or 'off'")
    return number


def _share(value: str) -> float:
    share = float(value)
    if not 0.0 <= share <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return share


def _add_limit_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "Blink's limits (on by default with Blink's values; see fakeblink/limits.py)",
        "Load runs that create many invoices on one account turn them off with --no-limits or raise them.",
    )
    group.add_argument("--no-limits", action="store_true", help="No invoice rate limit, no daily intraledger limit")
    group.add_argument(
        "--invoice-rate-limit",
        type=_count_or_off,
        default=InvoiceRateLimit().points,
        metavar="N|off",
        help="Invoice creations per window per account before a block (default: 60)",
    )
    group.add_argument("--invoice-rate-window", type=float, default=InvoiceRateLimit().window_seconds, metavar="S")
    group.add_argument("--invoice-rate-block", type=float, default=InvoiceRateLimit().block_seconds, metavar="S")
    group.add_argument(
        "--intraledger-daily-cents",
        type=_count_or_off,
        default=LEVEL_ONE_INTRALEDGER_CENTS,
        metavar="N|off",
        help="Rolling 24 h intraledger send volume per account, in US cents (default: 200000, level 1)",
    )
    group.add_argument(
        "--webhook-string-amounts",
        type=_share,
        default=DEFAULT_STRING_AMOUNTS,
        metavar="SHARE",
        help="Share of webhook messages whose settlementAmount/settlementFee are strings (seeded; default 0.5)",
    )


def limits_from(args: argparse.Namespace) -> LimitsConfig:
    if args.no_limits:
        return LimitsConfig.off()
    rate = None
    if args.invoice_rate_limit is not None and args.invoice_rate_limit > 0:
        rate = InvoiceRateLimit(
            points=args.invoice_rate_limit,
            window_seconds=args.invoice_rate_window,
            block_seconds=args.invoice_rate_block,
        )
    return LimitsConfig(invoice_rate=rate, intraledger_daily_cents=args.intraledger_daily_cents)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fakeblink",
        description="Run the fake Blink GraphQL server (loopback) with a ledger, scenarios and signed webhooks.",
    )
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
    parser.add_argument("--webhook-secret-env", default="BLINK_WEBHOOK_SECRET", help="Env var with the whsec_ secret")
    parser.add_argument("--platform-api-key-env", default="BLINK_API_KEY", help="Env var with the platform key")
    parser.add_argument("--platform-wallet-id-env", default="BLINK_WALLET_ID", help="Env var with the wallet id")
    parser.add_argument("--seed", type=int, default=None, help="Seed ids and invoices for reproducible runs")
    parser.add_argument("--pending-polls", type=int, default=3, help="Lookups before a PENDING send settles")
    _add_limit_options(parser)
    parser.add_argument(
        "--outside-lnurl-port",
        type=int,
        default=None,
        help="Also run a second LNURL host (outside Lightning addresses, scriptable misbehaviours) on this port",
    )
    parser.add_argument(
        "--log-level", default=os.environ.get("LOG_LEVEL", "INFO"), help="Python logging level (default: $LOG_LEVEL)"
    )
    return parser


def configure(args: argparse.Namespace, environ: dict[str, str]) -> FakeBlink:
    """A FakeBlink set up from the options (not started yet); ``UsageError`` names what is wrong."""
    api_key = environ.get(args.platform_api_key_env, "")
    if not api_key:
        raise UsageError(f"Set ${args.platform_api_key_env} to the platform API key.")
    wallet_id = environ.get(args.platform_wallet_id_env) or None
    try:
        fake = FakeBlink(
            host=args.host,
            port=args.port,
            platform_api_key=api_key,
            platform_wallet_id=wallet_id,
            seed=args.seed,
            pending_polls=args.pending_polls,
            limits=limits_from(args),
            webhook_string_amounts=args.webhook_string_amounts,
            outside_lnurl_port=args.outside_lnurl_port,
        )
    except (WalletError, ValueError) as exc:  # a malformed key or wallet id from the environment
        raise UsageError(f"cannot configure the fake Blink: {exc}") from exc
    if args.webhook_url:
        # BLINK_WEBHOOK_SECRET may list several secrets (rotation); the first one signs.
        secret = environ.get(args.webhook_secret_env, "").split(",")[0].strip()
        if not secret:
            raise UsageError(f"--webhook-url needs a whsec_ secret in ${args.webhook_secret_env}")
        try:
            fake.configure_webhooks(args.webhook_url, secret)
        except ValueError as exc:
            raise UsageError(f"${args.webhook_secret_env}: {exc}") from exc
    if args.demo:
        for username, currencies in DEMO_USERS:
            fake.add_account(username, currencies=currencies)
        if fake.outside is not None:
            fake.outside.add_user(DEMO_OUTSIDE_USER)  # the demo's staff member paid at an outside address
    if args.autopay is not None:
        fake.set_autopay(args.autopay)
    return fake


def announcement(fake: FakeBlink, args: argparse.Namespace) -> str:
    lines = [
        f"fake Blink listening on {fake.url} (control: {fake.base_url}/control/...)",
        f"  BLINK_API_URL={fake.url}",
        f"  BLINK_WALLET_ID={fake.platform_wallet_id}",
        f"  platform API key: from ${args.platform_api_key_env} (not printed)",
    ]
    lines.append(f"  Lightning addresses: <username>@{fake.base_url.split('://', 1)[1]}")
    if fake.outside is not None:
        lines.append(f"  outside LNURL host: <name>@{fake.outside.domain} (POST /control/outside/users)")
    if args.webhook_url:
        lines.append(f"  webhooks -> {args.webhook_url}")
    if args.autopay is not None:
        lines.append(f"  autopay: new platform invoices are paid after {args.autopay} s")
    config = fake.limits.config
    rate = config.invoice_rate
    lines.append(
        "  limits: "
        + (
            f"{rate.points} invoices / {rate.window_seconds:g} s then {rate.block_seconds:g} s blocked"
            if rate
            else "no invoice rate limit"
        )
        + "; "
        + (
            f"{config.intraledger_daily_cents} cents / 24 h intraledger"
            if config.intraledger_daily_cents is not None
            else "no daily intraledger limit"
        )
    )
    if args.demo:
        for username, _ in DEMO_USERS:
            wallets = ", ".join(f"{cur} {wid}" for cur, wid in fake.wallets_of(username).items())
            lines.append(f"  demo account {username}: {wallets}")
    lines.append("ready")  # launchers wait for this line (or for GET /control/health)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        fake = configure(args, dict(os.environ))
    except UsageError as exc:
        print(f"fakeblink: {exc}", file=sys.stderr)
        return 2
    if not is_loopback(args.host):
        print(
            f"WARNING: binding {args.host}: /control endpoints are reachable without authentication.", file=sys.stderr
        )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        try:
            fake.start()
        except OSError as exc:
            print(f"fakeblink: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 1
        print(announcement(fake, args), flush=True)
        stop.wait()
    finally:
        fake.stop()
    print("fake Blink stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
