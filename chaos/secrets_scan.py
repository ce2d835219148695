"""Scan what a run left behind (log files, Redis keys and values, Celery messages) for secrets.

A secret is: a value we know (terminal API keys, the platform key, Fernet keys, the webhook secret,
SECRET_KEY), something shaped like one (``bpos_…``, ``blink_…``, ``whsec_…``, a full bolt11), or a
64-hex token that is a known preimage (payment hashes look the same and are fine, so preimages are
matched against the set the books hold, never by shape). Findings name the source and the kind,
never the secret itself.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis

SHAPES: dict[str, re.Pattern[str]] = {
    "terminal_api_key": re.compile(r"bpos_[0-9a-f]{8}_[A-Za-z0-9-]{16,}"),
    "blink_api_key": re.compile(r"blink_[A-Za-z0-9]{16,}"),
    "webhook_secret": re.compile(r"whsec_[A-Za-z0-9+/=]{16,}"),
    # A whole invoice: hrp, amount, separator and a long data part. A shortened one (``lnbc1…x9``) is fine.
    "bolt11": re.compile(r"ln(?:bc|tb|bcrt|sb)[0-9]*[munp]?1[02-9ac-hj-np-z]{60,}", re.IGNORECASE),
}
HEX64 = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")


@dataclass
class Finding:
    source: str
    kind: str
    where: str


@dataclass
class ScanResult:
    scanned: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    celery_messages: int = 0
    celery_non_id_args: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings and not self.celery_non_id_args

    def as_dict(self) -> dict[str, Any]:
        kinds = Counter(f"{f.source}:{f.kind}" for f in self.findings)
        return {
            "ok": self.ok,
            "scanned": dict(self.scanned),
            "findings": dict(kinds),
            "examples": [asdict(f) for f in self.findings[:20]],
            "celery_messages_seen": self.celery_messages,
            "celery_non_id_args": self.celery_non_id_args[:20],
        }


class SecretScanner:
    def __init__(self, *, known: Mapping[str, Iterable[str]], preimages: Iterable[str] = ()) -> None:
        # Short known values would match by accident; every real secret here is long.
        self.known = {name: {v for v in values if v and len(v) >= 16} for name, values in known.items()}
        self.preimages = {p.lower() for p in preimages if p}
        self.result = ScanResult()
        self._seen_messages: set[str] = set()

    # -- text ---------------------------------------------------------------------------------

    def scan_text(self, source: str, text: str, where: str = "") -> None:
        self.result.scanned[source] += 1
        for name, values in self.known.items():
            for value in values:
                if value in text:
                    self.result.findings.append(Finding(source, f"known:{name}", where))
        for kind, pattern in SHAPES.items():
            if pattern.search(text):
                self.result.findings.append(Finding(source, kind, where))
        if self.preimages:
            for token in HEX64.findall(text):
                if token.lower() in self.preimages:
                    self.result.findings.append(Finding(source, "preimage", where))
                    break

    def scan_logs(self, paths: Iterable[Path]) -> None:
        for path in paths:
            if not path.is_file():
                continue
            with path.open("r", errors="replace") as handle:
                for number, line in enumerate(handle, 1):
                    self.scan_text("log", line, f"{path.name}:{number}")

    # -- Redis and Celery messages --------------------------------------------------------------

    def scan_redis(self, client: redis.Redis) -> None:
        """Every key and value of every type, plus the decoded body of each Celery message found."""
        for raw_key in client.scan_iter(count=500):
            key = raw_key.decode("latin-1") if isinstance(raw_key, bytes) else str(raw_key)
            try:
                kind_raw: Any = client.type(raw_key)
                kind = kind_raw.decode() if isinstance(kind_raw, bytes) else str(kind_raw)
                values: list[Any]
                if kind == "string":
                    values = [client.get(raw_key) or b""]
                elif kind == "list":
                    values = client.lrange(raw_key, 0, -1)
                elif kind == "hash":
                    values = [b for pair in client.hgetall(raw_key).items() for b in pair]
                elif kind == "set":
                    values = list(client.smembers(raw_key))
                elif kind == "zset":
                    values = list(client.zrange(raw_key, 0, -1))
                else:
                    values = []
            except redis.RedisError:
                continue  # the key expired (or Redis restarted) between SCAN and the read
            self.scan_text("redis_key", key, key[:80])
            for value in values:
                text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                self.scan_text("redis_value", text, key[:80])
                self._maybe_celery(text, key)

    def _maybe_celery(self, text: str, key: str) -> None:
        """kombu's Redis transport stores ``{"body": <base64 JSON>, "headers": {...}, ...}``."""
        if '"body_encoding"' not in text and '"headers"' not in text:
            return
        try:
            message: Any = json.loads(text)
        except ValueError:
            return
        # unacked hash values are JSON arrays: [message, exchange, routing_key]
        if isinstance(message, list) and message and isinstance(message[0], dict):
            message = message[0]
        if isinstance(message, dict) and "body" in message:
            self._celery_message(message, key)

    def _celery_message(self, message: Mapping[str, Any], key: str) -> None:
        body = message.get("body")
        props = message.get("properties") or {}
        if isinstance(body, str) and props.get("body_encoding") == "base64":
            try:
                body = base64.b64decode(body).decode("utf-8", errors="replace")
            except (binascii.Error, ValueError):
                return
        headers = message.get("headers") or {}
        task_id = str(headers.get("id") or props.get("correlation_id") or "")
        if task_id and task_id in self._seen_messages:
            return
        self._seen_messages.add(task_id)
        self.result.celery_messages += 1
        text = body if isinstance(body, str) else json.dumps(body)
        self.scan_text("celery_message", text + json.dumps(headers, default=str), f"{headers.get('task', '?')}")
        # Task arguments are ids only (docs/ARCHITECTURE.md, money rule 5).
        try:
            decoded = json.loads(text)
        except ValueError:
            return
        args = decoded[0] if isinstance(decoded, list) and decoded else []
        kwargs = decoded[1] if isinstance(decoded, list) and len(decoded) > 1 else {}
        values = list(args or []) + list((kwargs or {}).values())
        if any(not isinstance(v, int) or isinstance(v, bool) for v in values):
            self.result.celery_non_id_args.append(f"{headers.get('task')}: {[type(v).__name__ for v in values]}")


def bolt11_like(text: str) -> bool:
    return bool(SHAPES["bolt11"].search(text))
