"""Demo data for ``make run``: a user, a merchant, three staff, a team profile and a terminal, and for
shifts a terminal group, roles, a pool rule and the staff's cashier PINs (``_demo_shifts``).

Idempotent: what exists is kept, what is missing is created. Usernames are resolved at the wallet
provider (the fake Blink seeds them in demo mode); an existing demo party whose wallet id no longer
resolves the same (the in-memory fake restarted without a seed) is brought up to date, so forwarding
in the demo pays the wallets that exist now. The terminal key is printed only when it is created:
only its hash is stored, so it cannot be shown again (revoke the terminal to get a new one).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from payments.management.commands._demo_shifts import seed_shifts
from payments.models import Merchant, PayCode, SplitProfile, Staff, StaffLogin, Terminal
from payments.services.parties import merchant_create, split_profile_save, staff_create
from payments.services.paycodes import paycode_create
from payments.services.pricing import ProviderError, ProviderUnavailable
from payments.services.staff_access import staff_login_update, staff_portal_get_or_create
from payments.services.terminals import terminal_create
from payments.wallet.provider import get_wallet_provider

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-pos-1234"  # noqa: S105  (documented demo credential, demo data only)
MERCHANT_USERNAME = "demo_merchant"
STAFF = (("Alice", "alice"), ("Bob", "bob"), ("Carol", "carol"))
# Dave keeps his tips in an outside wallet: only a Lightning address (DEMO_OUTSIDE_LIGHTNING_ADDRESS,
# the fake's outside LNURL host under ``make run``); left out when that setting is empty.
OUTSIDE_NAME, OUTSIDE_KEY = "Dave", "dave"
TEAM_NAME = "Floor team"
TEAM_WEIGHTS = {"alice": 4000, "bob": 3000, "carol": 2000, OUTSIDE_KEY: 1000}
TERMINAL_NAME = "Demo till"
# Static pay codes (username, kind): payments to the cafe, tips for Alice, tips for the team.
DEMO_STAFF_EMAIL, DEMO_STAFF_PIN = "alice@demo.invalid", "1111"  # the same as her demo cashier PIN
PAY_CODES = (("democafe", "merchant"), ("alice-tips", "staff"), ("floor-tips", "team"))


class Command(BaseCommand):
    help = "Create the demo merchant, staff, split profile, pay codes and terminal (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self._seed()
        except (ProviderUnavailable, ProviderError) as exc:
            raise CommandError(f"wallet provider not reachable: {exc}") from exc
        except ValidationError as exc:
            raise CommandError(f"demo data refused: {exc.message_dict}") from exc

    def _seed(self) -> None:
        user = self._user()
        merchant = Merchant.objects.filter(blink_username=MERCHANT_USERNAME).first()
        if merchant is None:
            merchant = merchant_create(user=user, name="Demo Cafe", blink_username=MERCHANT_USERNAME)
            self._say(f"merchant @{MERCHANT_USERNAME} created")
        else:
            self._refresh_wallet(merchant)
        staff = {username: self._staff(merchant, name, username) for name, username in STAFF}
        address = getattr(settings, "DEMO_OUTSIDE_LIGHTNING_ADDRESS", "")
        if address:
            staff[OUTSIDE_KEY] = self._outside_staff(merchant, address)
        weights = {u: w for u, w in TEAM_WEIGHTS.items() if u in staff}
        if OUTSIDE_KEY not in staff:
            weights["alice"] += TEAM_WEIGHTS[OUTSIDE_KEY]
        if not SplitProfile.objects.filter(merchant=merchant, name=TEAM_NAME).exists():
            split_profile_save(merchant=merchant, name=TEAM_NAME, shares=[(staff[u], w) for u, w in weights.items()])
            split = ", ".join(f"{u} {w // 100} %" for u, w in weights.items())
            self._say(f"split profile {TEAM_NAME!r} created ({split})")
        self._pay_codes(merchant, staff["alice"], SplitProfile.objects.get(merchant=merchant, name=TEAM_NAME))
        terminal = Terminal.objects.filter(merchant=merchant, name=TERMINAL_NAME, revoked_at__isnull=True).first()
        if terminal is None:
            terminal, key = terminal_create(merchant=merchant, name=TERMINAL_NAME)
            self._say(f"terminal {TERMINAL_NAME!r} created; its API key (shown once): {key}")
        seed_shifts(merchant=merchant, staff=staff, terminal=terminal, say=self._say)
        self._staff_sign_in(merchant, staff["alice"])
        self._say(f"log in as {DEMO_USER!r} / {DEMO_PASSWORD!r}")

    def _pay_codes(self, merchant: Merchant, alice: Staff, team: SplitProfile) -> None:
        for username, kind in PAY_CODES:
            if PayCode.objects.filter(username=username).exists():
                continue
            paycode_create(
                merchant=merchant,
                kind=kind,
                username=username,
                staff=alice if kind == "staff" else None,
                split_profile=team if kind == "team" else None,
            )
            self._say(f"pay code {username}@<this host> created (poster in Settings)")

    def _user(self) -> Any:
        user_model = get_user_model()
        user = user_model.objects.filter(username=DEMO_USER).first()
        if user is None:
            user = user_model.objects.create_user(username=DEMO_USER, password=DEMO_PASSWORD)
            self._say(f"user {DEMO_USER!r} created")
        return user

    def _staff_sign_in(self, merchant: Merchant, alice: Staff) -> None:
        """Alice can see her own tips at /staff/: the staff code, her username and a PIN (or a link mailed
        to her address, which the dev server prints)."""
        if not StaffLogin.objects.filter(staff=alice).exclude(pin_hash="").exists():
            staff_login_update(merchant=merchant, staff_id=alice.pk, email=DEMO_STAFF_EMAIL, pin=DEMO_STAFF_PIN)
        code = staff_portal_get_or_create(merchant=merchant).code
        self._say(f"staff sign-in at /staff/login/: code {code}, 'alice' (or {DEMO_STAFF_EMAIL}), PIN {DEMO_STAFF_PIN}")

    def _staff(self, merchant: Merchant, name: str, username: str) -> Staff:
        existing = Staff.objects.filter(merchant=merchant, blink_username=username).first()
        if existing is not None:
            self._refresh_wallet(existing)
            return existing
        self._say(f"staff @{username} created")
        return staff_create(merchant=merchant, display_name=name, blink_username=username)

    def _outside_staff(self, merchant: Merchant, address: str) -> Staff:
        existing = Staff.objects.filter(merchant=merchant, display_name=OUTSIDE_NAME).first()
        if existing is not None:
            return existing
        self._say(f"staff {OUTSIDE_NAME} created, paid at the Lightning address {address}")
        return staff_create(merchant=merchant, display_name=OUTSIDE_NAME, payout_destination=address)

    @staticmethod
    def _refresh_wallet(party: Merchant | Staff) -> None:
        wallet = get_wallet_provider().resolve_username(username=party.blink_username)
        if wallet.wallet_id != party.wallet_id:
            party.wallet_id = wallet.wallet_id
            party.save(update_fields=["wallet_id"])

    def _say(self, message: str) -> None:
        self.stdout.write(f"seed_demo: {message}")
