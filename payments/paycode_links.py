"""How a pay code is reached from outside (docs/ARCHITECTURE.md, Pay codes and tips after payment):
its ``name@host`` address, its LNURL-pay URLs and the metadata its payRequest serves.

The host is ``PAYCODE_HOST`` when set (what posters print; production sets it) or the host the request
came to. LNURL is https-only except on a loopback host (development, tests). The metadata must be the
same string at the payRequest and at the callback (the invoice's description hash is its SHA-256),
so both are built here from the code and the host alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from payments.lnurl.server import lnurl_encode, pay_metadata
from payments.models import PayCode, PayCodeKind

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


@dataclass(frozen=True, kw_only=True)
class PublicHost:
    host: str  # host[:port]
    scheme: str

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"


def public_host(request: HttpRequest) -> PublicHost:
    configured = str(getattr(settings, "PAYCODE_HOST", "") or "")
    host = configured or request.get_host()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    scheme = request.scheme if name in LOOPBACK_HOSTS and request.scheme in ("http", "https") else "https"
    return PublicHost(host=host.lower(), scheme=scheme)


def paycode_address(code: PayCode, where: PublicHost) -> str:
    return f"{code.username}@{where.host}"


def paycode_description(code: PayCode) -> str:
    """The text a wallet shows before paying (LUD-06 text/plain)."""
    merchant = code.merchant.name
    if code.kind == PayCodeKind.STAFF and code.staff is not None:
        return f"Tip for {code.staff.display_name} at {merchant}"
    if code.kind == PayCodeKind.TEAM and code.split_profile is not None:
        return f"Tip for the {code.split_profile.name} team at {merchant}"
    return f"Payment to {merchant}"


def paycode_metadata(code: PayCode, where: PublicHost) -> str:
    return pay_metadata(text=paycode_description(code), identifier=paycode_address(code, where))


def paycode_pay_url(code: PayCode, where: PublicHost) -> str:
    return where.base_url + reverse("lnurlp-code", kwargs={"code_id": code.pk})


def paycode_callback_url(code: PayCode, where: PublicHost) -> str:
    return where.base_url + reverse("lnurlp-callback", kwargs={"code_id": code.pk})


def paycode_lnurl(code: PayCode, where: PublicHost) -> str:
    """``LNURL1…`` of the code's LUD-06 URL: what the poster's QR code holds (with ``lightning:``)."""
    return lnurl_encode(paycode_pay_url(code, where))
