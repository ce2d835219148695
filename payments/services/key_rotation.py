"""Re-encrypt stored secrets under the newest key of ``FIELD_ENCRYPTION_KEYS``.

Procedure (README "Key rotation procedure"): put a new key in front of the list, deploy, run
``manage.py rotate_encryption_keys``, and only when it reports zero remaining and zero undecryptable
values remove the old key. Values already under the newest key are skipped, so the command is
resumable and safe to run twice or concurrently (rows are claimed with SKIP LOCKED, one short
transaction per batch). A value no configured key can open is reported by id and left untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import models, transaction

from blinkpos.logging import get_logger
from payments import sale_config
from payments.crypto import SecretDecryptionError, is_current, rotate_secret
from payments.models import Merchant, PaymentSplit, PlatformAccount

log = get_logger(__name__)

ENCRYPTED_FIELDS: tuple[tuple[type[models.Model], str], ...] = (
    (Merchant, "blink_api_key_encrypted"),
    (PaymentSplit, "user_api_key_encrypted"),
    (PlatformAccount, "api_key_encrypted"),
    (PlatformAccount, "webhook_secrets_encrypted"),
)


@dataclass(kw_only=True)
class FieldRotation:
    label: str
    scanned: int = 0
    rotated: int = 0
    already_current: int = 0
    undecryptable_ids: list[int] = field(default_factory=list)


@dataclass(kw_only=True)
class RotationReport:
    fields: list[FieldRotation] = field(default_factory=list)

    @property
    def rotated(self) -> int:
        return sum(f.rotated for f in self.fields)

    @property
    def undecryptable(self) -> int:
        return sum(len(f.undecryptable_ids) for f in self.fields)


def _rotate_field(model: type[models.Model], field_name: str, *, batch_size: int) -> FieldRotation:
    label = f"{model._meta.label}.{field_name}"
    result = FieldRotation(label=label)
    base = model._default_manager.exclude(**{field_name: ""}).order_by("pk")
    last_pk = 0
    while True:
        with transaction.atomic():
            # SKIP LOCKED: a concurrent run takes other rows; a row it holds is current when we come back.
            rows = list(
                base.filter(pk__gt=last_pk)
                .select_for_update(skip_locked=True, of=("self",))
                .only("pk", field_name)[:batch_size]
            )
            for row in rows:
                result.scanned += 1
                token = getattr(row, field_name)
                if is_current(token):
                    result.already_current += 1
                    continue
                try:
                    fresh = rotate_secret(token)
                except SecretDecryptionError:
                    result.undecryptable_ids.append(row.pk)
                    continue
                model._default_manager.filter(pk=row.pk).update(**{field_name: fresh})
                result.rotated += 1
                if model in sale_config.WATCHED_MODELS:  # the create's fast path keeps merchants' rows
                    sale_config.bump_on_commit()
        if not rows:
            break
        last_pk = rows[-1].pk
        log.info("key_rotation.batch", field=label, rotated=result.rotated, scanned=result.scanned, last_id=last_pk)
        if len(rows) < batch_size:
            break
    log.info(
        "key_rotation.field_done",
        field=label,
        scanned=result.scanned,
        rotated=result.rotated,
        already_current=result.already_current,
        undecryptable=len(result.undecryptable_ids),
        undecryptable_ids=result.undecryptable_ids[:100],
    )
    return result


def encryption_keys_rotate(*, batch_size: int = 500) -> RotationReport:
    """Re-encrypt every stored secret not already under the newest key. Never drops a value."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    return RotationReport(fields=[_rotate_field(m, f, batch_size=batch_size) for m, f in ENCRYPTED_FIELDS])
