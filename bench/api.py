"""How the bench talks to the POS API and the fake Blink (one place to adapt if a field name changes)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

INVOICES = "/api/v1/invoices"


def auth_headers(fixtures: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Api-Key {fixtures['terminal_key']}"}


def create_body(fixtures: dict[str, Any]) -> str:
    """A 1 000-sat sale with a 15 % tip split across the three staff of the bench split profile."""
    body = {"amount_sats": 1000, "tip_percent": "15", "split_profile_id": fixtures["profile_id"], "memo": "bench"}
    return json.dumps(body)


def payment_hash_of(reply: dict[str, Any]) -> str:
    for key in ("paymentHash", "payment_hash"):
        if key in reply:
            return str(reply[key])
    raise KeyError(f"no payment hash in the create reply: keys {sorted(reply)}")


def create_invoices(base_url: str, fixtures: dict[str, Any], count: int, *, parallel: int = 8) -> list[str]:
    """Create ``count`` invoices through the real endpoint; returns their payment hashes."""
    body = create_body(fixtures)
    headers = {**auth_headers(fixtures), "Content-Type": "application/json"}

    def batch(n: int) -> list[str]:
        out = []
        with httpx.Client(base_url=base_url, timeout=30, headers=headers) as client:
            for _ in range(n):
                reply = client.post(INVOICES, content=body)
                if reply.status_code != 201 and reply.status_code != 200:
                    raise RuntimeError(f"create invoice answered {reply.status_code}: {reply.text[:300]}")
                out.append(payment_hash_of(reply.json()))
        return out

    sizes = [count // parallel + (1 if i < count % parallel else 0) for i in range(parallel)]
    with ThreadPoolExecutor(parallel) as pool:
        return [h for part in pool.map(batch, [s for s in sizes if s]) for h in part]


class FakeControl:
    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=60)

    def latency(self, seconds: float) -> None:
        self.client.post("/control/latency", json={"operation": "*", "seconds": seconds}).raise_for_status()

    def webhooks_to(self, url: str | None, secret: str | None) -> None:
        self.client.post("/control/webhooks", json={"url": url, "secret": secret}).raise_for_status()

    def pay(self, payment_hash: str) -> None:
        self.client.post("/control/pay", json={"payment_hash": payment_hash}).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        """The GraphQL requests the fake received: ``arrived`` / ``at`` (answer ready), epoch seconds."""
        reply = self.client.get("/control/requests")
        reply.raise_for_status()
        return list(reply.json())

    def messages(self) -> list[dict[str, Any]]:
        reply = self.client.get("/control/webhooks")
        reply.raise_for_status()
        data = reply.json()
        return list(data["messages"] if isinstance(data, dict) else data)

    def close(self) -> None:
        self.client.close()
