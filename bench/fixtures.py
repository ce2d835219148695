"""Bench parties: ``python -m bench.fixtures FAKE_URL`` (run with the stack's environment).

Creates, on the fake Blink, one merchant and three staff accounts and, in the bench database, the
matching merchant, staff, a three-way split profile and one terminal with a key the bench knows.
Prints JSON: terminal_key, merchant_id, staff_ids, profile_id, merchant_wallet_id, platform_wallet_id.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
from typing import Any

import httpx


def _fake_wallet(client: httpx.Client, username: str) -> str:
    reply = client.post("/control/accounts", json={"username": username, "balance": 0}).json()
    wallets = reply["wallets"]
    if isinstance(wallets, dict):
        return str(wallets.get("BTC") or next(iter(wallets.values())))
    first = wallets[0]
    return str(first["id"] if isinstance(first, dict) else first)


def main(fake_url: str) -> dict[str, Any]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blinkpos.settings.dev")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from payments.models import Merchant, SplitProfile, SplitProfileShare, Staff, Terminal

    tag = secrets.token_hex(3)
    with httpx.Client(base_url=fake_url, timeout=10) as fake:
        platform = fake.get("/control/health").json().get("platform_wallet_id")
        merchant_wallet = _fake_wallet(fake, f"benchcafe{tag}")
        staff_wallets = [_fake_wallet(fake, f"benchstaff{tag}{i}") for i in range(3)]

    user = get_user_model().objects.create_user(username=f"bench{tag}", password=secrets.token_urlsafe(16))
    merchant = Merchant.objects.create(
        user=user, name=f"Bench Cafe {tag}", blink_username=f"benchcafe{tag}", wallet_id=merchant_wallet
    )
    staff = [
        Staff.objects.create(
            merchant=merchant, display_name=f"Staff {i}", blink_username=f"benchstaff{tag}{i}", wallet_id=wallet
        )
        for i, wallet in enumerate(staff_wallets)
    ]
    # Weights must sum to 10 000 at commit (a deferred trigger checks it): one transaction.
    with transaction.atomic():
        profile = SplitProfile.objects.create(merchant=merchant, name="Bench team")
        for member, weight in zip(staff, (3334, 3333, 3333), strict=True):
            SplitProfileShare.objects.create(profile=profile, staff=member, weight_bps=weight)
    prefix = secrets.token_hex(4)
    key = f"bpos_{prefix}_{secrets.token_urlsafe(24).replace('_', 'x')}"
    Terminal.objects.create(
        merchant=merchant, name="Bench till", key_prefix=prefix, key_hash=hashlib.sha256(key.encode()).hexdigest()
    )
    return {
        "terminal_key": key,
        "merchant_id": merchant.pk,
        "staff_ids": [s.pk for s in staff],
        "profile_id": profile.pk,
        "merchant_wallet_id": merchant_wallet,
        "staff_wallet_ids": staff_wallets,
        "platform_wallet_id": platform,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
