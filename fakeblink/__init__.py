"""A fake Blink: the same GraphQL over HTTP on loopback, with a ledger, scripted failures, a
customer who pays invoices, and svix-signed webhooks. See ``blink.FakeBlink``."""

from __future__ import annotations

from fakeblink.blink import DEFAULT_PLATFORM_WALLET_ID, FakeBlink

__all__ = ["DEFAULT_PLATFORM_WALLET_ID", "FakeBlink"]
