"""Reads for the API and the dashboard. Every read is scoped to one merchant: another merchant's
object is ``None``, exactly like a missing one, so callers answer the same 404 for both."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from payments import store
from payments.models import (
    BooksRun,
    BooksRunStatus,
    PaymentLeg,
    PaymentSplit,
    SplitProfile,
    SplitProfileShare,
    Staff,
    Terminal,
)
from payments.platform_accounts import account_ids_in_use, account_label
from payments.prepared import PreparedQuery

_PAYMENT_HASH = re.compile(r"[0-9a-fA-F]{64}")


def normalize_payment_hash(value: str) -> str | None:
    """Lower-case hex hash, or None when ``value`` cannot be a payment hash (a 404, not a 400)."""
    return value.lower() if _PAYMENT_HASH.fullmatch(value) else None


def split_get_for_merchant(*, merchant_id: int, payment_hash: str) -> PaymentSplit | None:
    normalized = normalize_payment_hash(payment_hash)
    if normalized is None:
        return None
    return PaymentSplit.objects.filter(merchant_id=merchant_id, payment_hash=normalized).first()


def split_list(
    *,
    merchant_id: int,
    status: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    staff_id: int | None = None,
    search: str = "",
) -> QuerySet[PaymentSplit]:
    """The merchant's splits, newest first. ``created_to`` is exclusive; ``staff_id`` matches a split
    whose tip went to that person directly or through a team profile; ``search`` matches the start of
    the payment hash (any case) or part of the memo or of the tip recipient's username."""
    qs = PaymentSplit.objects.filter(merchant_id=merchant_id)
    if status:
        qs = qs.filter(status=status)
    if created_from is not None:
        qs = qs.filter(created_at__gte=created_from)
    if created_to is not None:
        qs = qs.filter(created_at__lt=created_to)
    if staff_id is not None:
        tip_leg = PaymentLeg.objects.filter(split=OuterRef("pk"), staff_id=staff_id)
        qs = qs.filter(Q(staff_id=staff_id) | Q(Exists(tip_leg)))
    if search:
        qs = qs.filter(
            Q(payment_hash__startswith=search.lower()) | Q(memo__icontains=search) | Q(tip_recipient__icontains=search)
        )
    return qs.order_by("-created_at", "-id")


@dataclass(frozen=True, kw_only=True)
class QrSource:
    payment_request: str
    expires_at: datetime


def split_qr_source(*, merchant_id: int, payment_hash: str) -> QrSource | None:
    """What the QR endpoint needs of the merchant's split (bolt11 + expiry), in one narrow read. The
    bolt11 lives only in PostgreSQL (never in the Redis status document), so this is not a hot read."""
    normalized = normalize_payment_hash(payment_hash)
    if normalized is None:
        return None
    row = (
        PaymentSplit.objects.filter(merchant_id=merchant_id, payment_hash=normalized)
        .values_list("payment_request", "expires_at")
        .first()
    )
    if row is None or not row[0]:
        return None
    return QrSource(payment_request=row[0], expires_at=row[1])


_TERMINAL_WITH_MERCHANT = PreparedQuery(
    Terminal, lambda terminal_id: Terminal.objects.select_related("merchant").filter(pk=terminal_id)[:1], "terminal_id"
)


def terminal_with_merchant(*, terminal_id: int) -> Terminal | None:
    """The terminal with its merchant loaded: one query where the create path used to make two, with
    its SQL compiled once per process (payments/prepared.py)."""
    found = _TERMINAL_WITH_MERCHANT.fetch(terminal_id=terminal_id)
    return found[0] if found else None


def split_status_document(*, merchant_id: int, payment_hash: str) -> dict[str, Any] | None:
    """The hot-store status document (Redis when hot, PostgreSQL otherwise) when it belongs to
    ``merchant_id``. A hot hit costs no PostgreSQL query."""
    normalized = normalize_payment_hash(payment_hash)
    if normalized is None:
        return None
    document = store.get(normalized)
    if document is None or document.get("merchantId") != merchant_id:
        return None
    return document


def staff_get_for_merchant(*, merchant_id: int, staff_id: int, active_only: bool = True) -> Staff | None:
    qs = Staff.objects.filter(pk=staff_id, merchant_id=merchant_id)
    if active_only:
        qs = qs.filter(is_active=True)
    return qs.first()


def staff_list(*, merchant_id: int) -> QuerySet[Staff]:
    return Staff.objects.filter(merchant_id=merchant_id, is_active=True).order_by("display_name", "pk")


def split_profile_get_for_merchant(*, merchant_id: int, profile_id: int) -> SplitProfile | None:
    return SplitProfile.objects.filter(pk=profile_id, merchant_id=merchant_id, is_active=True).first()


# Compiled once per process (payments/prepared.py): every create with a split profile reads it.
_PROFILE_SHARES = PreparedQuery(
    SplitProfileShare,
    lambda profile_id, merchant_id: (
        SplitProfileShare.objects.select_related("profile", "staff")
        .filter(profile_id=profile_id, profile__merchant_id=merchant_id, profile__is_active=True)
        .order_by("pk")
    ),
    "profile_id",
    "merchant_id",
)


def split_profile_with_shares_for_merchant(
    *, merchant_id: int, profile_id: int
) -> tuple[SplitProfile, list[SplitProfileShare]] | None:
    """The merchant's active profile and its shares (staff loaded, in ``pk`` order), for creating an
    invoice. One query joining shares → profile → staff; a second one only for a profile without
    members, so the caller can still tell "no members" from "unknown profile". None: unknown,
    deactivated or another merchant's profile."""
    shares = _PROFILE_SHARES.fetch(profile_id=profile_id, merchant_id=merchant_id)
    if not shares:
        empty = split_profile_get_for_merchant(merchant_id=merchant_id, profile_id=profile_id)
        return (empty, []) if empty is not None else None
    profile = shares[0].profile
    for share in shares:  # one profile object for all, as a related-manager read would give
        share.profile = profile
    return profile, shares


def split_profile_list(*, merchant_id: int) -> QuerySet[SplitProfile]:
    shares = SplitProfileShare.objects.select_related("staff").order_by("-weight_bps", "pk")
    return (
        SplitProfile.objects.filter(merchant_id=merchant_id, is_active=True)
        .prefetch_related(Prefetch("shares", queryset=shares))
        .order_by("name", "pk")
    )


def books_status() -> dict[str, Any]:
    """The books reconciliation for metrics and alerts, over every platform account: open differences
    and balance gaps of each account's latest complete run added up, any account's latest run failed,
    and each account's own figures under ``accounts`` (``default`` or its id). Empty before any run."""
    per_account = {
        account_label(account_id): found
        for account_id in account_ids_in_use()
        if (found := _books_status_of(account_id))
    }
    if not per_account:
        return {}
    complete = [s for s in per_account.values() if "run_id" in s]
    failed = [s for s in per_account.values() if s["latest_run_failed"]]
    status: dict[str, Any] = {
        "latest_run_id": max(s["latest_run_id"] for s in per_account.values()),
        "latest_run_failed": bool(failed),
        "accounts": per_account,
    }
    if failed:
        status["latest_run_id"] = failed[0]["latest_run_id"]
    if complete:
        by_kind: dict[str, int] = {}
        for s in complete:
            for kind, n in s["by_kind"].items():
                by_kind[kind] = by_kind.get(kind, 0) + int(n)
        gaps = [s["balance_difference_sats"] for s in complete if s["balance_difference_sats"] is not None]
        newest = max(complete, key=lambda s: s["run_id"])
        status |= {
            "run_id": newest["run_id"],
            "finished_at": newest["finished_at"],
            "differences": sum(s["differences"] for s in complete),
            "by_kind": by_kind,
            "balance_difference_sats": sum(gaps) if gaps else None,
        }
    return status


def _books_status_of(account_id: int | None) -> dict[str, Any]:
    runs = BooksRun.objects.filter(platform_account_id=account_id)
    latest = runs.exclude(status=BooksRunStatus.RUNNING).order_by("-started_at", "-id").first()
    if latest is None:
        return {}
    complete = (
        latest
        if latest.status == BooksRunStatus.COMPLETE
        else runs.filter(status=BooksRunStatus.COMPLETE).order_by("-started_at", "-id").first()
    )
    status: dict[str, Any] = {"latest_run_id": latest.pk, "latest_run_failed": latest.status == BooksRunStatus.FAILED}
    if complete is not None:
        gap = None
        if complete.balance_expected is not None and complete.balance_actual is not None:
            gap = complete.balance_actual - complete.balance_expected
        status |= {
            "run_id": complete.pk,
            "finished_at": complete.finished_at,
            "differences": complete.differences,
            "by_kind": dict(complete.by_kind or {}),
            "balance_difference_sats": gap,
        }
    return status
