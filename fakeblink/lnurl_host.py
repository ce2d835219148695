"""LUD-16 Lightning addresses for the fake: the fake Blink's own (``name@<fake host:port>``) and a
second, outside LNURL host on another port whose misbehaviours can be scripted.

Blink's addresses: a custodial account's callback creates an invoice on its BTC wallet in the
ledger (``descriptionHash`` = SHA-256 of the metadata), so paying it settles intraledger; a
migrated (self-custodial) account's callback issues an invoice from the simulated Spark node, paid
over simulated Lightning (``external.py``); an account in the custodial wind-down that has not
migrated answers an LNURL error; an unknown name is a 404.

The outside host's users are paid over simulated Lightning too. Its misbehaviours (``BEHAVIOURS``)
are what a hostile or broken LNURL server does; the product must refuse each one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from fakeblink.bolt11_mint import SimulatedNode
from fakeblink.records import BlinkFailure
from fakeblink.server import HTTPServerThread, Reply, json_reply

if TYPE_CHECKING:
    from fakeblink.blink import FakeBlink

MIN_SENDABLE_MSAT = 1_000
MAX_SENDABLE_MSAT = 100_000_000_000
INVOICE_EXPIRY_SECONDS = 3600
BLINK_COMMENT_ALLOWED = 200
BEHAVIOURS = frozenset(
    {
        "wrong_amount",  # invoice for 1 sat more than asked
        "wrong_description_hash",  # invoice whose description hash is not sha256(metadata)
        "expired_invoice",  # invoice that expired an hour ago
        "oversized_json",  # pay request of ~100 KB
        "malformed_json",  # pay request cut in the middle
        "redirect",  # pay request answered with a redirect to another host
        "private_callback",  # callback on a link-local (cloud metadata) address
        "error",  # LNURL {"status": "ERROR"}
        "unroutable_invoice",  # invoice signed by a node no route reaches
    }
)


def _error(reason: str, status: int = 200) -> Reply:
    return json_reply(status, {"status": "ERROR", "reason": reason})


def metadata_for(address: str, text: str) -> str:
    return json.dumps([["text/plain", text], ["text/identifier", address]], separators=(",", ":"))


def _query(path: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(path)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def _amount(query: Mapping[str, str]) -> int | None:
    raw = query.get("amount", "")
    return int(raw) if raw.isdigit() else None


@dataclass
class _Lud16:
    """Routing and the LUD-06 shapes shared by both hosts."""

    base_url: Callable[[], str]
    comments: list[tuple[str, str]] = field(default_factory=list)  # (name, comment) received

    def domain(self) -> str:
        return self.base_url().split("://", 1)[1]

    def pay_request(self, name: str, *, comment_allowed: int, text: str) -> dict[str, Any]:
        return {
            "tag": "payRequest",
            "callback": f"{self.base_url()}/lnurlp/{name}/callback",
            "minSendable": MIN_SENDABLE_MSAT,
            "maxSendable": MAX_SENDABLE_MSAT,
            "metadata": metadata_for(f"{name}@{self.domain()}", text),
            "commentAllowed": comment_allowed,
        }

    def route(self, path: str) -> tuple[str, str, dict[str, str]] | None:
        """("params" | "callback", name, query) for a LUD-16 path, else None."""
        route, query = _query(path)
        parts = route.strip("/").split("/")
        if len(parts) == 3 and parts[:2] == [".well-known", "lnurlp"]:
            return "params", parts[2].lower(), query
        if len(parts) == 3 and parts[0] == "lnurlp" and parts[2] == "callback":
            return "callback", parts[1].lower(), query
        return None


class BlinkLud16:
    """``/.well-known/lnurlp/{username}`` and its callback on the fake Blink's own port."""

    def __init__(self, fake: FakeBlink, spark: SimulatedNode) -> None:
        self._fake = fake
        self.spark = spark
        self.migrated: set[str] = set()
        self.lud16 = _Lud16(base_url=lambda: fake.base_url)

    def handle(self, method: str, path: str) -> Reply | None:
        found = self.lud16.route(path)
        if found is None:
            return None
        if method != "GET":
            return _error("use GET", 405)
        kind, name, query = found
        account = self._fake.ledger.account_by_username(name)
        if account is None:
            return _error(f"Couldn't find user {name}", 404)
        self_custodial = account.username in self.migrated
        if account.receive_disabled and not self_custodial:
            return _error("This account can no longer receive payments.")
        btc = next((w for w in account.wallet_ids if self._fake.ledger.wallets[w].currency == "BTC"), None)
        if btc is None and not self_custodial:
            return _error("This account has no BTC wallet.")
        text = f"Payment to {account.username}"
        params = self.lud16.pay_request(account.username, comment_allowed=BLINK_COMMENT_ALLOWED, text=text)
        if kind == "params":
            return json_reply(200, params)
        amount = _amount(query)
        if amount is None or not MIN_SENDABLE_MSAT <= amount <= MAX_SENDABLE_MSAT or amount % 1000:
            return _error("amount must be whole sats within the limits")
        if comment := query.get("comment"):
            self.lud16.comments.append((account.username, comment))
        description_hash = hashlib.sha256(params["metadata"].encode()).hexdigest()
        ledger = self._fake.ledger
        if self_custodial:
            invoice = ledger.external.issue(
                node=self.spark,
                receiver=f"spark:{account.username}",
                amount_msat=amount,
                description_hash=description_hash,
                expiry_seconds=INVOICE_EXPIRY_SECONDS,
            )
            return json_reply(200, {"pr": invoice.payment_request, "routes": []})
        assert btc is not None
        try:
            created = ledger.create_invoice(
                wallet=ledger.wallets[btc],
                amount=amount // 1000,
                memo=None,
                external_id=None,
                expires_in=INVOICE_EXPIRY_SECONDS // 60,
                description_hash=description_hash,
            )
        except BlinkFailure as failure:
            return _error(failure.message)
        return json_reply(200, {"pr": created.payment_request, "routes": []})


class OutsideLnurlHost:
    """Another LNURL server (think Wallet of Satoshi or someone's own node) on its own port."""

    def __init__(self, fake: FakeBlink, node: SimulatedNode, *, port: int | None = None) -> None:
        self._fake = fake
        self.node = node
        self._server = HTTPServerThread(self.handle, port=port)
        self.users: dict[str, int] = {}  # name -> commentAllowed
        self.behaviours: dict[str, set[str]] = {}
        self.lud16 = _Lud16(base_url=lambda: f"http://{self._server.host}:{self._server.port}")

    @property
    def domain(self) -> str:
        return self.lud16.domain()

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def add_user(self, name: str, *, comment_allowed: int = 0) -> str:
        """A user of this host; returns their Lightning address."""
        self.users[name.lower()] = comment_allowed
        return f"{name.lower()}@{self.domain}"

    def misbehave(self, name: str, behaviours: list[str]) -> None:
        unknown = set(behaviours) - BEHAVIOURS
        if unknown:
            raise ValueError(f"unknown behaviours {sorted(unknown)}; known: {sorted(BEHAVIOURS)}")
        self.behaviours[name.lower()] = set(behaviours)

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        found = self.lud16.route(path)
        if found is None or method != "GET":
            return _error("not found", 404)
        kind, name, query = found
        if name not in self.users:
            return _error(f"no user {name}", 404)
        bad = self.behaviours.get(name, set())
        if "error" in bad:
            return _error("this wallet is offline")
        params = self.lud16.pay_request(name, comment_allowed=self.users[name], text=f"Sats for {name}")
        if kind == "params":
            return self._params_reply(params, bad)
        amount = _amount(query)
        if amount is None or not MIN_SENDABLE_MSAT <= amount <= MAX_SENDABLE_MSAT:
            return _error("amount out of range")
        if comment := query.get("comment"):
            self.lud16.comments.append((name, comment))
        return json_reply(200, {"pr": self._invoice(name, amount, params["metadata"], bad), "routes": []})

    def _params_reply(self, params: dict[str, Any], bad: set[str]) -> Reply:
        if "redirect" in bad:
            # Another port is another origin: the product must not follow it.
            target = f"{self._fake.base_url}{urlsplit(params['callback']).path}"
            return Reply(status=302, headers={"Location": target})
        if "private_callback" in bad:
            params["callback"] = "https://169.254.169.254/latest/meta-data/lnurlp/callback"
        if "oversized_json" in bad:
            params["padding"] = "x" * 100_000
        body = json.dumps(params).encode()
        if "malformed_json" in bad:
            body = body[: len(body) // 2]
        return Reply(status=200, body=body, headers={"Content-Type": "application/json"})

    def _invoice(self, name: str, amount: int, metadata: str, bad: set[str]) -> str:
        description_hash = hashlib.sha256(metadata.encode()).hexdigest()
        if "wrong_description_hash" in bad:
            description_hash = hashlib.sha256(b"something else entirely").hexdigest()
        if "wrong_amount" in bad:
            amount += 1000
        ledger = self._fake.ledger
        if "expired_invoice" in bad or "unroutable_invoice" in bad:
            # Signed, decodable, but either long expired or from a node no route reaches: never
            # registered with the simulated network, so paying it finds no route either way.
            node = self.node if "expired_invoice" in bad else SimulatedNode.derive("nowhere", ledger.random_hex(8))
            created = int(ledger.now()) - (2 * INVOICE_EXPIRY_SECONDS if "expired_invoice" in bad else 0)
            return node.mint(
                payment_hash=ledger.random_hex(32),
                payment_secret=ledger.random_hex(32),
                amount_sats=amount // 1000,
                amount_msat=amount,
                created_at=created,
                expiry_seconds=INVOICE_EXPIRY_SECONDS,
                description_hash=description_hash,
            )
        invoice = ledger.external.issue(
            node=self.node,
            receiver=f"outside:{name}",
            amount_msat=amount,
            description_hash=description_hash,
            expiry_seconds=INVOICE_EXPIRY_SECONDS,
        )
        return invoice.payment_request


def control_routes(fake: FakeBlink) -> dict[str, Callable[[dict[str, Any]], Any]]:
    """``/control/...`` entries for accounts' migration and the outside host (control.py merges them)."""

    def outside() -> OutsideLnurlHost:
        if fake.outside is None:
            raise ValueError("the outside LNURL host is not running (start the fake with outside_lnurl=True)")
        return fake.outside

    return {
        "/control/migrate": lambda b: fake.migrate_to_self_custodial(str(b["username"])),
        "/control/outside/users": lambda b: {
            "address": outside().add_user(str(b["name"]), comment_allowed=int(b.get("comment_allowed", 0)))
        },
        "/control/outside/misbehave": lambda b: outside().misbehave(str(b["name"]), [str(x) for x in b["behaviours"]]),
    }
