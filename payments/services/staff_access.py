"""Staff self-service sign-in: the merchant's staff code, each staff member's email and PIN, and one-time
sign-in links (docs/ARCHITECTURE.md, Staff self-service and payroll).

Guessing is bounded like the cashier's PINs (``payments.services.cashier_pins``): each staff member's PIN
row counts wrong tries and locks for ``STAFF_PIN_LOCKOUT_SECONDS`` after ``STAFF_PIN_MAX_FAILURES`` in a
row; the sign-in views also count failures per client address (``blinkpos.auth_throttle``, scope
``staff``). A sign-in link is 256 random bits; only its SHA-256 is stored, it lives
``STAFF_LINK_SECONDS`` and is used once (a conditional UPDATE decides, so two clicks cannot both win).
Answers never say whether an email or a name exists.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from blinkpos.errors import ApplicationError
from blinkpos.logging import get_logger
from payments.models import Merchant, SignInLinkOrigin, Staff, StaffLogin, StaffPortal, StaffSignInToken

log = get_logger(__name__)

_PIN = re.compile(r"[0-9]{4,8}")
# No 0/O, 1/I/L: the code is read off a poster or a phone and typed by hand.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
# One answer for a wrong code, an unknown name, a wrong PIN and a locked PIN: a lock would otherwise tell
# a stranger that the name exists (the lock still holds; the message says it may be the reason).
WRONG_SIGN_IN = "Wrong code, name or PIN. Five wrong PINs in a row lock a PIN for a while: then ask the manager."


class StaffPinRefused(ApplicationError):
    code = "pin_refused"
    http_status = 400

    def __init__(self) -> None:
        super().__init__(WRONG_SIGN_IN, fields={"pin": [WRONG_SIGN_IN]})


class StaffPinLocked(StaffPinRefused):
    """The PIN is locked. Shown exactly like a refusal (see ``WRONG_SIGN_IN``); ``retry_after`` is for logs."""

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after


def normalize_code(value: str) -> str:
    """What people type (``k7q2-m9xd``) to the stored form (``K7Q2M9XD``)."""
    return re.sub(r"[\s-]", "", value or "").upper()


def staff_portal_get_or_create(*, merchant: Merchant) -> StaffPortal:
    """The merchant's staff code, made on first use (unique; a clash just draws again)."""
    existing = StaffPortal.objects.filter(merchant=merchant).first()
    if existing is not None:
        return existing
    for _ in range(5):
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))
        try:
            with transaction.atomic():
                portal, _ = StaffPortal.objects.get_or_create(merchant=merchant, defaults={"code": code})
            return portal
        except IntegrityError:
            continue  # another merchant holds this code
    raise RuntimeError("could not draw a free staff code")


def _staff_of(merchant: Merchant, staff_id: object) -> Staff | None:
    if not isinstance(staff_id, int):
        return None
    return Staff.objects.filter(pk=staff_id, merchant=merchant, is_active=True).first()


def _clean_email(value: object) -> str:
    email = str(value or "").strip().lower()
    if email:
        try:
            validate_email(email)
        except ValidationError as exc:
            raise ValidationError({"email": ["Enter a valid email address."]}) from exc
    return email


@transaction.atomic
def staff_login_update(
    *, merchant: Merchant, staff_id: int, email: str | None, pin: str = "", remove_pin: bool = False
) -> StaffLogin:
    """Set a staff member's sign-in email (None: keep it; empty: none) and, when given, a new PIN (4-8
    digits; ``remove_pin``: none).

    A change of either ends the person's open sessions (``session_version``) and clears a PIN lockout.
    Raises ``ValidationError`` naming ``staff``, ``email`` or ``pin``; nothing is written then.
    """
    errors: dict[str, list[str]] = {}
    staff = _staff_of(merchant, staff_id)
    if staff is None:
        errors["staff"] = ["Choose one of your active staff members."]
    clean_email: str | None = None
    try:
        clean_email = None if email is None else _clean_email(email)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if pin and not (isinstance(pin, str) and _PIN.fullmatch(pin)):
        errors["pin"] = ["4 to 8 digits."]
    if pin and remove_pin:
        errors["pin"] = ["Either set a new PIN or remove it, not both."]
    if staff is not None and clean_email:
        taken = StaffLogin.objects.filter(staff__merchant=merchant, email=clean_email).exclude(staff=staff)
        if taken.exists():
            errors["email"] = ["Another of your staff members has this email."]
    if errors:
        raise ValidationError(errors)
    assert staff is not None
    login, _ = StaffLogin.objects.select_for_update().get_or_create(staff=staff)
    if clean_email is None:
        clean_email = login.email
    changed = login.email != clean_email or bool(pin) or (remove_pin and login.has_pin)
    login.email = clean_email
    if pin:
        login.pin_hash = make_password(pin)
    elif remove_pin:
        login.pin_hash = ""
    if changed:
        login.session_version += 1
        login.failed_attempts = 0
        login.locked_until = None
    login.save()
    if login.has_pin:
        staff_portal_get_or_create(merchant=merchant)  # a PIN is useless without the code to type with it
    log.info("staff_login.updated", staff_id=staff.pk, merchant_id=merchant.pk, has_pin=login.has_pin)
    return login


def staff_sessions_end(*, merchant: Merchant, staff_id: int) -> bool:
    """Sign a staff member out everywhere. False when there is no such staff member or login."""
    updated = StaffLogin.objects.filter(staff_id=staff_id, staff__merchant=merchant).update(
        session_version=F("session_version") + 1
    )
    return bool(updated)


@functools.cache
def _dummy_hash() -> str:
    return make_password(secrets.token_hex(16))


def _spend_hash_time(pin: str) -> None:
    """Check ``pin`` against a throwaway hash, so an unknown person is answered as slowly as a known one."""
    check_password(pin, _dummy_hash())


def _find_by_name(portal: StaffPortal | None, name: str) -> Staff | None:
    """The active staff member a name designates: their sign-in email or Blink username, within the
    merchant of ``portal``. Ambiguous or unknown: None (answered like a wrong PIN)."""
    if portal is None or not name:
        return None
    name = name.strip().lstrip("@").lower()
    matches = list(
        Staff.objects.filter(merchant_id=portal.merchant_id, is_active=True, merchant__is_active=True)
        .filter(Q(login__email=name) | Q(blink_username__iexact=name))
        .distinct()[:2]
    )
    return matches[0] if len(matches) == 1 else None


def staff_pin_verify(*, code: str, name: str, pin: str) -> Staff:
    """The staff member whom ``code`` (the merchant's), ``name`` (email or Blink username) and ``pin`` sign in.

    Raises ``StaffPinRefused`` (any part wrong: one answer) or ``StaffPinLocked``. A wrong PIN is counted
    under the row lock, so concurrent guesses cannot share one count, and committed before raising.
    """
    now = timezone.now()
    portal = StaffPortal.objects.filter(code=normalize_code(code)).first()
    staff = _find_by_name(portal, name)
    refused_for: int | None = None  # seconds locked, or 0 for a plain refusal
    with transaction.atomic():
        row = StaffLogin.objects.select_for_update().filter(staff=staff).first() if staff else None
        if row is None or not row.pin_hash:
            _spend_hash_time(pin)
            refused_for = 0
        elif row.locked_until is not None and row.locked_until > now:
            refused_for = int((row.locked_until - now).total_seconds()) + 1
        elif check_password(pin, row.pin_hash):
            if row.failed_attempts or row.locked_until:
                StaffLogin.objects.filter(pk=row.pk).update(failed_attempts=0, locked_until=None)
        else:
            row.failed_attempts += 1
            refused_for = 0
            if row.failed_attempts >= settings.STAFF_PIN_MAX_FAILURES:
                row.failed_attempts = 0
                row.locked_until = now + timedelta(seconds=settings.STAFF_PIN_LOCKOUT_SECONDS)
                refused_for = settings.STAFF_PIN_LOCKOUT_SECONDS
                log.warning("staff_pin.locked", staff_id=row.staff_id)
            StaffLogin.objects.filter(pk=row.pk).update(
                failed_attempts=row.failed_attempts, locked_until=row.locked_until
            )
    if refused_for is not None:
        raise StaffPinLocked(retry_after=refused_for) if refused_for else StaffPinRefused()
    assert staff is not None
    return staff


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", errors="replace")).hexdigest()


@dataclass(frozen=True, kw_only=True)
class IssuedLink:
    staff: Staff
    token: str = field(repr=False)  # shown once, in the email; never logged


def _issue(staff: Staff, origin: str) -> IssuedLink:
    token = secrets.token_urlsafe(32)
    StaffSignInToken.objects.create(
        staff=staff,
        token_hash=_token_hash(token),
        origin=origin,
        expires_at=timezone.now() + timedelta(seconds=settings.STAFF_LINK_SECONDS),
    )
    return IssuedLink(staff=staff, token=token)


def _recent_links(staff: Staff) -> int:
    since = timezone.now() - timedelta(seconds=settings.STAFF_LINK_WINDOW_SECONDS)
    return StaffSignInToken.objects.filter(staff=staff, created_at__gte=since).count()


def staff_links_for_email(*, email: str) -> list[IssuedLink]:
    """Fresh links for every active staff member signing in with ``email`` (one per merchant they work
    for), except those who already got ``STAFF_LINKS_PER_WINDOW`` in the window. The caller answers the
    same whatever this returns, so nobody learns whether the address is known.

    Raises ``ValidationError`` on ``email`` only when it is not an email address at all.
    """
    clean = _clean_email(email)
    if not clean:
        raise ValidationError({"email": ["Enter your email address."]})
    staff = Staff.objects.filter(login__email=clean, is_active=True, merchant__is_active=True).select_related(
        "merchant"
    )
    issued = []
    for member in staff.order_by("pk"):
        if _recent_links(member) >= settings.STAFF_LINKS_PER_WINDOW:
            log.warning("staff_link.rate_limited", staff_id=member.pk)
            continue
        issued.append(_issue(member, SignInLinkOrigin.STAFF))
    return issued


def staff_link_for_merchant(*, merchant: Merchant, staff_id: int) -> IssuedLink:
    """A link the merchant sends to one of its staff (who must have a sign-in email)."""
    staff = _staff_of(merchant, staff_id)
    if staff is None:
        raise ValidationError({"staff": ["Choose one of your active staff members."]})
    login = StaffLogin.objects.filter(staff=staff).first()
    if login is None or not login.email:
        raise ValidationError({"email": ["Set this staff member's sign-in email first."]})
    if _recent_links(staff) >= settings.STAFF_LINKS_PER_WINDOW:
        raise ApplicationError(
            "Enough links were sent to this person for now; try again later.",
            code="too_many_links",
            http_status=429,
            fields={"staff": ["Too many sign-in links recently."]},
        )
    return _issue(staff, SignInLinkOrigin.MERCHANT)


def staff_link_send(*, link: IssuedLink, url: str) -> None:
    """Email the link (Django's email backend: console in dev, locmem in tests). Call outside a
    transaction: the token row is committed, and a mail server that hangs holds no lock."""
    login = StaffLogin.objects.get(staff=link.staff)
    minutes = settings.STAFF_LINK_SECONDS // 60
    body = (
        f"Hello {link.staff.display_name},\n\n"
        f"Open this link within {minutes} minutes to see your tips and payouts at {link.staff.merchant.name}:\n\n"
        f"{url}\n\nIt works once. If you did not ask for it, ignore this email.\n"
    )
    send_mail(
        subject=f"Your sign-in link for {link.staff.merchant.name}",
        message=body,
        from_email=None,
        recipient_list=[login.email],
    )
    log.info("staff_link.sent", staff_id=link.staff.pk)


def staff_link_redeem(*, token: str) -> Staff | None:
    """The staff member a link signs in, spending it; None when it is unknown, used, expired, or its
    person is no longer active. One conditional UPDATE decides, so a link opens one session only."""
    if not token or len(token) > 100:
        return None
    now = timezone.now()
    digest = _token_hash(token)
    with transaction.atomic():
        spent = StaffSignInToken.objects.filter(token_hash=digest, used_at__isnull=True, expires_at__gt=now).update(
            used_at=now
        )
        if spent != 1:
            return None
        row = StaffSignInToken.objects.select_related("staff__merchant").get(token_hash=digest)
    staff = row.staff
    if not (staff.is_active and staff.merchant.is_active):
        return None
    log.info("staff_link.redeemed", staff_id=staff.pk)
    return staff


def staff_sign_in_tokens_purge(*, expired_before: datetime, dry_run: bool = False) -> int:
    """Delete sign-in links that expired before ``expired_before`` (used or not: neither can sign in any
    more). Returns how many (only counts with ``dry_run``)."""
    old = StaffSignInToken.objects.filter(expires_at__lt=expired_before)
    return old.count() if dry_run else old.delete()[0]
