"""The streams scenario's load generator (``python -m bench.stream_client``): one asyncio process.

Opens STREAMS invoice status streams (raw HTTP/1.1 over asyncio sockets: thousands of httpx clients
would measure httpx), prints ``OPEN <open> <failed>`` and waits for ``GO`` on stdin. Then a 1-second
poll loop (random phase) starts on the first POLLED invoices, as a polling terminal would, and every
stream and poller records the wall-clock time it first sees the invoice ``paid``. Ends when the first
EXPECT invoices were seen paid both ways, or after a timeout; writes JSON to OUT.

Usage: BASE_URL API_KEY HASHES_FILE STREAMS POLLED EXPECT OUT
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

OPEN_CONCURRENCY = 64
POLL_SECONDS = 1.0
TIMEOUT = 90.0


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Client:
    def __init__(self, base_url: str, key: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.key = key
        self.stream_seen: dict[str, float] = {}
        self.poll_seen: dict[str, float] = {}
        self.open = 0
        self.failed = 0
        self.writers: list[asyncio.StreamWriter] = []

    def _request(self, path: str, accept: str) -> bytes:
        return (
            f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: Api-Key {self.key}\r\n"
            f"Accept: {accept}\r\n\r\n"
        ).encode()

    async def stream(self, payment_hash: str, opened: asyncio.Semaphore) -> None:
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            writer.write(self._request(f"/api/v1/invoices/{payment_hash}/events", "text/event-stream"))
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise ConnectionError(head[:60])
            buffer = b""
            while b"event: status" not in buffer:  # the current state arrives first
                buffer += await reader.read(65536)
        except (OSError, asyncio.IncompleteReadError, ConnectionError):
            self.failed += 1
            opened.release()
            return
        self.open += 1
        self.writers.append(writer)
        opened.release()
        buffer = b""
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    return
                buffer = (buffer + chunk)[-4096:]
                if b"event: paid" in buffer and payment_hash not in self.stream_seen:
                    self.stream_seen[payment_hash] = time.time()
        except OSError:
            return

    async def poll(self, payment_hash: str) -> None:
        await asyncio.sleep(random.random() * POLL_SECONDS)  # terminals poll on their own phases
        reader, writer = await asyncio.open_connection(self.host, self.port)
        request = self._request(f"/api/v1/invoices/{payment_hash}", "application/json")
        while payment_hash not in self.poll_seen:
            started = time.monotonic()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            body = await reader.readexactly(length)
            if b'"status":"paid"' in body:
                self.poll_seen[payment_hash] = time.time()
                break
            await asyncio.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - started)))
        writer.close()


async def main(argv: list[str]) -> None:
    base_url, key, hashes_file, streams, polled, expect, out = argv
    hashes = Path(hashes_file).read_text().split()
    client = Client(base_url, key)
    opened = asyncio.Semaphore(OPEN_CONCURRENCY)
    started = time.monotonic()
    tasks = []
    for i in range(int(streams)):
        await opened.acquire()
        tasks.append(asyncio.create_task(client.stream(hashes[i % len(hashes)], opened)))
    for _ in range(OPEN_CONCURRENCY):
        await opened.acquire()
    open_seconds = time.monotonic() - started
    print(f"OPEN {client.open} {client.failed} {open_seconds:.1f}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "GO"
    pollers = [asyncio.create_task(client.poll(h)) for h in hashes[: int(polled)]]
    wanted = hashes[: int(expect)]
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if all(h in client.stream_seen for h in wanted) and all(h in client.poll_seen for h in hashes[: int(polled)]):
            break
        await asyncio.sleep(0.2)
    result = {
        "open": client.open,
        "failed": client.failed,
        "open_seconds": round(open_seconds, 1),
        "stream_seen": {h: client.stream_seen[h] for h in wanted if h in client.stream_seen},
        "poll_seen": dict(client.poll_seen),
    }
    Path(out).write_text(json.dumps(result))
    for task in [*pollers, *tasks]:
        task.cancel()
    for writer in client.writers:
        writer.close()


if __name__ == "__main__":
    _raise_fd_limit()
    asyncio.run(main(sys.argv[1:]))
