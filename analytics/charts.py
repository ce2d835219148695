"""Small server-rendered SVG bar charts: no JavaScript, no CDN, nothing the CSP has to allow.

Colours come from CSS classes (``bp-series-0``, ``bp-series-1``) in the pages' stylesheets (the
dashboard's ``dashboard.css``, the admin's ``blinkpos/admin.css``); each bar has a ``<title>`` so
hovering (or a screen reader) gives the exact value. Used by the merchant web app's charts page, the
admin landing page and the system-metrics admin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True, kw_only=True)
class Series:
    name: str
    values: Sequence[float]


def _nice_max(value: float) -> float:
    """Round the axis maximum up to 1, 2 or 5 times a power of ten so gridlines land on readable numbers."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def _fmt(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"


def bar_chart(
    *, labels: Sequence[str], series: Sequence[Series], unit: str = "sats", title: str = "", height: int = 180
) -> SafeString:
    """Grouped vertical bars, one group per label. Scales to its container's width (viewBox)."""
    width = 640
    left, right, top, bottom = 44, 8, 10, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_max(max((v for s in series for v in s.values), default=0))
    groups = max(len(labels), 1)
    group_w = plot_w / groups
    # Bars stay slim when there are few groups (one staff member should not fill the whole chart).
    bar_w = min(max(group_w * 0.8 / max(len(series), 1), 1.0), 48.0)
    parts = [
        f'<svg class="bp-chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    for i in range(5):
        value = peak * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line class="bp-grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="bp-axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt(value)}</text>')
    label_every = max(1, groups // 7)
    for g, label in enumerate(labels):
        x0 = left + g * group_w + (group_w - bar_w * len(series)) / 2
        for k, s in enumerate(series):
            value = s.values[g] if g < len(s.values) else 0
            bar_h = plot_h * value / peak if peak else 0
            x = x0 + k * bar_w
            y = top + plot_h - bar_h
            parts.append(
                f'<rect class="bp-series-{k}" x="{x:.1f}" y="{y:.1f}" width="{bar_w - 1:.1f}" height="{bar_h:.1f}">'
                f"<title>{escape(label)} · {escape(s.name)}: {value:,.0f} {escape(unit)}</title></rect>"
            )
        if g % label_every == 0:
            parts.append(
                f'<text class="bp-axis" x="{left + g * group_w + group_w / 2:.1f}" y="{height - 8}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    legend = "".join(
        f'<span class="bp-legend-item"><i class="bp-swatch bp-series-{k}"></i>{escape(s.name)}</span>'
        for k, s in enumerate(series)
    )
    return mark_safe(f'<figure class="bp-figure">{"".join(parts)}<figcaption>{legend}</figcaption></figure>')  # noqa: S308  (every value above is escaped or numeric)
