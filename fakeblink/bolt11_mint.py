"""Real BOLT11 invoices for the fake Blink's simulated Lightning nodes.

Each simulated node (Blink's custodial node, a self-custodial "Spark" node, the outside LNURL host's
node) has a secp256k1 key; its invoices carry the payment hash, amount, creation time, expiry,
payment secret, a memo or a description hash, the payee key (``n``) and the features a modern payer
expects, and are signed with that key. Any BOLT11 decoder accepts them and verifies the signature.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import bolt11
from bolt11 import Feature, Features, FeatureState, MilliSatoshi, TagChar, Tags
from coincurve import PrivateKey

MIN_FINAL_CLTV_EXPIRY = 40
# BOLT 9: var_onion_optin and payment_secret are required by every current payer.
_FEATURES = Features.from_feature_list(
    {Feature.var_onion_optin: FeatureState.required, Feature.payment_secret: FeatureState.required}
)


@dataclass(frozen=True)
class SimulatedNode:
    """A Lightning node the fake pretends to run. ``name`` is only for logs and dumps."""

    name: str
    private_key: str  # hex; a test key derived from the fake's seed, never a real node's

    @classmethod
    def derive(cls, name: str, seed: int | str) -> SimulatedNode:
        key = hashlib.sha256(f"fakeblink-node:{name}:{seed}".encode()).hexdigest()
        return cls(name=name, private_key=key)

    @property
    def pubkey(self) -> str:
        return PrivateKey.from_hex(self.private_key).public_key.format(compressed=True).hex()

    def mint(
        self,
        *,
        payment_hash: str,
        payment_secret: str,
        amount_sats: int,
        created_at: int,
        expiry_seconds: int,
        memo: str | None = None,
        description_hash: str | None = None,
        amount_msat: int | None = None,
    ) -> str:
        """A signed mainnet invoice. ``description_hash`` (hex) replaces the memo when given."""
        tags = Tags()
        tags.add(TagChar.payment_hash, payment_hash)
        tags.add(TagChar.payment_secret, payment_secret)
        if description_hash is not None:
            tags.add(TagChar.description_hash, description_hash)
        else:
            tags.add(TagChar.description, memo or "")
        tags.add(TagChar.expire_time, expiry_seconds)
        tags.add(TagChar.min_final_cltv_expiry, MIN_FINAL_CLTV_EXPIRY)
        tags.add(TagChar.features, _FEATURES)
        tags.add(TagChar.payee, self.pubkey)
        invoice = bolt11.Bolt11(
            currency="bc",
            date=created_at,
            amount_msat=MilliSatoshi(amount_msat if amount_msat is not None else amount_sats * 1000),
            tags=tags,
        )
        return bolt11.encode(invoice, self.private_key, keep_payee=True)
