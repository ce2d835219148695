"""Revoking a terminal key or deactivating its merchant takes effect with the very next request in
every process that can see Redis (payments/terminal_keys.py: the auth generation), on the DRF path and
on the status poll's one-round-trip fast path, including against the read-then-set race that used to
keep a revoked key working for up to a minute."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client, override_settings
from django_redis import get_redis_connection

from payments import store, terminal_keys
from payments.models import PaymentSplit
from payments.services.parties import merchant_set_active
from payments.services.terminals import terminal_revoke
from tests.factories import PaymentSplitFactory
from tests.payments.api.conftest import Shop

URL = "/api/v1/invoices"
pytestmark = pytest.mark.django_db(transaction=True)  # revocation acts after commit


def hot(shop: Shop) -> PaymentSplit:
    split = PaymentSplitFactory(merchant=shop.merchant, terminal=shop.terminal)
    store.put(split)
    return split


def poll(api: Client, shop: Shop, split: PaymentSplit) -> Any:
    return api.get(f"{URL}/{split.payment_hash}", **shop.auth)


def create(api: Client, shop: Shop) -> Any:
    return api.post(URL, data=json.dumps({"amount_sats": 100}), content_type="application/json", **shop.auth)


def other_process_memory(shop: Shop) -> Callable[[], None]:
    """What another web process remembers of the terminal now; calling the result puts it back into
    this process's memory after the change, as that process (which ran no on-commit hook) still has it."""
    record = terminal_keys.remembered(shop.terminal.key_prefix)
    assert record is not None, "the terminal must have been used first"
    saved = dict(record)

    def restore() -> None:
        with terminal_keys._local_lock:
            terminal_keys._local[shop.terminal.key_prefix] = (float("inf"), dict(saved))

    return restore


def test_revocation_refuses_the_next_request_in_another_process_on_both_paths(
    api: Client, shop: Shop, round_trips: list[bytes]
) -> None:
    # given a terminal polling on the fast path, remembered by another process too
    split = hot(shop)
    assert poll(api, shop, split).status_code == 200  # the DRF path: now remembered
    round_trips.clear()
    assert poll(api, shop, split).status_code == 200
    assert len(round_trips) == 1  # the fast path: one round trip
    restore = other_process_memory(shop)

    # when the key is revoked (in "this" process)
    terminal_revoke(terminal=shop.terminal)
    restore()

    # then the very next poll from the other process's memory is refused (fast path sees the stale
    # generation in its one script, the DRF path refuses the key) ...
    response = poll(api, shop, split)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    # ... and so is a create, whatever the other process remembers
    restore()
    assert create(api, shop).status_code == 401
    assert PaymentSplit.objects.count() == 1


def test_a_lookup_racing_the_revocation_cannot_cache_the_key_as_valid(api: Client, shop: Shop) -> None:
    # given a lookup that read the generation and PostgreSQL before the revocation committed ...
    split = hot(shop)
    prefix = shop.terminal.key_prefix
    conn = get_redis_connection("default")
    generation, _ = terminal_keys._current(conn, prefix)
    stale = terminal_keys._from_database(prefix)
    assert stale is not None and stale["revoked"] is False

    # ... and wrote what it read after the revocation (the read-then-set race)
    terminal_revoke(terminal=shop.terminal)
    stale["generation"] = generation
    conn.set(terminal_keys.terminal_cache_key(prefix), json.dumps(stale), ex=60)
    with terminal_keys._local_lock:
        terminal_keys._local[prefix] = (float("inf"), dict(stale))

    # then nobody trusts it: its generation is not the current one
    assert poll(api, shop, split).status_code == 401
    assert create(api, shop).status_code == 401
    record = terminal_keys.lookup(prefix)
    assert record is not None and record["revoked"] is True


def test_deactivating_the_merchant_refuses_its_keys_at_once_and_reactivating_restores_them(
    api: Client, shop: Shop
) -> None:
    # given a terminal in use, remembered by another process
    split = hot(shop)
    assert poll(api, shop, split).status_code == 200
    assert poll(api, shop, split).status_code == 200
    restore = other_process_memory(shop)

    # when the merchant is deactivated
    merchant_set_active(merchant=shop.merchant, active=False)
    restore()

    # then its keys no longer authenticate: the poll and the create are refused, nothing written
    response = poll(api, shop, split)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    restore()
    assert create(api, shop).status_code == 403
    assert PaymentSplit.objects.count() == 1

    # and reactivating works at once too
    merchant_set_active(merchant=shop.merchant, active=True)
    assert poll(api, shop, split).status_code == 200


def test_without_redis_nothing_cached_is_trusted(api: Client, shop: Shop) -> None:
    # given a terminal this process remembers, revoked, and then Redis unreachable
    split = hot(shop)
    assert poll(api, shop, split).status_code == 200
    restore = other_process_memory(shop)
    terminal_revoke(terminal=shop.terminal)
    restore()
    caches = copy.deepcopy(django_settings.CACHES)
    for alias in caches.values():
        alias["LOCATION"] = "redis://127.0.0.1:1/0"  # nothing listens there

    # when, then: no cached record can be checked, so PostgreSQL decides, and refuses the key
    with override_settings(CACHES=caches):
        record = terminal_keys.lookup(shop.terminal.key_prefix)
        assert record is not None and record["revoked"] is True
        assert poll(api, shop, split).status_code == 401
