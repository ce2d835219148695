"""POS terminals and their API keys.

A key is ``bpos_<8 hex prefix>_<secret>``: the prefix finds the row, the SHA-256 of the whole key
proves it. The plain key is returned once by ``terminal_create`` and never stored or logged.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from blinkpos.logging import get_logger
from payments import terminal_keys
from payments.models import Merchant, Terminal

log = get_logger(__name__)

_PREFIX_ATTEMPTS = 5


def terminal_create(*, merchant: Merchant, name: str) -> tuple[Terminal, str]:
    """A new terminal for ``merchant`` and its plain API key (shown to the operator once)."""
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        raise ValidationError({"name": ["This field is required."]})
    if len(name) > 120:
        raise ValidationError({"name": ["At most 120 characters."]})
    for _ in range(_PREFIX_ATTEMPTS):
        prefix, key = terminal_keys.new_key()
        try:
            with transaction.atomic():
                terminal = Terminal.objects.create(
                    merchant=merchant, name=name, key_prefix=prefix, key_hash=terminal_keys.hash_key(key)
                )
        except IntegrityError:  # 1 in 4 billion per existing terminal: draw another prefix
            continue
        log.info("terminal.created", terminal_id=terminal.pk, merchant_id=merchant.pk, key_prefix=prefix)
        return terminal, key
    raise RuntimeError("could not draw a unique terminal key prefix")


def terminal_revoke(*, terminal: Terminal) -> Terminal:
    """Revoke the key. After commit the shared (Redis) auth record and this process's copy are dropped,
    so the next request with the key is refused; other web processes forget their in-memory copy
    within ``terminal_keys.LOCAL_TTL_SECONDS`` (5 s)."""
    if terminal.revoked_at is None:
        with transaction.atomic():
            terminal.revoked_at = timezone.now()
            terminal.save(update_fields=["revoked_at"])
            prefix = terminal.key_prefix
            transaction.on_commit(lambda: terminal_keys.forget(prefix))
        log.info("terminal.revoked", terminal_id=terminal.pk, merchant_id=terminal.merchant_id)
    return terminal


def terminal_set_can_refund(*, terminal: Terminal, can_refund: bool) -> Terminal:
    """Let the terminal refund its merchant's completed sales through the API (or stop it). Read from
    PostgreSQL on every refund request (payments/api/refunds.py), so it applies at once."""
    if terminal.can_refund != can_refund:
        terminal.can_refund = can_refund
        terminal.save(update_fields=["can_refund"])
        log.info("terminal.refund_permission", terminal_id=terminal.pk, merchant_id=terminal.merchant_id, on=can_refund)
    return terminal
