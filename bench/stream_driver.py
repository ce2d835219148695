"""The database side of the streams scenario (``python -m bench.stream_driver``, the stack's environment).

``seed MERCHANT_ID COUNT OUT``: COUNT pending sales of the merchant's bench terminal, written straight
to the bench database (with their ``created`` events) — 5 000 invoices through the create endpoint
would spend minutes at the fake Blink for nothing the streams measure. Writes their hashes to OUT.

``change HASHES_FILE COUNT GAP OUT``: pending → paid for the first COUNT hashes, GAP seconds apart,
through the real transition helper (so the publish after commit is the product's own). For each,
records the wall-clock time right after its COMMIT (the first on-commit hook of the transaction runs
before the product's publish) into OUT as JSON ``{hash: t_commit}``.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blinkpos.settings.dev")
    import django

    django.setup()


def seed(merchant_id: int, count: int, out: Path) -> None:
    from django.db import transaction
    from django.utils import timezone

    from payments.models import Merchant, PaymentEvent, PaymentSplit, SplitStatus, Terminal
    from payments.models.events import retention_class_for

    merchant = Merchant.objects.get(pk=merchant_id)
    terminal = Terminal.objects.filter(merchant=merchant).order_by("pk").first()
    expires = timezone.now() + timedelta(hours=2)
    hashes: list[str] = []
    for start in range(0, count, 1000):
        batch = [
            PaymentSplit(
                merchant=merchant,
                terminal=terminal,
                payment_hash=secrets.token_hex(32),
                external_id=uuid.uuid4().hex,
                user_wallet_id=merchant.wallet_id,
                username=merchant.blink_username,
                base_amount=1000,
                tip_amount=100,
                total_amount=1100,
                invoice_satoshis=1100,
                status=SplitStatus.PENDING,
                expires_at=expires,
                receipt_token=secrets.token_urlsafe(32),
            )
            for _ in range(min(1000, count - start))
        ]
        with transaction.atomic():
            PaymentSplit.objects.bulk_create(batch)
            PaymentEvent.objects.bulk_create(
                PaymentEvent(
                    split_id=s.payment_hash,
                    event_type="created",
                    to_status=SplitStatus.PENDING,
                    retention_class=retention_class_for("created"),
                )
                for s in batch
            )
        hashes += [s.payment_hash for s in batch]
    out.write_text("\n".join(hashes))


def change(hashes_file: Path, count: int, gap: float, out: Path) -> None:
    from django.db import transaction
    from django.utils import timezone

    from payments.models import SplitStatus
    from payments.services.transitions import lock_split, transition_split

    hashes = hashes_file.read_text().split()[:count]
    committed: dict[str, float] = {}
    for payment_hash in hashes:
        with transaction.atomic():
            transaction.on_commit(lambda h=payment_hash: committed.__setitem__(h, time.time()))  # type: ignore[misc]
            split = lock_split(payment_hash=payment_hash)
            assert split is not None
            transition_split(split, SplitStatus.PAID, event_type="paid", paid_at=timezone.now())
        time.sleep(gap)
    out.write_text(json.dumps(committed))


if __name__ == "__main__":
    _setup()
    command, args = sys.argv[1], sys.argv[2:]
    if command == "seed":
        seed(int(args[0]), int(args[1]), Path(args[2]))
    elif command == "change":
        change(Path(args[0]), int(args[1]), float(args[2]), Path(args[3]))
    else:
        raise SystemExit(f"unknown command {command!r}")
