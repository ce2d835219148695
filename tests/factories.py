"""factory_boy factories shared by every test package."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from payments.models import (
    LegStatus,
    Merchant,
    PaymentLeg,
    PaymentSplit,
    SplitProfile,
    SplitProfileShare,
    SplitStatus,
    Staff,
    Terminal,
)


def random_hash() -> str:
    return secrets.token_hex(32)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Cafe {n}")
    blink_username = factory.Sequence(lambda n: f"merchant{n}")
    wallet_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    display_currency = "USD"


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Staff

    merchant = factory.SubFactory(MerchantFactory)
    display_name = factory.Sequence(lambda n: f"Staff {n}")
    blink_username = factory.Sequence(lambda n: f"staff{n}")
    wallet_id = factory.LazyFunction(lambda: str(uuid.uuid4()))


class SplitProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SplitProfile

    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Sequence(lambda n: f"Team {n}")


class SplitProfileShareFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SplitProfileShare

    profile = factory.SubFactory(SplitProfileFactory)
    staff = factory.SubFactory(StaffFactory)
    weight_bps = 10_000


class TerminalFactory(factory.django.DjangoModelFactory):
    """Builds a terminal with a known key: ``terminal.plain_key`` holds it for the test."""

    class Meta:
        model = Terminal

    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Sequence(lambda n: f"Till {n}")
    key_prefix = factory.LazyFunction(lambda: secrets.token_hex(4))
    key_hash = ""

    @factory.post_generation
    def plain_key(obj: Terminal, create: bool, extracted: str | None, **kwargs: object) -> None:
        key = extracted or f"bpos_{obj.key_prefix}_{secrets.token_urlsafe(24).replace('_', 'x')}"
        obj.key_hash = hashlib.sha256(key.encode()).hexdigest()
        obj.plain_key = key  # type: ignore[attr-defined]
        if create:
            obj.save(update_fields=["key_hash"])


class PaymentSplitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentSplit

    merchant = factory.SubFactory(MerchantFactory)
    payment_hash = factory.LazyFunction(random_hash)
    external_id = factory.LazyFunction(lambda: uuid.uuid4().hex)
    user_wallet_id = factory.LazyAttribute(lambda o: o.merchant.wallet_id)
    username = factory.LazyAttribute(lambda o: o.merchant.blink_username)
    base_amount = 1000
    tip_amount = 150
    total_amount = factory.LazyAttribute(lambda o: o.base_amount + o.tip_amount)
    invoice_satoshis = factory.LazyAttribute(lambda o: o.total_amount)
    status = SplitStatus.PENDING
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=15))


class PaymentLegFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentLeg

    split = factory.SubFactory(PaymentSplitFactory)
    external_id = factory.LazyFunction(lambda: uuid.uuid4().hex)
    kind = "merchant"
    recipient_username = factory.LazyAttribute(lambda o: o.split.merchant.blink_username)
    recipient_wallet_id = factory.LazyAttribute(lambda o: o.split.merchant.wallet_id)
    amount = factory.LazyAttribute(lambda o: o.split.base_amount)
    status = LegStatus.PLANNED


def paid_split(
    merchant: Merchant, *, staff: object = None, tip: int = 200, base: int = 1800, **kw: object
) -> PaymentSplit:
    """A paid, forwarded sale with a merchant leg and (when staff is given) a succeeded tip leg."""
    split = PaymentSplitFactory(
        merchant=merchant,
        base_amount=base,
        tip_amount=tip,
        status=kw.pop("status", SplitStatus.COMPLETED),
        paid_at=kw.pop("paid_at", timezone.now() - timedelta(minutes=5)),
        staff=staff,
        tip_recipient=getattr(staff, "blink_username", ""),
        **kw,
    )
    PaymentLegFactory(split=split, amount=base, status=LegStatus.SUCCEEDED)
    if staff is not None and tip:
        PaymentLegFactory(
            split=split,
            kind="tip",
            staff=staff,
            recipient_username=staff.blink_username,  # type: ignore[attr-defined]
            recipient_wallet_id=staff.wallet_id,  # type: ignore[attr-defined]
            amount=tip,
            status=LegStatus.SUCCEEDED,
            payment_hash=secrets.token_hex(32),
            preimage=secrets.token_hex(32),
        )
    return split
