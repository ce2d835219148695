"""The back office: every model's admin pages, read-only money, search/filters, actions and the overview."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from analytics.models import SystemMetric
from fakeblink import FakeBlink
from payments.models import (
    CashierPin,
    LegStatus,
    Merchant,
    PaymentEvent,
    PaymentSplit,
    SplitStatus,
    Staff,
    Terminal,
)
from payments.services.cashier_pins import cashier_pin_set
from tests.factories import (
    MerchantFactory,
    PaymentLegFactory,
    PaymentSplitFactory,
    StaffFactory,
    TerminalFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> Client:
    user = UserFactory(username="operator", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


def _admin_url(model: type, view: str = "changelist", *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda m: m.__name__)
def test_every_registered_model_has_a_working_changelist(operator: Client, model: type) -> None:
    PaymentLegFactory(status=LegStatus.FAILED)
    response = operator.get(_admin_url(model))
    assert response.status_code == 200


def test_payments_models_are_all_registered() -> None:
    from django.apps import apps

    for model in apps.get_app_config("payments").get_models():
        assert model in admin.site._registry, model.__name__
    assert SystemMetric in admin.site._registry


def test_admin_refuses_non_staff_users() -> None:
    client = Client()
    client.force_login(UserFactory(username="cashier", is_staff=False))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_split_detail_shows_legs_and_audit_trail_with_money_read_only(operator: Client) -> None:
    split = PaymentSplitFactory(status=SplitStatus.PROCESSING, base_amount=900, tip_amount=100)
    PaymentLegFactory(split=split, amount=900, recipient_username="cafe-wallet", last_error="timeout at provider")
    PaymentEvent.objects.create(split_id=split.payment_hash, event_type="created", to_status="pending")

    response = operator.get(_admin_url(PaymentSplit, "change", split.pk))

    body = response.content.decode()
    assert response.status_code == 200
    assert "cafe-wallet" in body and "timeout at provider" in body  # the leg inline
    assert "created" in body  # the audit trail inline
    for field in ("total_amount", "base_amount", "tip_amount"):
        assert f'name="{field}"' not in body  # shown, never editable
    assert "user_api_key_encrypted" not in body


def test_split_change_post_does_not_change_money(operator: Client) -> None:
    split = PaymentSplitFactory(base_amount=1000, tip_amount=100)
    response = operator.post(_admin_url(PaymentSplit, "change", split.pk), {"total_amount": 5, "base_amount": 5})
    assert response.status_code == 403
    split.refresh_from_db()
    assert (split.total_amount, split.base_amount) == (1100, 1000)


def test_split_list_search_by_hash_and_status_filter(operator: Client) -> None:
    wanted = PaymentSplitFactory(status=SplitStatus.COMPLETED)
    other = PaymentSplitFactory(status=SplitStatus.PENDING)

    by_hash = operator.get(_admin_url(PaymentSplit), {"q": wanted.payment_hash})
    by_status = operator.get(_admin_url(PaymentSplit), {"status__exact": "pending"})

    assert list(by_hash.context["cl"].result_list) == [wanted]
    assert list(by_status.context["cl"].result_list) == [other]
    assert "bp-badge bp-ok" in by_hash.content.decode()  # status colour


def test_split_list_filters_by_recipient_and_merchant_and_date(operator: Client) -> None:
    alice = PaymentSplitFactory(tip_recipient="alice")
    PaymentSplitFactory(tip_recipient="bob")
    old = PaymentSplitFactory()
    PaymentSplit.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))

    assert list(operator.get(_admin_url(PaymentSplit), {"tip_recipient": "alice"}).context["cl"].result_list) == [alice]
    by_merchant = operator.get(_admin_url(PaymentSplit), {"merchant__id__exact": alice.merchant_id})
    assert list(by_merchant.context["cl"].result_list) == [alice]
    since = (timezone.now() - timedelta(days=7)).date().isoformat()
    recent = operator.get(_admin_url(PaymentSplit), {"created_at__gte": since})
    assert old not in list(recent.context["cl"].result_list)


def test_export_csv_action(operator: Client) -> None:
    split = PaymentSplitFactory(memo="=HYPERLINK(evil)", tip_recipient="alice")
    response = operator.post(_admin_url(PaymentSplit), {"action": "export_csv", "_selected_action": [split.pk]})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows[0]["payment_hash"] == split.payment_hash
    assert rows[0]["total_sats"] == "1150"
    assert rows[0]["memo"] == "'=HYPERLINK(evil)"  # formula neutralised


def test_admin_action_needs_csrf_token() -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(username="op2", is_staff=True, is_superuser=True))
    split = PaymentSplitFactory()
    response = client.post(_admin_url(PaymentSplit), {"action": "export_csv", "_selected_action": [split.pk]})
    assert response.status_code == 403


def test_payout_queue_lists_only_stuck_legs_oldest_first(operator: Client) -> None:
    from payments.admin.payouts import PayoutQueueItem

    newer = PaymentLegFactory(status=LegStatus.UNKNOWN)
    older = PaymentLegFactory(status=LegStatus.FAILED, last_error="RECEIVE_DISABLED")
    pending = PaymentLegFactory(status=LegStatus.PENDING)
    PaymentLegFactory(status=LegStatus.SUCCEEDED)
    PaymentLegFactory(status=LegStatus.PLANNED)
    from payments.models import PaymentLeg

    PaymentLeg.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(hours=3))
    PaymentLeg.objects.filter(pk=pending.pk).update(created_at=timezone.now() - timedelta(hours=1))

    response = operator.get(_admin_url(PayoutQueueItem))

    assert [leg.pk for leg in response.context["cl"].result_list] == [older.pk, pending.pk, newer.pk]
    assert "RECEIVE_DISABLED" in response.content.decode()


def test_resolve_action_asks_for_a_note_before_calling_the_service(operator: Client) -> None:
    from payments.admin.payouts import PayoutQueueItem

    leg = PaymentLegFactory(status=LegStatus.UNKNOWN)
    url = _admin_url(PayoutQueueItem)

    first = operator.post(url, {"action": "resolve_legs", "_selected_action": [leg.pk]})
    empty_note = operator.post(
        url, {"action": "resolve_legs", "_selected_action": [leg.pk], "confirm": "1", "note": ""}
    )

    assert first.status_code == 200 and "Mark resolved" in first.content.decode()
    assert empty_note.status_code == 200 and "This field is required" in empty_note.content.decode()
    leg.refresh_from_db()
    assert leg.status == LegStatus.UNKNOWN
    assert not PaymentEvent.objects.filter(event_type="leg_resolved").exists()


def test_terminal_admin_creates_through_the_service_and_shows_the_key_once(operator: Client) -> None:
    merchant = MerchantFactory()
    response = operator.post(_admin_url(Terminal, "add"), {"merchant": merchant.pk, "name": "Front till"}, follow=True)

    terminal = Terminal.objects.get(name="Front till")
    shown = [str(m) for m in response.context["messages"]]
    assert any("shown only this once" in m for m in shown)
    key = next(m for m in shown if "shown only this once" in m).rsplit(" ", 1)[-1]
    assert terminal.key_prefix in key
    assert key not in operator.get(_admin_url(Terminal, "change", terminal.pk)).content.decode()


def test_terminal_revoke_action(operator: Client) -> None:
    terminal = TerminalFactory()
    operator.post(_admin_url(Terminal), {"action": "revoke", "_selected_action": [terminal.pk]})
    terminal.refresh_from_db()
    assert terminal.revoked_at is not None


def test_staff_admin_shows_recipient_check_flag(operator: Client) -> None:
    StaffFactory(display_name="Dana", wallet_check_ok=False, wallet_check_error="RecipientNotFound")
    response = operator.get(_admin_url(type(StaffFactory._meta.model())), {"wallet_check_ok__exact": "0"})
    body = response.content.decode()
    assert "Dana" in body and "RecipientNotFound" in body


def test_overview_shows_statistics_from_the_views(operator: Client) -> None:
    PaymentSplitFactory(status=SplitStatus.COMPLETED, base_amount=2000, tip_amount=345)
    PaymentSplitFactory(status=SplitStatus.PENDING, tip_amount=0)

    response = operator.get(reverse("admin:index"))

    body = response.content.decode()
    assert response.status_code == 200
    assert response.context["today"]["value"]["total_volume"] == 2345
    assert response.context["active"]["value"]["count"] == 1
    assert response.context["components"]["value"]["postgres"]["status"] == "up"
    assert response.context["queues"]["ok"]
    assert '<svg class="bp-chart"' in body
    assert "Payout queue" in body or "payout queue" in body


def test_system_metric_chart_for_a_filtered_metric(operator: Client) -> None:
    for value in (1, 5, 3):
        SystemMetric.objects.create(metric_name="hot_store_hit_ratio", metric_value=value, metric_unit="%")
    response = operator.get(_admin_url(SystemMetric), {"metric_name__exact": "hot_store_hit_ratio"})
    body = response.content.decode()
    assert body.count("<rect") == 3
    assert "hot_store_hit_ratio" in body


@pytest.mark.django_db(transaction=True)
def test_resolve_with_a_note_calls_the_service_and_records_it(operator: Client) -> None:
    from payments.admin.payouts import PayoutQueueItem

    split = PaymentSplitFactory(status=SplitStatus.FAILED, base_amount=1000, tip_amount=0, paid_at=timezone.now())
    leg = PaymentLegFactory(split=split, amount=1000, status=LegStatus.FAILED)

    response = operator.post(
        _admin_url(PayoutQueueItem),
        {"action": "resolve_legs", "_selected_action": [leg.pk], "confirm": "1", "note": "paid by hand, ref 42"},
        follow=True,
    )

    leg.refresh_from_db()
    assert leg.status == LegStatus.RESOLVED
    event = PaymentEvent.objects.get(leg=leg, event_type="leg_resolved")
    assert "paid by hand, ref 42" in str(event.event_data)
    assert any("marked resolved" in str(m) for m in response.context["messages"])


@pytest.mark.django_db(transaction=True)
def test_retry_forwarding_action_calls_the_service(operator: Client) -> None:
    failed = PaymentSplitFactory(status=SplitStatus.FAILED, base_amount=1000, tip_amount=0, paid_at=timezone.now())
    PaymentLegFactory(split=failed, amount=1000, status=LegStatus.FAILED)
    completed = PaymentSplitFactory(status=SplitStatus.COMPLETED)

    response = operator.post(
        _admin_url(PaymentSplit),
        {"action": "retry_forwarding", "_selected_action": [failed.pk, completed.pk]},
        follow=True,
    )

    failed.refresh_from_db()
    assert failed.status == SplitStatus.PROCESSING
    assert PaymentEvent.objects.filter(split=failed, event_type="forwarding_retried").exists()
    shown = [str(m) for m in response.context["messages"]]
    assert any("Only failed payments can be retried" in m for m in shown)  # the completed one, no 500
    assert any("retried for 1 payment" in m for m in shown)


def test_merchants_needing_setup_can_be_filtered_and_completed(operator: Client) -> None:
    imported = MerchantFactory(user=None, blink_username="legacy-0123456789abcdef", needs_setup=True)
    imported.setup_note = "Imported from the legacy tip store: attach a login user"
    imported.save()
    MerchantFactory()
    owner = UserFactory(username="owner")

    listed = operator.get(_admin_url(Merchant), {"needs_setup__exact": "1"})
    page = operator.get(_admin_url(Merchant, "change", imported.pk)).content.decode()

    assert list(listed.context["cl"].result_list) == [imported]
    assert "attach a login user" in page and 'name="needs_setup"' in page
    data = {
        "name": imported.name,
        "user": owner.pk,
        "blink_username": "cafe",
        "display_currency": "USD",
        "tip_presets": "[10, 15, 20]",
        "is_active": "on",
        "setup_note": "",
    }
    assert operator.post(_admin_url(Merchant, "change", imported.pk), data).status_code == 302
    imported.refresh_from_db()
    assert (imported.user, imported.blink_username, imported.needs_setup) == (owner, "cafe", False)


def test_resolve_wallets_action_fills_in_an_unresolved_staff_member(operator: Client, fake_blink: FakeBlink) -> None:
    staff = StaffFactory(blink_username="alice", wallet_id="", wallet_check_ok=False, wallet_check_error="UNRESOLVED")
    wallet_id = fake_blink.add_account("alice")

    operator.post(_admin_url(Staff), {"action": "resolve_wallets", "_selected_action": [staff.pk]})

    staff.refresh_from_db()
    assert (staff.wallet_id, staff.wallet_check_ok, staff.wallet_check_error) == (wallet_id, True, "")


def test_deactivating_a_merchant_in_the_admin_makes_cached_terminal_records_stale(
    operator: Client, django_capture_on_commit_callbacks: Any
) -> None:
    from django_redis import get_redis_connection

    from payments import terminal_keys

    # given a terminal whose auth record is cached under the current generation
    terminal = TerminalFactory()
    merchant = terminal.merchant
    record = terminal_keys.lookup(terminal.key_prefix)
    assert record is not None and record["merchant_active"] is True

    # when an operator unticks "active" on the merchant
    form = {
        "name": merchant.name,
        "user": merchant.user_id or "",
        "blink_username": merchant.blink_username,
        "display_currency": merchant.display_currency,
        "tip_presets": "[10, 15, 20]",
        "setup_note": "",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(_admin_url(Merchant, "change", merchant.pk), form)
    assert response.status_code == 302, response.content

    # then the generation changed: the cached record is not trusted, the fresh one says inactive
    current = get_redis_connection("default").get(terminal_keys.AUTH_GENERATION_KEY).decode()
    assert current != record["generation"]
    fresh = terminal_keys.lookup(terminal.key_prefix)
    assert fresh is not None and fresh["merchant_active"] is False


def test_cashier_pins_are_listed_without_their_hash_and_a_lock_can_be_lifted(operator: Client) -> None:
    terminal = TerminalFactory()
    pin = cashier_pin_set(
        merchant=terminal.merchant,
        terminal_id=terminal.pk,
        staff_id=StaffFactory(merchant=terminal.merchant).pk,
        pin="2468",
    )
    CashierPin.objects.filter(pk=pin.pk).update(failed_attempts=3, locked_until=timezone.now() + timedelta(minutes=9))
    assert pin.pin_hash not in operator.get(_admin_url(CashierPin, "change", pin.pk)).content.decode()

    response = operator.post(_admin_url(CashierPin), {"action": "unlock", "_selected_action": [pin.pk]})

    assert response.status_code == 302
    pin.refresh_from_db()
    assert (pin.failed_attempts, pin.locked_until) == (0, None)
