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

    def verdict(self) -> str:
        return "not measured" if self.met is None else ("met" if self.met else "NOT MET")


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
    lines = ["Targets (issue 8):"]
    for t in targets:
        lines.append(f"  [{t.verdict():>12}] {t.name}: {t.figure} (goal {t.goal})")
    return "\n".join(lines)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str))
