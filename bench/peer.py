"""The side-by-side peer: LNbits (FakeWallet funding source, SQLite, one uvicorn process) on loopback.

Set up as docs/PERFORMANCE.md ("The LNbits peer") describes: its own venv under .local/lnbits-venv (installed on demand,
never a project dependency), ``bitstring<5`` pinned next to it, a fixed BTC price served by a stub
on loopback (offline, every invoice would otherwise stall on the price lookup), the rate limiter
opened wide, first-install done over HTTP, then one wallet whose invoice key the load uses.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bench.procs import log, tree_cpu
from blinkpos.processes import ROOT, Process, ProcessGroup, free_port, wait_port

LNBITS_VERSION = "1.6.2"
VENV = ROOT / ".local" / "lnbits-venv"


class _PriceHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"rates": {"median": 100000.0}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def ensure_lnbits(*, install: bool) -> Path | None:
    """The lnbits executable in its own venv, installing it when allowed; None (with a log) if not."""
    exe = VENV / "bin" / "lnbits"
    if exe.exists():
        return exe
    if not install:
        log(f"LNbits peer skipped: {exe} missing and installation disabled (--no-peer-install)")
        return None
    log(f"installing LNbits {LNBITS_VERSION} into {VENV} (peer only, not a project dependency)")
    try:
        if not (VENV / "bin" / "python").exists():
            subprocess.run(["python3", "-m", "venv", str(VENV)], check=True, timeout=120)
        subprocess.run(
            [str(VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
             f"lnbits=={LNBITS_VERSION}", "bitstring<5"],
            check=True, timeout=900, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        log(f"LNbits peer skipped: could not install it ({exc.__class__.__name__}: {str(exc)[:200]})")
        return None
    return exe if exe.exists() else None


@dataclass
class Peer:
    managed: Process
    port: int
    inkey: str
    price_server: ThreadingHTTPServer
    workdir: tempfile.TemporaryDirectory[str]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        return tree_cpu(self.managed.pid)


def start_peer(group: ProcessGroup, exe: Path) -> Peer | None:
    price = ThreadingHTTPServer(("127.0.0.1", free_port(18190)), _PriceHandler)
    threading.Thread(target=price.serve_forever, daemon=True, name="bench-price-stub").start()
    workdir = tempfile.TemporaryDirectory(prefix="bench-lnbits-")
    work = Path(workdir.name)
    package = next((VENV / "lib").glob("python3*/site-packages/lnbits"))
    # LNbits serves these relative to its working directory.
    (work / "lnbits").mkdir()
    for name in ("static", "templates"):
        (work / "lnbits" / name).symlink_to(package / name)
        (work / name).symlink_to(package / name)
    (work / "data").mkdir()
    port = free_port(18500)
    env = {
        "PATH": f"{VENV / 'bin'}:/usr/bin:/bin",
        "HOME": str(work),
        "LNBITS_BACKEND_WALLET_CLASS": "FakeWallet",
        "LNBITS_DATA_FOLDER": str(work / "data"),
        "LNBITS_RATE_LIMIT_NO": "100000000",
        "LNBITS_PRICE_AGGREGATOR_URL": f"http://127.0.0.1:{price.server_address[1]}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DEBUG": "false",
        "LNBITS_ADMIN_UI": "true",
    }
    managed = group.start("lnbits", [str(exe), "--port", str(port), "--host", "127.0.0.1"], env=env, cwd=work)
    try:
        wait_port(port, timeout=90, proc=managed.proc)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 30
            while True:
                reply = client.put(
                    "/api/v1/auth/first_install",
                    json={"username": "bench", "password": "bench-password-1", "password_repeat": "bench-password-1"},
                )
                if reply.status_code < 500 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            wallet = client.post("/api/v1/account", json={"name": "bench"})
            wallet.raise_for_status()
            inkey = wallet.json()["inkey"]
    except Exception as exc:
        why = f"{exc.__class__.__name__}: {str(exc)[:300]}"
        log(f"LNbits peer skipped: it did not start ({why}); log: {managed.log_path}")
        group.stop(managed)
        price.shutdown()
        workdir.cleanup()
        return None
    return Peer(managed=managed, port=port, inkey=inkey, price_server=price, workdir=workdir)


def stop_peer(group: ProcessGroup, peer: Peer) -> None:
    group.stop(peer.managed)
    peer.price_server.shutdown()
    peer.workdir.cleanup()


def create_invoices(peer: Peer, count: int) -> list[str]:
    hashes: list[str] = []
    with httpx.Client(base_url=peer.base_url, timeout=30, headers={"X-Api-Key": peer.inkey}) as client:
        for _ in range(count):
            reply = client.post("/api/v1/payments", json={"out": False, "amount": 100, "memo": "x"})
            reply.raise_for_status()
            hashes.append(reply.json()["payment_hash"])
    return hashes
