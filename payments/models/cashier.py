"""Cashier PINs: a staff member's PIN on one terminal, for the cashier's view (``/cashier/``).

A PIN opens a session limited to that terminal's sales (docs/ARCHITECTURE.md, Receipts and the
cashier's view). Only a Django password hash is stored; wrong PINs are counted on the row and lock it
for a while (``payments.services.cashier_pins``).
"""

from __future__ import annotations

from django.db import models

from payments.models.parties import Staff, Terminal


class CashierPin(models.Model):
    terminal = models.ForeignKey(Terminal, on_delete=models.CASCADE, related_name="cashier_pins")
    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="cashier_pins")
    pin_hash = models.CharField(max_length=128, help_text="Django password hash of the PIN")
    # Granted by the merchant; the refunds feature enforces it (the cashier's view only shows the control).
    can_refund = models.BooleanField(default=False, db_default=False)
    failed_attempts = models.PositiveIntegerField(default=0, db_default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # A session remembers this: changing the PIN (or its grant) ends the sessions opened with the old one.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "cashier_pins"
        ordering = ["terminal_id", "staff_id"]
        constraints = [models.UniqueConstraint(fields=["terminal", "staff"], name="cashier_pin_unique_staff")]

    def __str__(self) -> str:
        return f"PIN of staff {self.staff_id} on terminal {self.terminal_id}"
