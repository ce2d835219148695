"""``/control/...``: the fake's Python API over HTTP, for other processes (Celery workers, the demo
browser, a chaos driver). JSON in, JSON out; a bad request is a 400 with ``{"error": ...}``.

    GET  /control/health                                    -> {"ok": true, "platform_wallet_id"}
    GET  /control/ledger                                    -> FakeBlink.dump()
    GET  /control/webhooks                                  -> recorded messages and attempts
    GET  /control/requests                                  -> GraphQL requests seen
    GET  /control/limits                                    -> limits, windows, blocks, 24 h volumes
    GET  /control/webhook-endpoints                         -> per account: url, failing_since, disabled
    POST /control/accounts      {username, balance?, currencies?, receive_disabled?, api_key?, scopes?}
    POST /control/pay           {payment_hash, allow_expired?}          pay as a customer
    POST /control/script        {operation, outcomes: [...]}
    POST /control/latency       {operation, seconds}
    POST /control/autopay       {seconds | null}
    POST /control/pending-polls {polls}
    POST /control/settle        {payment_hash}
    POST /control/price         {currency, btc_price: "100000.00"}
    POST /control/balance       {wallet_id, balance}
    POST /control/clock         {advance_seconds}
    POST /control/scopes        {scopes: [...], username?}            the key's scopes (default: platform)
    POST /control/already-paid  {flow_seconds | null}                 ALREADY_PAID window (Blink: 300)
    POST /control/receive-disabled {username, disabled}
    POST /control/webhooks      {url | null, secret?, username?}
    POST /control/redeliver     {svix_id}
    POST /control/deliver-raw   {body, svix_id?, timestamp?, url?, secret?}
    POST /control/reset         {}                                     drop scripts and latency
    POST /control/limits        {invoice_rate?: {points, window_seconds, block_seconds} | null,
                                 intraledger_daily_cents?: int | null, reset_counters?}
    POST /control/webhook-amounts {string_share}                      share of bigints sent as strings
    POST /control/migrate       {username}              to self-custodial (wallets gone, address resolves)
    POST /control/outside/users {name, comment_allowed?}       a user of the outside LNURL host
    POST /control/outside/misbehave {name, behaviours: [...]}  see lnurl_host.BEHAVIOURS
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from fakeblink.lnurl_host import control_routes as lnurl_control_routes
from fakeblink.server import Reply, json_reply

if TYPE_CHECKING:
    from fakeblink.blink import FakeBlink

Route = Callable[[dict[str, Any]], Any]


def _attempt(attempt: Any) -> dict[str, Any]:
    return {"status_code": attempt.status_code, "error": attempt.error, "at": attempt.at}


class ControlAPI:
    def __init__(self, fake: FakeBlink) -> None:
        self._fake = fake
        f = fake
        self._get: dict[str, Callable[[], Any]] = {
            "/control/health": lambda: {"ok": True, "platform_wallet_id": f.platform_wallet_id},
            "/control/ledger": f.dump,
            "/control/webhooks": f.webhook_messages,
            "/control/requests": f.requests,
            "/control/limits": f.limits_state,
            "/control/webhook-endpoints": f.webhook_endpoints,
        }
        self._post: dict[str, Route] = {
            "/control/accounts": self._add_account,
            "/control/pay": lambda b: f.pay_invoice_as_customer(
                str(b["payment_hash"]), allow_expired=bool(b.get("allow_expired"))
            ),
            "/control/script": lambda b: f.script(str(b["operation"]), [str(o) for o in b["outcomes"]]),
            "/control/latency": lambda b: f.set_latency(str(b["operation"]), float(b["seconds"])),
            "/control/autopay": lambda b: f.set_autopay(None if b.get("seconds") is None else float(b["seconds"])),
            "/control/pending-polls": lambda b: f.set_pending_polls(int(b["polls"])),
            "/control/settle": lambda b: {"settled": f.settle_pending(str(b["payment_hash"]))},
            "/control/price": lambda b: f.set_price(str(b["currency"]), Decimal(str(b["btc_price"]))),
            "/control/balance": lambda b: f.set_balance(str(b["wallet_id"]), int(b["balance"])),
            "/control/clock": lambda b: f.advance_clock(float(b["advance_seconds"])),
            "/control/scopes": lambda b: f.set_scopes([str(s) for s in b["scopes"]], username=b.get("username")),
            "/control/already-paid": lambda b: f.set_already_paid_flow(
                None if b.get("flow_seconds") is None else float(b["flow_seconds"])
            ),
            "/control/receive-disabled": lambda b: f.set_receive_disabled(
                str(b["username"]), bool(b.get("disabled", True))
            ),
            "/control/webhooks": lambda b: f.configure_webhooks(
                b.get("url"), b.get("secret"), username=b.get("username")
            ),
            "/control/redeliver": lambda b: _attempt(f.redeliver(str(b["svix_id"]))),
            "/control/deliver-raw": lambda b: _attempt(
                f.deliver_raw(
                    body=b["body"] if isinstance(b["body"], str) else json.dumps(b["body"], separators=(",", ":")),
                    svix_id=b.get("svix_id"),
                    timestamp=int(b["timestamp"]) if b.get("timestamp") is not None else None,
                    url=b.get("url"),
                    secret=b.get("secret"),
                )
            ),
            "/control/reset": lambda b: f.reset_scenarios(),
            "/control/limits": lambda b: f.configure_limits(
                {k: v for k, v in b.items() if k != "reset_counters"}, reset_counters=bool(b.get("reset_counters"))
            ),
            "/control/webhook-amounts": lambda b: f.set_webhook_string_amounts(float(b["string_share"])),
        }
        self._post.update(lnurl_control_routes(fake))  # migrate, outside LNURL host (lnurl_host.py)

    def _add_account(self, body: dict[str, Any]) -> dict[str, Any]:
        f = self._fake
        username = str(body["username"])
        f.add_account(
            username,
            balance=int(body.get("balance", 0)),
            currencies=tuple(body.get("currencies", ("BTC",))),
            receive_disabled=bool(body.get("receive_disabled", False)),
            api_key=body.get("api_key"),
            scopes=tuple(body.get("scopes", ("READ", "RECEIVE"))),
        )
        return {"username": username.lower(), "wallets": f.wallets_of(username)}

    def handle(self, method: str, path: str, body: bytes) -> Reply:
        try:
            if method == "GET" and path in self._get:
                return json_reply(200, self._get[path]())
            if method == "POST" and path in self._post:
                payload = json.loads(body or b"{}")
                if not isinstance(payload, dict):
                    raise ValueError("body must be a JSON object")
                result = self._post[path](payload)
                return json_reply(200, result if result is not None else {"ok": True})
        except (KeyError, ValueError, TypeError, InvalidOperation) as exc:
            return json_reply(400, {"error": f"{type(exc).__name__}: {exc}"})
        return json_reply(404, {"error": f"no control endpoint {method} {path}"})
