"""``Idempotency-Key`` for POS requests: the first response is stored and replayed.

The claim is a row under ``UNIQUE(merchant, key)`` (the database decides who ran first, not an
``if``). A view calls ``idempotency_run`` once around the work it protects: it claims the key, replays a
finished request, or runs the work and stores (or, on failure, releases) the claim. The steps:

- ``idempotency_begin`` inserts the claim (no response yet) and returns it, or returns the stored
  ``Replay`` of a finished request with the same body; a different body is ``IdempotencyConflict``
  (422) and a claim still being worked on is ``IdempotencyInProgress`` (409, retry shortly).
- ``idempotency_complete`` stores the response (status + JSON body).
- ``idempotency_abandon`` deletes the claim when the request failed without side effects, so the
  client may retry with the same key.

A claim left unfinished by a crashed process is taken over after ``STALE_AFTER``. The earlier
attempt may have created an invoice nobody saw; a second invoice is shown instead, and the first
expires unpaid (a customer pays what they are shown, so no money is duplicated).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from blinkpos.errors import ApplicationError
from payments.models import IdempotencyRecord

STALE_AFTER = timedelta(minutes=2)
_KEY = re.compile(r"[\x21-\x7e]{1,255}")


class IdempotencyConflict(ApplicationError):
    """The key was used before with a different request body."""

    code = "idempotency_key_reused"
    http_status = 422

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was used with a different request body.",
            fields={"Idempotency-Key": ["Already used with a different body."]},
        )


class IdempotencyInProgress(ApplicationError):
    """A request with this key is still being processed; the client retries shortly."""

    code = "idempotency_in_progress"
    http_status = 409

    def __init__(self) -> None:
        super().__init__("A request with this Idempotency-Key is still being processed.", retry_after=1)


@dataclass(frozen=True, kw_only=True)
class Replay:
    status: int
    body: Any


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What to answer: the fresh result of the work, or (``replayed``) the stored one."""

    status: int
    body: Any
    replayed: bool


def idempotency_run(
    *,
    merchant_id: int,
    key: str | None,
    method: str,
    path: str,
    request_body: Any,
    status: int,
    call: Callable[[], Any],
) -> Outcome:
    """Run ``call`` at most once per ``(merchant, key)`` and answer its body with ``status``; without a
    key, simply run it. The same key with the same request replays the stored body.

    Raises ``IdempotencyConflict`` (same key, different request), ``IdempotencyInProgress`` (the first
    request is still running) or a ``ValidationError`` for a malformed key, all before ``call`` runs.
    Whatever ``call`` raises releases the claim, so the client may retry with the same key, and
    propagates. Side effects with a key: one INSERT for the claim, one UPDATE storing the body."""
    if key is None:
        return Outcome(status=status, body=call(), replayed=False)
    fingerprint = request_fingerprint(method=method, path=path, body=request_body)
    claim = idempotency_begin(merchant_id=merchant_id, key=key, fingerprint=fingerprint)
    if isinstance(claim, Replay):
        return Outcome(status=claim.status, body=claim.body, replayed=True)
    try:
        body = call()
    except BaseException:
        idempotency_abandon(record=claim)
        raise
    idempotency_complete(record=claim, status=status, body=body)
    return Outcome(status=status, body=body, replayed=False)


def request_fingerprint(*, method: str, path: str, body: Any) -> str:
    """A stable digest of what was asked: same JSON (any key order) → same fingerprint."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode()).hexdigest()


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ValidationError({"Idempotency-Key": ["Must be 1-255 printable characters without spaces."]})
    return key


def idempotency_begin(*, merchant_id: int, key: str, fingerprint: str) -> IdempotencyRecord | Replay:
    key = check_key(key)
    try:
        return _claim(merchant_id=merchant_id, key=key, fingerprint=fingerprint)
    except IntegrityError:
        pass
    existing = IdempotencyRecord.objects.filter(merchant_id=merchant_id, key=key).first()
    if existing is None:  # abandoned between our insert and this read: claim again
        return idempotency_begin(merchant_id=merchant_id, key=key, fingerprint=fingerprint)
    if existing.request_fingerprint != fingerprint:
        raise IdempotencyConflict
    if existing.response_status is not None:
        return Replay(status=existing.response_status, body=existing.response_body)
    # Take over a claim whose process died: conditional UPDATE, so only one request wins.
    cutoff = timezone.now() - STALE_AFTER
    taken = IdempotencyRecord.objects.filter(
        pk=existing.pk, response_status__isnull=True, created_at__lt=cutoff
    ).update(created_at=timezone.now())
    if taken == 1:
        existing.refresh_from_db()
        return existing
    raise IdempotencyInProgress


def _claim(*, merchant_id: int, key: str, fingerprint: str) -> IdempotencyRecord:
    """INSERT the claim; IntegrityError when the key is taken. In autocommit (a request) the lone INSERT
    needs no transaction of its own: a failed statement leaves nothing behind, and BEGIN/COMMIT would
    be two more round trips per create. Inside a caller's transaction a savepoint keeps the duplicate
    from aborting it."""
    if connection.in_atomic_block:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(merchant_id=merchant_id, key=key, request_fingerprint=fingerprint)
    return IdempotencyRecord.objects.create(merchant_id=merchant_id, key=key, request_fingerprint=fingerprint)


def idempotency_complete(*, record: IdempotencyRecord, status: int, body: Any) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk).update(response_status=status, response_body=body)


def idempotency_abandon(*, record: IdempotencyRecord) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk, response_status__isnull=True).delete()
