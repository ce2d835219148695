"""``make run``: the whole stack on one machine through ``blinkpos.stack``: migrations, static files,
the fake Blink with demo data (when no real ``BLINK_API_KEY`` is configured), a Celery worker, Celery
beat and the web server on ``WEB_BIND`` (default 127.0.0.1:8000). Ctrl-C (or SIGTERM) stops every
process it started, by PID; if one dies, all are stopped.

Environment: ``WEB_BIND``, ``FAKE_BLINK_PORT`` (8089), ``FAKE_BLINK_AUTOPAY`` (seconds before the demo
customer pays, 8), ``DJANGO_SETTINGS_MODULE`` (default ``blinkpos.settings.dev``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from blinkpos import INHERITED_DJANGO_SETTINGS_MODULE
from blinkpos.stack import DEFAULT_SETTINGS, Stack


def _log(message: str) -> None:
    print(f"[run] {message}", file=sys.stderr, flush=True)


def build_stack(environ: dict[str, str]) -> Stack:
    host, _, port = environ.get("WEB_BIND", "127.0.0.1:8000").rpartition(":")
    demo = not environ.get("BLINK_API_KEY")
    return Stack(
        web_port=int(port),
        host=host or "127.0.0.1",
        fake_port=int(environ.get("FAKE_BLINK_PORT", "8089")) if demo else None,
        # The caller's choice, not the default that importing the blinkpos package put in os.environ.
        settings_module=INHERITED_DJANGO_SETTINGS_MODULE or DEFAULT_SETTINGS,
        env=environ,
        autopay_seconds=float(environ.get("FAKE_BLINK_AUTOPAY", "8")),
    )


def main() -> int:
    stack = build_stack(dict(os.environ))

    def interrupt(*_args: object) -> None:
        raise KeyboardInterrupt  # also interrupts a start still waiting for readiness

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    exit_code = 0
    try:
        stack.start()
        _log(f"BlinkPOS is up on {stack.base_url}/ (health: /health, API docs: /api/docs/)")
        if stack.fake_port is not None:
            _log(f"fake Blink on {stack.fake_url} (control: {stack.fake_control_url}/...)")
        while not (dead := stack.dead()):
            time.sleep(0.5)
        for process in dead:
            _log(f"{process.name} exited with {process.proc.returncode}; stopping the stack")
        exit_code = dead[0].proc.returncode or 1
    except KeyboardInterrupt:
        pass
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        _log(f"could not start the stack: {exc}")
        exit_code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _log("stopping")
        stack.stop()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
