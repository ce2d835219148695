"""Records the fake Blink keeps: accounts, wallets, invoices, transactions; plus ``BlinkFailure``,
a refusal the resolvers answer the way Blink does (``code`` None: a scalar validation message)."""

from __future__ import annotations

from dataclasses import dataclass, field


class BlinkFailure(Exception):
    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Wallet:
    id: str
    account_id: str
    currency: str
    balance: int = 0  # sats for BTC, cents for USD


@dataclass
class Account:
    id: str
    user_id: str
    username: str
    api_key: str | None = field(repr=False)
    scopes: frozenset[str]
    wallet_ids: list[str]
    receive_disabled: bool = False


@dataclass
class Invoice:
    payment_hash: str
    payment_request: str = field(repr=False)
    preimage: str = field(repr=False)
    payment_secret: str = field(repr=False)
    wallet_id: str
    account_id: str
    amount_sats: int
    memo: str | None
    external_id: str
    created_at: float
    expires_at: float
    paid: bool = False
    cancelled: bool = False
    in_flight_tx: str | None = None  # a PENDING send waiting to settle


@dataclass
class Tx:
    id: str
    wallet_id: str
    direction: str  # SEND | RECEIVE
    status: str  # SUCCESS | PENDING | FAILURE
    amount: int  # signed, wallet currency
    payment_hash: str
    payment_request: str = field(repr=False)
    created_at: float
    currency: str = "BTC"
    fee: int = 0
    memo: str | None = None
    external_id: str | None = None
    preimage: str | None = field(default=None, repr=False)
    settlement: str = "intraledger"  # intraledger | lightning
    counterparty_wallet_id: str | None = None
    counterparty_username: str | None = None
