"""The shifts part of ``seed_demo``: a terminal group with the demo till in it, roles (server, bar,
kitchen), a pool rule (hours x role weight, kitchen tip-out 10 %) and cashier PINs on the till for the
demo staff, so the web POS and the terminal API can clock them in. Idempotent. The merchant stays in
per-sale mode (the default); switching to pooled is one setting in Shifts."""

from __future__ import annotations

from collections.abc import Callable

from payments.models import CashierPin, Merchant, PoolRule, Staff, StaffRole, Terminal, TerminalGroup, TipOut
from payments.services.cashier_pins import cashier_pin_set

GROUP_NAME = "Main room"
ROLES = {"server": 100, "bar": 120, "kitchen": 100}
STAFF_ROLES = {"alice": "server", "bob": "bar", "carol": "kitchen"}
# Demo PINs on the demo till, printed by seed_demo (documented demo credentials, demo data only).
PINS = {"alice": "1111", "bob": "2222", "carol": "3333"}
KITCHEN_TIP_OUT_BPS = 1000


def seed_shifts(*, merchant: Merchant, staff: dict[str, Staff], terminal: Terminal, say: Callable[[str], None]) -> None:
    group, created = TerminalGroup.objects.get_or_create(merchant=merchant, name=GROUP_NAME)
    if created:
        say(f"terminal group {GROUP_NAME!r} created")
    if terminal.group_id is None:
        terminal.group = group
        terminal.save(update_fields=["group"])
    roles = {
        name: StaffRole.objects.get_or_create(merchant=merchant, name=name, defaults={"weight": weight})[0]
        for name, weight in ROLES.items()
    }
    for username, role in STAFF_ROLES.items():
        person = staff.get(username)
        if person is not None and person.role_id is None:
            person.role = roles[role]
            person.save(update_fields=["role"])
    rule, created = PoolRule.objects.get_or_create(merchant=merchant, group=None, defaults={"method": "hours_role"})
    if created:
        TipOut.objects.create(rule=rule, role=roles["kitchen"], percent_bps=KITCHEN_TIP_OUT_BPS)
        say("pool rule created: hours x role weight, kitchen tip-out 10 %")
    for username, pin in PINS.items():
        person = staff.get(username)
        if person is None or CashierPin.objects.filter(terminal=terminal, staff=person).exists():
            continue
        cashier_pin_set(merchant=merchant, terminal_id=terminal.pk, staff_id=person.pk, pin=pin)
        say(f"cashier PIN {pin} for @{username} on {terminal.name!r} (clock in on the web POS or the till)")
