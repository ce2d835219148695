"""A merchant's pooling setup: tip mode, terminal groups, roles, the pool rule and its tip-outs, which
terminal is in which group and each staff member's role. Every refusal names its field; nothing is
written on a refusal. docs/ARCHITECTURE.md, Shifts and pooled tips.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Sum

from blinkpos.errors import ApplicationError
from payments.models import Merchant, PoolMethod, PoolRule, Staff, StaffRole, Terminal, TerminalGroup, TipOut
from payments.models.shifts import TipMode


class PoolSettingRefused(ApplicationError):
    code = "invalid_input"
    http_status = 400


def _refuse(field: str, message: str) -> PoolSettingRefused:
    return PoolSettingRefused(message, fields={field: [message]})


def _name(value: object, field: str, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _refuse(field, "Give a name.")
    if len(value.strip()) > max_length:
        raise _refuse(field, f"At most {max_length} characters.")
    return value.strip()


def _int(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _refuse(field, f"A whole number from {low} to {high}.")
    return value


def tip_mode_set(*, merchant: Merchant, tip_mode: object, method: object) -> Merchant:
    """Pooled or per sale, and the merchant's default pool rule. Applies to new sales only."""
    if tip_mode not in TipMode.values:
        raise _refuse("tip_mode", "Choose per sale or pooled.")
    if method not in PoolMethod.values:
        raise _refuse("method", "Choose how the pool is shared.")
    with transaction.atomic():
        merchant.tip_mode = str(tip_mode)
        merchant.save(update_fields=["tip_mode", "updated_at"])
        PoolRule.objects.update_or_create(merchant=merchant, group=None, defaults={"method": method})
    return merchant


def group_add(*, merchant: Merchant, name: object) -> TerminalGroup:
    clean = _name(name, "name", 120)
    try:
        with transaction.atomic():
            return TerminalGroup.objects.create(merchant=merchant, name=clean)
    except IntegrityError as exc:
        raise _refuse("name", "You already have a group with this name.") from exc


def role_save(*, merchant: Merchant, name: object, weight: object) -> StaffRole:
    """Add a role, or change the weight of the one with this name (weight in hundredths: 100 = 1x)."""
    clean = _name(name, "name", 60)
    value = _int(weight, "weight", 1, 100_000)
    role, _ = StaffRole.objects.update_or_create(merchant=merchant, name=clean, defaults={"weight": value})
    return role


def tip_out_set(*, merchant: Merchant, role_id: object, percent_bps: object) -> TipOut | None:
    """The default rule's tip-out for a role (0 removes it). The tip-outs together stay within 100 %."""
    role = StaffRole.objects.filter(pk=role_id, merchant=merchant).first() if isinstance(role_id, int) else None
    if role is None:
        raise _refuse("role_id", "Choose one of your roles.")
    bps = _int(percent_bps, "percent_bps", 0, 10_000)
    with transaction.atomic():
        rule, _ = PoolRule.objects.select_for_update().get_or_create(merchant=merchant, group=None)
        others = rule.tip_outs.exclude(role=role).aggregate(t=Sum("percent_bps"))["t"] or 0
        if others + bps > 10_000:
            raise _refuse("percent_bps", f"The tip-outs would add up to {(others + bps) / 100:g} % of the pool.")
        if bps == 0:
            rule.tip_outs.filter(role=role).delete()
            return None
        tip_out, _ = TipOut.objects.update_or_create(rule=rule, role=role, defaults={"percent_bps": bps})
        return tip_out


def terminal_group_set(*, merchant: Merchant, terminal_id: object, group_id: object) -> Terminal:
    """Put a terminal in a group (``group_id`` None: in none; its tips are then forwarded per sale)."""
    terminal = (
        Terminal.objects.filter(pk=terminal_id, merchant=merchant).first() if isinstance(terminal_id, int) else None
    )
    if terminal is None:
        raise _refuse("terminal_id", "Choose one of your terminals.")
    group = None
    if group_id is not None:
        group = (
            TerminalGroup.objects.filter(pk=group_id, merchant=merchant).first() if isinstance(group_id, int) else None
        )
        if group is None:
            raise _refuse("group_id", "Choose one of your groups.")
    terminal.group = group
    terminal.save(update_fields=["group"])
    return terminal


def staff_role_set(*, merchant: Merchant, staff_id: object, role_id: object) -> Staff:
    """A staff member's role (``role_id`` None: no role, weight 1x and no tip-out)."""
    staff = Staff.objects.filter(pk=staff_id, merchant=merchant).first() if isinstance(staff_id, int) else None
    if staff is None:
        raise _refuse("staff_id", "Choose one of your staff.")
    role = None
    if role_id is not None:
        role = StaffRole.objects.filter(pk=role_id, merchant=merchant).first() if isinstance(role_id, int) else None
        if role is None:
            raise _refuse("role_id", "Choose one of your roles.")
    staff.role = role
    staff.save(update_fields=["role"])
    return staff
