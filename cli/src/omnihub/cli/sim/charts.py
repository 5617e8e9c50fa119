"""Small self-contained SVG charts for the simulation report (no scripts, no external assets)."""

from __future__ import annotations

import html

COLORS = ["#2357d9", "#999999", "#e07b00", "#2a9d55", "#b03a8c", "#5b5b5b"]


def _fmt(value: float, percent: bool) -> str:
    return f"{value:.0%}" if percent else f"{value:.0f}"


HEIGHT, LEFT, BASE = 220, 40, 180


def _top(series: dict[str, list[float]], percent: bool) -> float:
    return max([1.0 if percent else 0.0] + [v for vals in series.values() for v in vals]) or 1.0


def _frame(title: str, top: float, percent: bool, width: int) -> list[str]:
    """Title, baseline and grid lines with their labels."""
    parts = [f'<text x="0" y="14" font-weight="bold">{html.escape(title)}</text>',
             f'<line x1="{LEFT}" y1="{BASE}" x2="{width - 10}" y2="{BASE}" stroke="#333"/>']
    for tick in (0.25, 0.5, 0.75, 1.0):
        y = BASE - tick * 150
        parts.append(f'<line x1="{LEFT}" y1="{y:.0f}" x2="{width - 10}" y2="{y:.0f}" stroke="#eee"/>'
                     f'<text x="0" y="{y + 4:.0f}" font-size="10">{_fmt(top * tick, percent)}</text>')
    return parts


def _svg(parts: list[str], names: list[str], width: int) -> str:
    """The legend, then the whole picture."""
    for si, name in enumerate(names):
        x = LEFT + si * 150
        parts.append(f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{COLORS[si % len(COLORS)]}"/>'
                     f'<text x="{x + 14}" y="{HEIGHT - 5}" font-size="11">{html.escape(name)}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT}" '
            f'font-family="sans-serif" font-size="12" role="img">{"".join(parts)}</svg>')


def bars(title: str, categories: list[str], series: dict[str, list[float]], *, percent: bool = True,
         width: int = 640) -> str:
    """Grouped bars: one group per category, one bar per series, with a legend."""
    top = _top(series, percent)
    left, base = LEFT, BASE
    group_w = (width - left - 10) / max(1, len(categories))
    bar_w = max(4.0, group_w * 0.8 / max(1, len(series)))
    parts = _frame(title, top, percent, width)
    for gi, cat in enumerate(categories):
        x0 = left + gi * group_w + group_w * 0.1
        for si, (name, vals) in enumerate(series.items()):
            v = vals[gi] if gi < len(vals) else 0.0
            h = 150 * v / top
            x = x0 + si * bar_w
            parts.append(f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" '
                         f'fill="{COLORS[si % len(COLORS)]}"><title>{html.escape(name)} {html.escape(cat)}: '
                         f'{_fmt(v, percent) if percent else f"{v:.1f}"}</title></rect>')
        parts.append(f'<text x="{x0:.1f}" y="{base + 14}" font-size="10">{html.escape(cat)}</text>')
    return _svg(parts, list(series), width)


def lines(title: str, xs: list[str], series: dict[str, list[float]], *, percent: bool = True,
          target: float | None = None, width: int = 640) -> str:
    """One line per series over the intervals, with an optional dashed target line."""
    top = _top(series, percent)
    left, base = LEFT, BASE
    step = (width - left - 20) / max(1, len(xs) - 1)
    parts = _frame(title, top, percent, width)
    if target is not None:
        y = base - 150 * target / top
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#c00" '
                     f'stroke-dasharray="4 3"><title>target {_fmt(target, percent)}</title></line>')
    for i, label in enumerate(xs):
        parts.append(f'<text x="{left + i * step - 8:.0f}" y="{base + 14}" font-size="10">{html.escape(label)}</text>')
    for si, (name, vals) in enumerate(series.items()):
        pts = " ".join(f"{left + i * step:.1f},{base - 150 * v / top:.1f}" for i, v in enumerate(vals))
        color = COLORS[si % len(COLORS)]
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts += [f'<circle cx="{left + i * step:.1f}" cy="{base - 150 * v / top:.1f}" r="3" fill="{color}">'
                  f'<title>{html.escape(name)} {html.escape(xs[i])}: {_fmt(v, percent)}</title></circle>'
                  for i, v in enumerate(vals)]
    return _svg(parts, list(series), width)
