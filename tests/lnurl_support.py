"""Point the app's Lightning-address settings at a fake Blink (and its outside LNURL host, when it
runs one): its host:port becomes a Blink domain, bare usernames' addresses live there, and exactly
those host:port pairs may be fetched over plain http on loopback."""

from __future__ import annotations

from typing import Any

from fakeblink import FakeBlink


def point_lnurl_at(settings: Any, fake: FakeBlink) -> None:
    domain = fake.base_url.split("://", 1)[1]
    settings.BLINK_LIGHTNING_ADDRESS_DOMAIN = domain
    settings.BLINK_LIGHTNING_DOMAINS = ["blink.sv", domain]
    settings.LNURL_ALLOW_HTTP_HOSTS = [domain] + ([fake.outside.domain] if fake.outside is not None else [])
