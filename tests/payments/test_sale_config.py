"""The sale-configuration generation (payments/sale_config.py): which writes set a new generation (after
their commit, once per transaction) and which do not, and a Redis outage during the bump."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from django_redis import get_redis_connection
from redis import Redis
from redis.backoff import NoBackoff
from redis.connection import AbstractConnection
from redis.retry import Retry
from structlog.testing import capture_logs

from payments import sale_config
from payments.api.common import touch_terminal
from payments.models import SplitProfileShare, Staff, Terminal, TerminalGroup
from payments.models.parties import PayoutRouteKind
from payments.services.payout_routes import PayoutRoute, payout_route_record
from tests.factories import MerchantFactory, SplitProfileShareFactory, StaffFactory, TerminalFactory

pytestmark = pytest.mark.django_db


def generation() -> bytes | None:
    value: bytes | None = get_redis_connection("hot").get(sale_config.GENERATION_KEY)
    return value


@pytest.fixture
def sets(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The SET commands of the generation this process sends to Redis (a spy: they still go out)."""
    sent: list[bytes] = []
    original = AbstractConnection.send_packed_command

    def counting(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        packed = b"".join(command) if isinstance(command, list) else bytes(command)
        if b"\r\nSET\r\n" in packed and sale_config.GENERATION_KEY.encode() in packed:
            sent.append(packed)
        original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return sent


def _share() -> SplitProfileShare:
    return SplitProfileShareFactory()


CHANGES: list[tuple[str, Callable[[SplitProfileShare, Terminal], None]]] = [
    ("merchant saved", lambda share, _: share.profile.merchant.save()),
    ("terminal saved", lambda _, terminal: terminal.save(update_fields=["name"])),
    ("staff saved", lambda share, _: share.staff.save()),
    ("profile saved", lambda share, _: share.profile.save()),
    ("share saved", lambda share, _: share.save()),
    ("share deleted", lambda share, _: share.delete()),
    ("queryset delete", lambda share, _: SplitProfileShare.objects.filter(pk=share.pk).delete()),
    ("group deleted", lambda _, terminal: TerminalGroup.objects.filter(pk=terminal.group_id).delete()),
]


@pytest.mark.parametrize("change", [c for _, c in CHANGES], ids=[name for name, _ in CHANGES])
def test_a_change_to_a_row_the_create_reads_sets_a_new_generation_after_its_commit(
    change: Callable[[SplitProfileShare, Terminal], None], django_capture_on_commit_callbacks: Any
) -> None:
    share = _share()
    group = TerminalGroup.objects.create(merchant=share.profile.merchant, name="Bar")
    terminal = TerminalFactory(merchant=share.profile.merchant, group=group)
    sale_config.bump()
    before = generation()

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        change(share, terminal)
        assert generation() == before  # not before the commit

    assert generation() not in (None, before)


def test_writes_the_create_never_reads_set_no_generation(django_capture_on_commit_callbacks: Any) -> None:
    terminal = TerminalFactory()
    staff = StaffFactory(merchant=terminal.merchant)
    sale_config.bump()
    before = generation()
    route = PayoutRoute(kind=PayoutRouteKind.CUSTODIAL, wallet_id="w1", checked_at=timezone.now())

    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        touch_terminal(terminal.pk)  # once a minute per terminal
        terminal.last_used_at = timezone.now()
        terminal.save(update_fields=["last_used_at"])
        payout_route_record(party=staff, route=route)  # every forward

    assert callbacks == [] and generation() == before


def test_fifty_changes_in_one_transaction_set_one_generation(
    sets: list[bytes], django_capture_on_commit_callbacks: Any
) -> None:
    merchant = MerchantFactory()
    people = [StaffFactory(merchant=merchant) for _ in range(50)]

    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        for person in people:
            person.display_name += " (new)"
            person.save()
        assert sets == []

    assert len(callbacks) == 50 and len(sets) == 1


def test_a_savepoint_rolled_back_keeps_the_bump_of_what_committed(
    sets: list[bytes], django_capture_on_commit_callbacks: Any
) -> None:
    merchant = MerchantFactory()
    before = generation()

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        try:
            with transaction.atomic():
                merchant.save()
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        StaffFactory(merchant=merchant)  # this one commits: it must still set a generation

    assert len(sets) == 1 and generation() not in (None, before)


@pytest.mark.django_db(transaction=True)
def test_redis_down_during_the_bump_is_logged_and_the_change_commits(monkeypatch: pytest.MonkeyPatch) -> None:
    staff = StaffFactory()

    def unreachable(_alias: str = "") -> Redis:
        return Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))

    monkeypatch.setattr(sale_config, "get_redis_connection", unreachable)
    with capture_logs() as logs, transaction.atomic():
        staff.is_active = False
        staff.save()

    assert Staff.objects.get(pk=staff.pk).is_active is False
    failures = [e for e in logs if e["event"] == "sale_config.generation_not_bumped"]
    assert len(failures) == 1 and failures[0]["log_level"] == "error"
