"""expire_old_payments: pending splits past expires_at become expired, exactly once, never a paid one."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from django_redis import get_redis_connection

from payments import store
from payments.models import PaymentEvent, PaymentSplit, SplitStatus
from payments.services.maintenance import splits_expire
from payments.services.transitions import lock_split, transition_split
from tests.factories import PaymentSplitFactory
from tests.payments.maintenance.conftest import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)


def _overdue(n: int) -> list[PaymentSplit]:
    past = timezone.now() - timedelta(minutes=1)
    splits = PaymentSplitFactory.create_batch(n, expires_at=past)
    for split in splits:
        store.put(split)
    return splits


def _end_state() -> tuple[dict[str, str], int]:
    statuses = dict(PaymentSplit.objects.values_list("payment_hash", "status"))
    return statuses, PaymentEvent.objects.filter(event_type="expired").count()


def test_overdue_pending_splits_expire_with_event_and_hot_key_evicted() -> None:
    # given
    overdue = _overdue(3)
    fresh = PaymentSplitFactory()
    paid = PaymentSplitFactory(status=SplitStatus.PAID, expires_at=timezone.now() - timedelta(minutes=5))
    redis = get_redis_connection("hot")
    assert redis.exists(store.tip_key(overdue[0].payment_hash))
    # when
    result = splits_expire(batch_size=2)
    # then
    assert result.expired == 3
    assert result.batches == 2
    for split in overdue:
        split.refresh_from_db()
        assert split.status == SplitStatus.EXPIRED
        event = PaymentEvent.objects.get(split_id=split.payment_hash, event_type="expired")
        assert (event.from_status, event.to_status) == ("pending", "expired")
        assert not redis.exists(store.tip_key(split.payment_hash))
    fresh.refresh_from_db()
    paid.refresh_from_db()
    assert fresh.status == SplitStatus.PENDING
    assert paid.status == SplitStatus.PAID


def test_running_twice_gives_the_same_end_state() -> None:
    _overdue(4)
    first = splits_expire()
    state = _end_state()
    second = splits_expire()
    assert (first.expired, second.expired) == (4, 0)
    assert _end_state() == state
    assert state[1] == 4


def test_concurrent_runs_expire_each_split_once() -> None:
    _overdue(30)
    results = run_concurrently(lambda: splits_expire(batch_size=5))
    assert sum(r.expired for r in results) == 30
    statuses, expired_events = _end_state()
    assert set(statuses.values()) == {SplitStatus.EXPIRED}
    assert expired_events == 30


def test_split_paid_while_locked_elsewhere_is_never_expired() -> None:
    # given: another connection holds the split's lock and is marking it paid
    (split,) = _overdue(1)
    locked, release = threading.Event(), threading.Event()

    def pay() -> None:
        try:
            with transaction.atomic():
                row = lock_split(payment_hash=split.payment_hash)
                assert row is not None
                locked.set()
                release.wait(timeout=10)
                transition_split(row, SplitStatus.PAID, event_type="paid", paid_at=timezone.now())
        finally:
            connection.close()

    payer = threading.Thread(target=pay)
    payer.start()
    assert locked.wait(timeout=10)
    # when: expiry runs while the lock is held (it must skip the row, not wait and not expire it)
    during = splits_expire()
    release.set()
    payer.join(timeout=10)
    after = splits_expire()
    # then
    split.refresh_from_db()
    assert (during.expired, after.expired) == (0, 0)
    assert split.status == SplitStatus.PAID
    assert not PaymentEvent.objects.filter(split_id=split.payment_hash, event_type="expired").exists()


def test_command_prints_what_it_did() -> None:
    import io

    _overdue(2)
    out = io.StringIO()
    call_command("expire_old_payments", stdout=out)
    assert "expired 2 split(s)" in out.getvalue()
