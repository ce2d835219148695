"""Fixtures for the forwarding tests: parties with real accounts at the fake Blink, splits whose
customer invoice really exists there, signed webhook deliveries, REAL Celery worker processes (started
and stopped by PID), and the money invariants every scenario ends with."""

from __future__ import annotations

import base64
import json
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from django_redis import get_redis_connection
from svix.webhooks import Webhook

from blinkpos.celery_queues import ALL_QUEUES
from fakeblink import FakeBlink
from payments.models import LegStatus, PaymentEvent, PaymentLeg, PaymentSplit, SplitStatus
from payments.services.detection import payment_detected
from payments.services.reconcile import reconcile_once
from payments.services.transitions import LEG_TRANSITIONS, SPLIT_TRANSITIONS
from payments.wallet.provider import get_wallet_provider, reset_wallet_provider
from tests.database_url import database_url_for_tests
from tests.factories import MerchantFactory, PaymentLegFactory, PaymentSplitFactory, StaffFactory

ROOT = Path(__file__).resolve().parents[3]
SECRET = settings.BLINK_WEBHOOK_SECRETS[0]  # blinkpos.settings.test makes a fresh one per run


@pytest.fixture(autouse=True)
def _patient_provider(fake_blink: FakeBlink, settings: Any) -> None:
    """These tests script their timeouts explicitly (TIMEOUT, TIMEOUT_AFTER_APPLY drop the socket at
    once); a loaded CI machine must not add accidental ones."""
    settings.BLINK_READ_TIMEOUT = 5.0
    reset_wallet_provider()


@dataclass
class Parties:
    merchant: Any
    staff: list[Any]
    usernames: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def parties(fake_blink: FakeBlink) -> Parties:
    tag = uuid.uuid4().hex[:6]
    m_user = f"shop_{tag}"
    merchant = MerchantFactory(blink_username=m_user, wallet_id=fake_blink.add_account(m_user))
    staff = []
    for i in range(2):
        username = f"staff{i}_{tag}"
        staff.append(
            StaffFactory(merchant=merchant, blink_username=username, wallet_id=fake_blink.add_account(username))
        )
    return Parties(merchant=merchant, staff=staff)


MakeSplit = Callable[..., PaymentSplit]


@pytest.fixture
def make_split(fake_blink: FakeBlink, parties: Parties) -> MakeSplit:
    """A pending split whose customer invoice exists at the fake, with a merchant leg and one tip leg
    per share in ``tips`` (sats each)."""

    def make(
        *, base: int = 1000, tips: tuple[int, ...] = (100, 50), expires_in: timedelta | None = None
    ) -> PaymentSplit:
        total = base + sum(tips)
        external_id = uuid.uuid4().hex
        invoice = get_wallet_provider().create_invoice(
            amount_sats=total, memo="test sale", expires_in_minutes=15, external_id=external_id
        )
        split = PaymentSplitFactory(
            merchant=parties.merchant,
            payment_hash=invoice.payment_hash,
            external_id=external_id,
            base_amount=base,
            tip_amount=sum(tips),
            invoice_satoshis=total,
            payment_request=invoice.payment_request,
            expires_at=timezone.now() + (expires_in if expires_in is not None else timedelta(minutes=15)),
        )
        PaymentLegFactory(split=split, kind="merchant", amount=base)
        for staff, amount in zip(parties.staff, tips, strict=False):
            PaymentLegFactory(
                split=split,
                kind="tip",
                staff=staff,
                recipient_username=staff.blink_username,
                recipient_wallet_id=staff.wallet_id,
                amount=amount,
            )
        return split

    return make


# --- webhooks ----------------------------------------------------------------------------------


def receive_body(
    fake: FakeBlink, split_hash: str, amount: int, *, status: str = "success", event_type: str = "receive.lightning"
) -> bytes:
    body = {
        "accountId": fake.platform.id,
        "walletId": fake.platform_wallet_id,
        "eventType": event_type,
        "transaction": {
            "id": uuid.uuid4().hex[:24],
            "walletId": fake.platform_wallet_id,
            "status": status,
            "settlementAmount": amount if event_type.startswith("receive") else -amount,
            "settlementCurrency": "BTC",
            "initiationVia": {"type": "lightning", "paymentHash": split_hash},
            "settlementVia": {"type": "lightning", "revealedPreImage": None},
        },
    }
    return json.dumps(body, separators=(",", ":")).encode()


def sign(body: bytes, *, secret: str = SECRET, svix_id: str | None = None, offset: float = 0) -> dict[str, str]:
    # Whole seconds rounded toward "now", so +-299 s really is inside the window when verified.
    target = time.time() + offset
    when = datetime.fromtimestamp(math.ceil(target) if offset < 0 else math.floor(target), UTC)
    msg_id = svix_id or f"msg_{uuid.uuid4().hex}"
    return {
        "svix-id": msg_id,
        "svix-timestamp": str(int(when.timestamp())),
        "svix-signature": Webhook(secret).sign(msg_id, when, body.decode()),
        "content-type": "application/json",
    }


def paid_body(fake: FakeBlink, split_hash: str) -> tuple[bytes, str]:
    """The fake's own ``receive.lightning`` body for paying ``split_hash`` (with the real preimage Blink
    reveals) and that preimage. The fake's dispatcher records it while delivering to a port nothing
    listens on; the test then posts it itself, re-signed."""
    fake.configure_webhooks("http://127.0.0.1:9/webhooks/blink", SECRET)
    try:
        fake.pay_invoice_as_customer(split_hash)
        message = next(
            m for m in fake.webhook_messages() if m["event_type"] == "receive.lightning" and split_hash in m["body"]
        )
    finally:
        fake.configure_webhooks(None, None)
    body = message["body"].encode()
    preimage = json.loads(body)["transaction"]["settlementVia"]["revealedPreImage"]
    assert isinstance(preimage, str) and len(preimage) == 64
    return body, preimage


def paid_split(fake: FakeBlink, make_split: MakeSplit, **kwargs: object) -> PaymentSplit:
    """A split made with ``make_split(**kwargs)``, paid by the customer at the fake and detected."""
    split = make_split(**kwargs)
    fake.pay_invoice_as_customer(split.payment_hash)
    assert payment_detected(payment_hash=split.payment_hash, amount_sats=split.total_amount, source="test") == "paid"
    return split


def queue_length() -> int:
    """Messages waiting in the broker's queues (the test process's Redis db)."""
    client = get_redis_connection("hot")
    return sum(int(client.llen(name)) for name in ALL_QUEUES)


def queued_messages() -> list[dict[str, Any]]:
    """The broker's waiting messages, decoded: ``{"task", "args", "kwargs", "raw"}`` where ``raw`` is
    everything the message carries (headers and decoded body) as text, to search for secrets."""
    out = []
    client = get_redis_connection("hot")
    for item in (item for name in ALL_QUEUES for item in client.lrange(name, 0, -1)):
        envelope = json.loads(item)
        body = base64.b64decode(envelope["body"]).decode()
        args, kwargs, _embed = json.loads(body)
        out.append({"task": envelope["headers"]["task"], "args": args, "kwargs": kwargs, "raw": item.decode() + body})
    return out


# --- Celery worker processes -------------------------------------------------------------------------


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()[-3000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready:\n{self.log()[-3000:]}")

    def wait_exit(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


StartWorker = Callable[..., Worker]


@pytest.fixture
def start_worker(fake_blink: FakeBlink, tmp_path: Path) -> Iterator[StartWorker]:
    """Start ``celery -A blinkpos worker --pool=solo`` against the TEST database, this test's Redis db
    and the fake Blink. ``fault`` sets BLINKPOS_FAULT (the worker SIGKILLs itself at that point)."""
    workers: list[Worker] = []

    def start(*, fault: str | None = None) -> Worker:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.payments.forwarding.worker_settings",
            "DATABASE_URL": database_url_for_tests(),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "BLINK_API_URL": fake_blink.url,
            "BLINK_API_KEY": fake_blink.platform_api_key,
            "BLINK_WALLET_ID": fake_blink.platform_wallet_id,
            # The advisory lock of a killed worker must not delay the restarted one for 5 minutes.
            "CACHE_TTLS_JSON": json.dumps({"lock": 1}),
            "PG_POOL_MIN": "1",
            "PYTHONPATH": str(ROOT),
            "BLINK_LIGHTNING_ADDRESS_DOMAIN": settings.BLINK_LIGHTNING_ADDRESS_DOMAIN,
            "BLINK_LIGHTNING_DOMAINS": ",".join(settings.BLINK_LIGHTNING_DOMAINS),
            "LNURL_ALLOW_HTTP_HOSTS": ",".join(settings.LNURL_ALLOW_HTTP_HOSTS),
            "MERCHANT_WEBHOOKS_ALLOW_HTTP_HOSTS": ",".join(settings.MERCHANT_WEBHOOKS_ALLOW_HTTP_HOSTS),
        }
        env.pop("BLINKPOS_FAULT", None)
        if fault:
            env["BLINKPOS_FAULT"] = fault
        log_path = tmp_path / f"worker-{len(workers)}.log"
        handle = log_path.open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "blinkpos",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"w{len(workers)}-{uuid.uuid4().hex[:6]}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        worker = Worker(proc=proc, log_path=log_path)
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()


# --- waiting and invariants ----------------------------------------------------------------------


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def split_status(split_id: int) -> str:
    return PaymentSplit.objects.values_list("status", flat=True).get(pk=split_id)


def net_debits(fake: FakeBlink, payout_hash: str) -> int:
    """Successful sends for this invoice minus reimbursements (a refunded failure is not a debit). A
    RECEIVE no larger than a send's fee is the unused routing fee Blink returns after an outside
    payment (payments/wallet/mapping.py), not a refund: the send stands."""
    txs = [t for t in fake.transactions(fake.platform_wallet_id) if t["payment_hash"] == payout_hash]
    sent = sum(1 for t in txs if t["direction"] == "SEND" and t["status"] == "SUCCESS")
    max_fee = max((t.get("fee") or 0 for t in txs if t["direction"] == "SEND"), default=0)
    refunded = sum(1 for t in txs if t["direction"] == "RECEIVE" and not 0 < t["amount"] <= max_fee)
    return sent - refunded


def payout_invoice_status(fake: FakeBlink, payment_hash: str) -> str | None:
    """The fake's status of a payout invoice: one of its own, or one of an outside node (LNURL)."""
    own = fake.invoice(payment_hash)
    if own is not None:
        return str(own["status"])
    outside = fake.ledger.external.invoices.get(payment_hash)
    return None if outside is None else ("PAID" if outside.paid else "PENDING")


def committed_payout_hashes(leg: PaymentLeg) -> set[str]:
    """Every payout invoice ever committed for the leg: each ``leg_invoice_created`` event records the
    hash it committed (an expired invoice is replaced by a new one), plus the leg's current one."""
    recorded = PaymentEvent.objects.filter(leg_id=leg.pk, event_type="leg_invoice_created").values_list(
        "event_data", flat=True
    )
    hashes = {data["payout_hash"] for data in recorded if isinstance(data, dict) and data.get("payout_hash")}
    return hashes | ({leg.payment_hash} if leg.payment_hash else set())


def assert_money_invariants(
    fake: FakeBlink, split_ids: list[int], *, reconcile: bool = True, allow_refunds: bool = False
) -> None:
    """The money rules after a scenario (three healthy reconciler runs first, unless told not to)."""
    if reconcile:
        for _ in range(3):
            reconcile_once(lease_seconds=0, stale_seconds=0)
    for split_id in split_ids:
        split = PaymentSplit.objects.get(pk=split_id)
        legs = list(PaymentLeg.objects.filter(split_id=split_id).order_by("pk"))
        received = split.received_amount if split.received_amount is not None else split.total_amount
        assert sum(leg.amount for leg in legs) == received == split.total_amount
        assert split.status not in (SplitStatus.PROCESSING, SplitStatus.PAID), split.status
        events = list(PaymentEvent.objects.filter(split_id=split.payment_hash))
        for leg in legs:
            assert leg.status not in (LegStatus.PENDING, LegStatus.UNKNOWN, LegStatus.SENDING), (leg.pk, leg.status)
            # Debits are counted over every invoice ever committed for the leg, not only the current
            # one: a double payment across a replaced (expired) invoice and its successor is still two.
            hashes = committed_payout_hashes(leg)
            if allow_refunds:
                assert sum(net_debits(fake, h) for h in hashes) <= 1, leg.pk
            else:
                assert sum(fake.debits_for(h) for h in hashes) <= 1, leg.pk
            succeeded = [e for e in events if e.event_type == "leg_succeeded" and e.leg_id == leg.pk]
            assert len(succeeded) == (1 if leg.status == LegStatus.SUCCEEDED else 0)
            if leg.status == LegStatus.SUCCEEDED:
                assert sum(net_debits(fake, h) for h in hashes) == 1, leg.pk
                assert payout_invoice_status(fake, leg.payment_hash or "") == "PAID"
        if split.status == SplitStatus.COMPLETED:
            assert sum(1 for e in events if e.event_type == "completed") == 1
            assert sum(1 for e in events if e.event_type == "forwarding_completed") == 1
        for e in events:
            if not e.from_status and not e.to_status:
                continue
            if e.event_type == "created" and not e.from_status:  # a split made by invoice_create & co.
                assert e.to_status == SplitStatus.PENDING
                continue
            table = LEG_TRANSITIONS if e.leg_id else SPLIT_TRANSITIONS
            assert e.to_status in table[e.from_status], (e.event_type, e.from_status, e.to_status)
