"""``python -m blinkpos.webserver [uvicorn options]``: the web tier, uvicorn serving ``blinkpos.asgi``.

The same as ``uvicorn`` with one thing first: the process's open-file limit is raised to its hard
limit. Every open status stream (payments/api/status_events.py) is a socket, and the usual soft limit
(1 024) would refuse connections long before the memory runs out; the worker processes uvicorn
spawns inherit the raised limit.
"""

from __future__ import annotations

import resource

import uvicorn


def raise_open_files_limit() -> int:
    """Soft RLIMIT_NOFILE := hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


if __name__ == "__main__":
    raise_open_files_limit()
    uvicorn.main()
