"""Issue 22's lines in the bench's output and its targets with their verdicts (bench/issue22.py
measures them)."""

from __future__ import annotations

from typing import Any

from bench.report import Target


def open_loop_table(data: dict[str, Any]) -> list[str]:
    cap, cores = data["capacity"], data["cores"]
    lines = [
        f"  capacity on {cores} shared cores (closed loop): webhook ack {cap['webhook_ack_rps']:,.0f}/s "
        f"({cap['webhook_ack_rps'] / cores:,.0f}/s per core, {cap['webhook_ack_cpu_ms']} CPU ms), hot poll "
        f"{cap['hot_poll_rps']:,.0f}/s ({cap['hot_poll_rps'] / cores:,.0f}/core), create {cap['create_rps']:,.0f}/s "
        f"({cap['create_rps'] / cores:,.0f}/core)",
        f"  {'open loop (latency from the scheduled send)':<44}{'rate/s':>9}{'done/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'max ms':>9}  answers",
    ]
    for r in data["runs"]:
        label = f"{r['path']} @ {int(r['share'] * 100)} % of capacity"
        lines.append(
            f"  {label:<44}{r['target_rps']:>9,.0f}{r['achieved_rps']:>9,.0f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
            f"{r['max_ms']:>9.1f}  {r['statuses']}"
        )
    return lines


def tip_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"  {'paid -> staff has the tip (one sale at a time)':<50}{'pay->last leg p50/p99 ms':>26}"
        f"{'paid->completed p50 ms':>24}{'of which fake / ours':>22}{'worker CPU ms/leg':>19}"
    ]
    for r in rows:
        split = f"{r.get('paid_to_completed_provider_p50_ms', 0):.0f} / {r.get('paid_to_completed_own_p50_ms', 0):.0f}"
        lines.append(
            f"  {r['name']:<50}{r['pay_to_last_leg_p50_ms']:>13.0f} /{r['pay_to_last_leg_p99_ms']:>10.0f}"
            f"{r['paid_to_completed_p50_ms']:>24.0f}{split:>22}{r['worker_cpu_ms_per_leg']:>19.2f}"
        )
    return lines


def targets(scen: dict[str, Any]) -> list[Target]:
    out: list[Target] = []
    floor, create = scen.get("create_floor_provider"), scen.get("create_paired")
    if floor and create and floor.rps and floor.cpu_ms:
        r, c = create.rps / floor.rps, create.cpu_ms / floor.cpu_ms
        out.append(Target(
            "create (0 ms provider) vs floor WITH the provider call (alternated)", ">= 0.60x req/s, <= 2x CPU ms",
            f"{r:.2f}x ({create.rps:,.0f} vs {floor.rps:,.0f} req/s); {c:.2f}x CPU ({create.cpu_ms:.2f} vs "
            f"{floor.cpu_ms:.2f} ms); SQL {create.queries or 0:.2f} vs {floor.queries or 0:.2f}",
            r >= 0.6 and c <= 2.0,
        ))  # fmt: skip
    peer = scen.get("peer_create")
    if create and peer and peer.rps:
        rp = create.rps / peer.rps
        cpu_text = f"{create.cpu_ms:.1f} vs {peer.cpu_ms:.1f} CPU ms"
        figure = f"{rp:.1f}x ({create.rps:,.0f} vs {peer.rps:,.0f} req/s; {cpu_text})"
        out.append(Target("create vs LNbits create (same run)", ">= 3x", figure, rp >= 3))
    ol = scen.get("open_loop")
    if ol:
        half = next((r for r in ol["runs"] if r["path"] == "webhook ack" and r["share"] == 0.5), None)
        if half:
            ok = half["p99_ms"] < 50 and half["answered"] == half["scheduled"]
            out.append(Target(
                "webhook ack p99 at 50 % of capacity (open loop, forwarding running)", "< 50 ms",
                f"p99 {half['p99_ms']:.1f} ms at {half['target_rps']:.0f}/s ({half['answered']}/{half['scheduled']})",
                ok,
            ))  # fmt: skip
    four = next((r for r in scen.get("tipflow", []) if r["legs"] == 4 and r["latency_ms"] == 100), None)
    if four:
        limit = (4 + 1) * 100 + 50
        out.append(Target(
            "4-leg sale at 100 ms provider: paid -> completed p50", f"<= {limit} ms",
            f"{four['paid_to_completed_p50_ms']:.0f} ms (pay -> last leg p50 {four['pay_to_last_leg_p50_ms']:.0f} ms; "
            f"in the fake {four.get('paid_to_completed_provider_p50_ms', 0):.0f}, "
            f"BlinkPOS {four.get('paid_to_completed_own_p50_ms', 0):.0f})",
            four["paid_to_completed_p50_ms"] <= limit,
        ))  # fmt: skip
    cpu = [r["worker_cpu_ms_per_leg"] for r in scen.get("tipflow", []) if r["legs"] == 4]
    if cpu:
        figure = " / ".join(f"{c:.1f} ms" for c in cpu) + " (0 / 100 ms provider)"
        name = "worker CPU per leg (4-leg sales, webhook task + detection included)"
        out.append(Target(name, "<= 10 ms", figure, max(cpu) <= 10))
    return out
