"""The provider reads the legacy import makes: who owns a legacy API key, which wallet a username has.

Both are reads (``key_info``: ``authorization`` + ``me { username defaultAccount { wallets } }``;
``resolve_username``: ``accountDefaultWallet``); nothing here can move money or change an account.
Each distinct key and username is asked once per run, outside any transaction, with the wallet
client's timeouts. When the provider cannot be reached ``OUTAGE_AFTER`` times in a row it is treated
as down for the rest of the run, so an outage costs a few timeouts instead of one per party, and the
import carries on with placeholders and unresolved staff.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured

from blinkpos.logging import get_logger
from payments.wallet import errors as we
from payments.wallet.base import WalletProvider
from payments.wallet.provider import get_wallet_provider

log = get_logger(__name__)

OUTAGE_AFTER = 3


class Answer(enum.Enum):
    OK = "ok"
    REFUSED = "refused"  # the provider answered: no (unknown key or username, no BTC wallet...)
    UNAVAILABLE = "unavailable"  # no answer: outage, timeout, not configured, or lookups switched off


@dataclass(frozen=True, kw_only=True)
class KeyOwner:
    answer: Answer
    reason: str = ""  # for REFUSED / UNAVAILABLE, safe to show (never the key)
    username: str = ""
    wallet_ids: frozenset[str] = frozenset()
    btc_wallet_id: str = ""
    scopes: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True)
class UsernameWallet:
    answer: Answer
    reason: str = ""
    wallet_id: str = ""


@dataclass(kw_only=True)
class ProviderLookups:
    """Cached provider reads for one run. ``enabled=False`` answers UNAVAILABLE without any call."""

    enabled: bool = True
    calls: int = 0
    down_reason: str = ""
    _failures_in_a_row: int = 0
    _keys: dict[str, KeyOwner] = field(default_factory=dict, repr=False)
    _usernames: dict[str, UsernameWallet] = field(default_factory=dict)

    def _provider(self) -> WalletProvider | None:
        if not self.enabled:
            self.down_reason = self.down_reason or "provider lookups switched off"
            return None
        if self.down_reason:
            return None
        try:
            return get_wallet_provider()
        except ImproperlyConfigured:
            self.down_reason = "wallet provider not configured"
            return None

    def _unavailable(self, exc: we.WalletError) -> str:
        self._failures_in_a_row += 1
        if self._failures_in_a_row >= OUTAGE_AFTER:
            self.down_reason = f"provider unavailable ({exc.code})"
            log.warning("legacy_import.provider_down", error_code=exc.code, calls=self.calls)
        return f"provider unavailable ({exc.code})"

    def key_owner(self, api_key: str) -> KeyOwner:
        if api_key in self._keys:
            return self._keys[api_key]
        provider = self._provider()
        if provider is None:
            # Not cached: a run whose provider is down answers every later key the same way anyway.
            return KeyOwner(answer=Answer.UNAVAILABLE, reason=self.down_reason)
        self.calls += 1
        try:
            info = provider.key_info(api_key=api_key)
        except (we.NotAuthorized, we.InvalidInput):
            owner = KeyOwner(answer=Answer.REFUSED, reason="Blink does not accept the legacy API key")
        except (we.WalletUnavailable, we.WalletProtocolError) as exc:
            return KeyOwner(answer=Answer.UNAVAILABLE, reason=self._unavailable(exc))
        except we.WalletError as exc:
            owner = KeyOwner(answer=Answer.REFUSED, reason=f"Blink refused the key lookup ({exc.code})")
        else:
            btc = info.btc_wallet
            owner = KeyOwner(
                answer=Answer.OK,
                username=(info.wallets[0].username or "").lower() if info.wallets else "",
                wallet_ids=frozenset(w.wallet_id for w in info.wallets),
                btc_wallet_id=btc.wallet_id if btc else "",
                scopes=info.scopes,
            )
        self._failures_in_a_row = 0
        self._keys[api_key] = owner
        return owner

    def username_wallet(self, username: str) -> UsernameWallet:
        if username in self._usernames:
            return self._usernames[username]
        provider = self._provider()
        if provider is None:
            return UsernameWallet(answer=Answer.UNAVAILABLE, reason=self.down_reason)
        self.calls += 1
        try:
            ref = provider.resolve_username(username=username)
        except (we.WalletUnavailable, we.WalletProtocolError, we.NotAuthorized) as exc:
            # NotAuthorized here is the platform key's problem, not the recipient's.
            return UsernameWallet(answer=Answer.UNAVAILABLE, reason=self._unavailable(exc))
        except we.WalletError as exc:
            found = UsernameWallet(answer=Answer.REFUSED, reason=f"{exc.code}: {exc.message}"[:200])
        else:
            found = UsernameWallet(answer=Answer.OK, wallet_id=ref.wallet_id)
        self._failures_in_a_row = 0
        self._usernames[username] = found
        return found
