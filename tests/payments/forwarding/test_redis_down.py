"""Forwarding with Redis down: the money path needs only PostgreSQL and Blink. Redis holds the hot copy,
the advisory lock and the Celery queue; while it is away a forward already running completes (exactly
once), and when Redis comes back with its old data the hot copies that could not be updated are repaired
instead of serving a finished sale as "paid" to polling terminals until their TTL.

Redis here is a server of the test's own (``blinkpos.devservices.EmbeddedRedis``, with its append-only
file, like production's), really stopped and started again: nothing is mocked."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from blinkpos.devservices import EmbeddedRedis
from fakeblink import FakeBlink
from payments import store
from payments.models import LegStatus, PaymentLeg, SplitStatus
from payments.services.detection import payment_check
from payments.services.forwarding import forward_split
from payments.tasks.maintenance import hotstore_repair_task
from tests.payments.forwarding.conftest import MakeSplit, assert_money_invariants, split_status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def own_redis(settings: Any) -> Iterator[EmbeddedRedis]:
    """The hot store and the default cache on a Redis server this test can stop and start."""
    server = EmbeddedRedis(persist=True, label="test-redis-down", first_port=26500)
    server.start()
    caches = copy.deepcopy(settings.CACHES)
    for alias in caches.values():
        alias["LOCATION"] = server.url
    settings.CACHES = caches  # Django drops its cache connections when CACHES changes
    try:
        yield server
    finally:
        server.stop()
        if server.data_dir is not None:
            shutil.rmtree(server.data_dir, ignore_errors=True)


def test_a_forward_completes_with_redis_down_and_the_hot_copy_is_repaired_after(
    own_redis: EmbeddedRedis, fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    # given: a paid sale whose hot copy says "paid" (what a polling terminal reads)
    split = make_split(base=1000, tips=(100, 50))
    store.put(split)
    fake_blink.pay_invoice_as_customer(split.payment_hash)
    assert payment_check(split=split, source="test") == "paid"
    hot = store.get(split.payment_hash)
    assert hot is not None and hot["status"] == "paid"

    # when: Redis goes away and the forward runs
    own_redis.stop()
    outcome = forward_split(split_id=split.pk)

    # then: every share is paid exactly once, from PostgreSQL's decisions alone
    assert outcome == "completed"
    assert split_status(split.pk) == SplitStatus.COMPLETED
    legs = list(PaymentLeg.objects.filter(split_id=split.pk))
    assert len(legs) == 3 and all(leg.status == LegStatus.SUCCEEDED for leg in legs)
    for leg in legs:
        assert fake_blink.debits_for(leg.payment_hash or "") == 1
    # and a status read meanwhile is answered from PostgreSQL
    fallback = store.get(split.payment_hash)
    assert fallback is not None and fallback["status"] == "completed"

    # when: Redis comes back with the data it had (its append-only file), stale "paid" copy included
    own_redis.start()
    stale = own_redis.client().get(store.tip_key(split.payment_hash))
    assert stale is not None and b'"paid"' in stale  # the eviction after completion could not happen

    # and: the hot-store repair job runs (beat, every 20 s)
    repaired = store.repair_recent()

    # then: a terminal polling the sale sees it completed
    assert repaired >= 1
    assert own_redis.client().get(store.tip_key(split.payment_hash)) is None
    document = store.get(split.payment_hash)
    assert document is not None and document["status"] == "completed"
    assert_money_invariants(fake_blink, [split.pk], reconcile=False)


def test_the_repair_covers_the_whole_outage_and_then_only_what_changed(
    own_redis: EmbeddedRedis, fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    # given: a repair ran while Redis was up, then Redis went down and two sales moved on
    first, second = make_split(), make_split()
    for split in (first, second):
        store.put(split)
        fake_blink.pay_invoice_as_customer(split.payment_hash)
        payment_check(split=split, source="test")
    store.repair_recent()
    own_redis.stop()
    for split in (first, second):
        assert forward_split(split_id=split.pk) == "completed"

    # when: a repair is attempted while Redis is still down, then after it is back
    with pytest.raises(store.HotStoreUnavailable):
        store.repair_recent()
    assert hotstore_repair_task() == {"corrected": None}  # beat's tick logs and waits for the next one
    own_redis.start()
    repaired = store.repair_recent()

    # then: both sales changed during the outage are repaired, and a second pass has nothing to do
    assert repaired == 2
    for split in (first, second):
        assert own_redis.client().get(store.tip_key(split.payment_hash)) is None
    assert store.repair_recent() == 0
