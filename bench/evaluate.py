"""Ratios to the floors and to the peer, and the issue's targets as met / not met with the figure."""

from __future__ import annotations

from typing import Any

from bench.measure import Measurement
from bench.report import Target, growth_table


def _within_spread(small: Measurement, large: Measurement, key: str) -> bool:
    """True when the two points' run ranges overlap: each point's runs alone differ by as much."""
    a = [float(r[key]) for r in small.runs if r.get(key) is not None]
    b = [float(r[key]) for r in large.runs if r.get(key) is not None]
    if len(a) < 2 or len(b) < 2:
        return False
    return min(b) <= max(a) and min(a) <= max(b)


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def evaluate(
    views: dict[str, Measurement], raw: list[Measurement], scen: dict[str, Any]
) -> tuple[dict[str, str], list[Target], list[str]]:
    ratios: dict[str, str] = {}
    targets: list[Target] = []
    extras: list[str] = []
    redis_floor = views.get("view: 1 Redis GET")
    write_floor = views.get("view: validate+INSERT+SET")

    def rel(m: Measurement | None, floor: Measurement | None, label: str) -> float | None:
        if m is None or floor is None or not m.runs:
            return None
        r = _ratio(m.rps, floor.rps)
        if r is not None:
            ratios[m.name] = f"{r:.2f}x {label}"
        return r

    hot = scen.get("poll_hot")
    r = rel(hot, redis_floor, "floor(1 Redis GET)")
    rel(scen.get("poll_cold"), redis_floor, "floor(1 Redis GET)")
    q = hot.queries if hot else None
    targets.append(Target(
        "hot status polling vs empty view + 1 Redis GET", ">= 0.80x and 0 SQL per hot hit",
        f"{r:.2f}x ({hot.rps:,.0f} vs {redis_floor.rps:,.0f} req/s), {q:.4f} SQL/req"
        if hot and r and redis_floor and q is not None
        else "-",
        None if r is None or q is None else (r >= 0.8 and q < 0.005),
    ))  # fmt: skip

    # Issue 22 replaced the create targets (a floor without the provider call, 10x LNbits) with fair
    # ones measured in alternation (bench/issue22.py); the old ratios stay in the table as reports.
    create = scen.get("create")
    rel(create, write_floor, "floor(validate+INSERT+SET)")
    peer_create, peer_status = scen.get("peer_create"), scen.get("peer_status")
    paired = scen.get("create_paired") or create
    rp = _ratio(paired.rps, peer_create.rps) if paired and peer_create else None
    if rp is not None and peer_create is not None:
        ratios[peer_create.name] = f"BlinkPOS create = {rp:.1f}x"
    if hot and peer_status:
        rs = _ratio(hot.rps, peer_status.rps)
        if rs:
            ratios[peer_status.name] = f"BlinkPOS hot poll = {rs:.1f}x"

    alone, under = scen.get("slow_alone"), scen.get("slow_under")
    rl = _ratio(under.p99_ms, alone.p99_ms) if alone and under else None
    targets.append(Target(
        "polling p99 under 250 ms-provider creates vs alone", "<= 1.5x",
        f"{rl:.2f}x ({under.p99_ms:.1f} vs {alone.p99_ms:.1f} ms)" if rl and under and alone else "-",
        None if rl is None else rl <= 1.5,
    ))  # fmt: skip

    burst = scen.get("burst")
    if burst is not None:
        e = burst.extra
        # The ack latency target is the open-loop one (issue 22); a closed-loop burst measures queueing.
        ok = e["unforwarded"] == 0
        targets.append(Target(
            "webhook burst: all forwarded (ack p99 closed loop: report)", "0 unforwarded",
            f"p99 {burst.p99_ms:.1f} ms over {e['deliveries']} deliveries; {e['forwarded']}/{e['unique_payments']} "
            f"forwarded in {e['seconds_until_all_forwarded'] or '>' + str(round(e['ack_seconds']))} s "
            f"({e['forwarded_per_second']}/s)",
            ok,
        ))  # fmt: skip
        for m in (burst, scen.get("burst_slow")):
            if m is not None:
                x = m.extra
                extras.append(
                    f"  {m.name}: acks {x['ack_seconds']} s, forwarded {x['forwarded']}/{x['unique_payments']}, "
                    f"all forwarded after {x['seconds_until_all_forwarded']} s, "
                    f"{x['forwarded_per_second']} payments/s, "
                    f"{x['worker_cpu_ms_per_payment']} worker CPU ms/payment"
                )
    else:
        targets.append(Target("webhook burst: all forwarded", "0 unforwarded", "-", None))

    small, large = scen.get("growth_small"), scen.get("growth_large")
    if small and large:
        extras.extend(growth_table(small, large))
        costs: dict[str, float] = {}
        noisy: dict[str, bool] = {}
        for key, title in (("hot", "hot polling"), ("create", "create")):
            a, b = small[key], large[key]
            if a.rps:
                ratios[b.name] = f"{b.rps / a.rps:.2f}x of @{small['rows']:,}"
            # Growth "costs" a path when it serves fewer requests/s or needs more CPU per request;
            # both are judged.
            costs[f"{title} req/s"] = 1 - b.rps / a.rps if a.rps else 0.0
            costs[f"{title} CPU/req"] = b.cpu_ms / a.cpu_ms - 1 if a.cpu_ms else 0.0
            # A difference no larger than the spread between the runs of one point (same size, same
            # code, a minute apart) is not a measured cost: the runs alternate between the points,
            # so a real cost would show as a gap between the two points' ranges, not inside them.
            noisy[f"{title} req/s"] = _within_spread(a, b, "rps")
            noisy[f"{title} CPU/req"] = _within_spread(a, b, "cpu_ms_per_req")
        dash = {n: v for n, v in large["dashboard"].items() if isinstance(v, int | float)}
        dash_small = [v for v in small["dashboard"].values() if isinstance(v, int | float)]
        worst = max(dash.items(), key=lambda kv: kv[1], default=("-", 0.0))
        worst_all = max([worst[1], *dash_small])
        measured = bool(dash) and "error" not in large["dashboard"] and "error" not in small["dashboard"]
        missed = [n for n, c in costs.items() if c >= 0.10]
        targets.append(Target(
            f"growth {small['rows']:,} -> {large['rows']:,} splits",
            "< 10 % cost on hot paths; each dashboard query < 100 ms",
            ", ".join(f"{n} {c:+.1%} cost{' (within run spread)' if c >= 0.10 and noisy[n] else ''}"
                      for n, c in costs.items())
            + f"; slowest dashboard query @ {large['rows']:,}: {worst[0]} {worst[1]:.1f} ms",
            None if not measured else not missed and worst_all < 100,
            within_noise=bool(missed) and all(noisy[n] for n in missed) and worst_all < 100,
        ))  # fmt: skip
    else:
        targets.append(Target("growth", "< 10 % cost; dashboard < 100 ms", "-", None))
    return ratios, targets, extras
