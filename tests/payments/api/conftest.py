"""Fixtures for the POS API tests: merchants with staff, a team profile and a terminal, registered
as real accounts at the suite's fake Blink (root ``fake_blink`` fixture, real HTTP)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django_redis import get_redis_connection
from redis.connection import AbstractConnection

from fakeblink import FakeBlink
from payments import provider_limits, store
from payments.api import fast_gate
from payments.models import Merchant, SplitProfile, Staff, Terminal
from payments.services.parties import split_profile_save
from tests.factories import MerchantFactory, StaffFactory, TerminalFactory


@dataclass
class Shop:
    merchant: Merchant
    alice: Staff
    bob: Staff
    team: SplitProfile
    terminal: Terminal
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Api-Key {self.key}"}


@pytest.fixture
def make_shop(fake_blink: FakeBlink) -> Callable[[str], Shop]:
    """A merchant whose owner and staff are real accounts at the fake Blink."""

    def build(name: str) -> Shop:
        merchant = MerchantFactory(blink_username=f"{name}_owner", wallet_id=fake_blink.add_account(f"{name}_owner"))
        alice = StaffFactory(
            merchant=merchant, blink_username=f"{name}_alice", wallet_id=fake_blink.add_account(f"{name}_alice")
        )
        bob = StaffFactory(
            merchant=merchant, blink_username=f"{name}_bob", wallet_id=fake_blink.add_account(f"{name}_bob")
        )
        team = split_profile_save(merchant=merchant, name="Floor", shares=[(alice, 6000), (bob, 4000)])
        terminal = TerminalFactory(merchant=merchant)
        return Shop(merchant=merchant, alice=alice, bob=bob, team=team, terminal=terminal, key=terminal.plain_key)

    return build


@pytest.fixture
def shop(make_shop: Callable[[str], Shop]) -> Shop:
    return make_shop("shopa")


@pytest.fixture
def other_shop(make_shop: Callable[[str], Shop]) -> Shop:
    return make_shop("shopb")


@pytest.fixture
def api() -> Client:
    return Client(enforce_csrf_checks=True)


def tip_keys() -> list[bytes]:
    return list(get_redis_connection("hot").scan_iter("tip:*"))


@pytest.fixture
def inside_one_rate_window() -> None:
    """Start a rate-limit test with at least 10 s left in the current minute: the limits are fixed
    per-minute windows (``int(now // 60)``), and a test that counts requests across a window's edge
    would see its counter start again."""
    left = 60 - time.time() % 60
    if left < 10:
        time.sleep(left + 0.05)


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every write to a Redis socket from this process: one per command, one per pipeline or script.

    The project's Lua scripts are loaded on the server first: on a Redis that has never run one (a
    fresh server, or after SCRIPT FLUSH) its first EVALSHA is refused and redis-py loads it, which
    would count as extra round trips in whichever test happens to run first."""
    conn = get_redis_connection(store.HOT_ALIAS)
    for script in (fast_gate._SCRIPT, provider_limits._ADMIT_LUA):
        conn.script_load(script)
    sent: list[bytes] = []
    original = AbstractConnection.send_packed_command

    def counting(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        sent.append(b"".join(command) if isinstance(command, list) else bytes(command))
        original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return sent
