"""The printed table, the target verdicts and the JSON file under artifacts/bench/."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.measure import Measurement


@dataclass
class Target:
    name: str
    goal: str
    figure: str
    met: bool | None  # None: not measured in this run
    # Missed only by differences smaller than the spread of the runs themselves: not a measured miss,
    # not a pass either (the growth target on a shared machine, see bench/evaluate.py).
    within_noise: bool = False

    def verdict(self) -> str:
        if self.met is None:
            return "not measured"
        if self.met:
            return "met"
        return "within noise" if self.within_noise else "NOT MET"


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def table(sections: list[tuple[str, list[Measurement]]], ratios: dict[str, str]) -> str:
    head = f"{'scenario':<58} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>10} {'SQL/req':>8}  vs"
    lines = [head, "-" * len(head)]
    for title, items in sections:
        if not items:
            continue
        lines.append(f"[{title}]")
        for m in items:
            lines.append(
                f"{m.name[:58]:<58} {_fmt(m.rps, 0):>9} {_fmt(m.p50_ms, 2):>8} {_fmt(m.p99_ms, 2):>8} "
                f"{_fmt(m.cpu_ms if m.runs and m.runs[0].get('cpu_ms_per_req') is not None else None, 2):>10} "
                f"{_fmt(m.queries, 3):>8}  {ratios.get(m.name, '')}"
            )
    return "\n".join(lines)


def targets_text(targets: list[Target]) -> str:
    lines = ["Targets:"]
    for t in targets:
        lines.append(f"  [{t.verdict():>12}] {t.name}: {t.figure} (goal {t.goal})")
    return "\n".join(lines)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str))


def _spread(m: Measurement) -> str:
    values = [r["rps"] for r in m.runs if r.get("rps") is not None]
    return f"[{min(values):,.0f}-{max(values):,.0f}]" if values else ""


def _change(a: float | None, b: float | None) -> str:
    return f"{b / a - 1:+.1%}" if a and b is not None else "-"


def growth_table(small: dict[str, Any], large: dict[str, Any]) -> list[str]:
    """The growth points side by side: generation, the hot paths (median of the runs, with the runs'
    req/s range so run-to-run noise is visible next to the change) and each dashboard read (median ms)."""
    w = 62
    head = f"  {'growth':<{w}} {small['rows']:>14,} {large['rows']:>16,}  change"
    lines = [head + "   (splits; req/s median [min-max of runs])", "  " + "-" * (len(head) - 2)]

    def row(label: str, a: str, b: str, change: str = "") -> None:
        lines.append(f"  {label:<{w}} {a:>14} {b:>16}  {change}")

    gen = "generated now" if large.get("generated_in_this_run") else "kept template"
    row(f"history generation s ({gen})", f"{small['generation_seconds']:.1f}", f"{large['generation_seconds']:.1f}")
    row("clone of the template s", f"{small.get('clone_seconds', 0):.1f}", f"{large.get('clone_seconds', 0):.1f}")
    for key, title in (("hot", "hot polling"), ("create", "create invoice")):
        a, b = small[key], large[key]
        row(f"{title} req/s", f"{a.rps:,.0f} {_spread(a)}", f"{b.rps:,.0f} {_spread(b)}", _change(a.rps, b.rps))
        row(f"{title} CPU ms/req", f"{a.cpu_ms:.2f}", f"{b.cpu_ms:.2f}", _change(a.cpu_ms, b.cpu_ms))
        row(f"{title} p99 ms", f"{a.p99_ms:,.1f}", f"{b.p99_ms:,.1f}", _change(a.p99_ms, b.p99_ms))
    da, db = small.get("dashboard", {}), large.get("dashboard", {})
    for name in dict.fromkeys([*da, *db]):
        va, vb = da.get(name), db.get(name)
        row(
            f"dashboard ms: {name}"[:w],
            f"{va}" if va is not None else "-",
            f"{vb}" if vb is not None else "-",
            ("< 100 ms" if vb < 100 else "OVER 100 ms") if isinstance(vb, int | float) else "",
        )
    return lines
