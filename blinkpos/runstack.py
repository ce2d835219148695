"""Start the whole stack on one machine for ``make run``: migrations, demo data, the fake Blink (when
no real ``BLINK_API_KEY`` is configured), a Celery worker, Celery beat and the web server on
127.0.0.1:8000. Ctrl-C (or SIGTERM) stops every process it started; if one dies, all are stopped.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
WEB_BIND = os.environ.get("WEB_BIND", "127.0.0.1:8000")
FAKE_BLINK_PORT = int(os.environ.get("FAKE_BLINK_PORT", "8089"))
# Demo credentials for the fake Blink, fresh for every run (the fake and the app both get them from
# the environment built here); a real deployment sets its own.
DEMO_PLATFORM_KEY = "blink_" + secrets.token_hex(16)
DEMO_WEBHOOK_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _log(message: str) -> None:
    print(f"[run] {message}", file=sys.stderr, flush=True)


def _manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True)


def main() -> int:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "blinkpos.settings.base")
    env.setdefault("DEBUG", "true")
    demo = not env.get("BLINK_API_KEY")
    if demo:
        env["BLINK_API_KEY"] = DEMO_PLATFORM_KEY
        env["BLINK_API_URL"] = f"http://127.0.0.1:{FAKE_BLINK_PORT}/graphql"
        env.setdefault("BLINK_WEBHOOK_SECRET", DEMO_WEBHOOK_SECRET)
        # The demo runs with DEBUG on; the boot guard only applies to production settings.
    _manage("migrate", "--noinput", env=env)

    procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(name: str, argv: list[str]) -> None:
        _log(f"starting {name}: {' '.join(argv[:4])} ...")
        procs.append((name, subprocess.Popen(argv, cwd=ROOT, env=env)))

    if demo:
        start(
            "fake-blink",
            [
                PY, "manage.py", "fake_blink", "--port", str(FAKE_BLINK_PORT), "--demo", "--autopay", "8",
                "--webhook-url", f"http://{WEB_BIND}/webhooks/blink",
                "--webhook-secret-env", "BLINK_WEBHOOK_SECRET",
                "--platform-api-key-env", "BLINK_API_KEY",
            ],
        )  # fmt: skip
        time.sleep(1.0)
        _manage("seed_demo", env=env)
    start("worker", [PY, "-m", "celery", "-A", "blinkpos", "worker", "--loglevel", "INFO", "--concurrency", "2"])
    start("beat", [PY, "-m", "celery", "-A", "blinkpos", "beat", "--loglevel", "INFO"])
    start(
        "web",
        [PY, "-m", "gunicorn", "blinkpos.wsgi:application", "--bind", WEB_BIND, "--workers", "2", "--threads", "4"],
    )
    _log(f"BlinkPOS is up on http://{WEB_BIND}/ (health: /health, API docs: /api/docs/)")

    stopping = False

    def stop(*_args: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, proc in procs:
            if proc.poll() is not None:
                _log(f"{name} exited with {proc.returncode}; stopping the stack")
                exit_code = proc.returncode or 1
                stopping = True
        time.sleep(0.5)
    for _name, proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
    for _name, proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
