"""The 24 h timeline (``/timeline.svg``): items per source per hour as standalone SVG.

Page text reaches it only as source names, escaped here; the SVG carries no script or style
(the strict CSP allows neither inline).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

from aiohttp import web

from ticker.store import timeline
from ticker.web.reads import VIEW_KEY, read
from ticker.web.status import source_names


async def timeline_svg(request: web.Request) -> web.Response:
    now = datetime.now(UTC)
    start = (now - timedelta(hours=23)).replace(minute=0, second=0, microsecond=0)
    counts = await read(request, timeline, since=start)
    svg = render_timeline(counts, start=start, names=source_names(request.app[VIEW_KEY]))
    return web.Response(
        text=svg,
        content_type="image/svg+xml",
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


# Colours that read on both the light and the dark theme.
_PALETTE = ("#e4572e", "#3f88c5", "#f3a712", "#44af69", "#a86cc1", "#d1495b", "#5fa8a0")


def render_timeline(
    counts: Iterable[tuple[str, str, int]], *, start: datetime, names: dict[str, str]
) -> str:
    """A stacked bar chart of items per source per hour over 24 hours, as standalone SVG."""
    hours = [(start + timedelta(hours=h)).strftime("%Y-%m-%dT%H") for h in range(24)]
    index = {h: i for i, h in enumerate(hours)}
    sources = sorted(names)
    grid = {s: [0] * 24 for s in sources}
    for source, hour, n in counts:
        if hour in index:
            grid.setdefault(source, [0] * 24)[index[hour]] += n
            if source not in sources:
                sources.append(source)
    totals = [sum(grid[s][i] for s in sources) for i in range(24)]
    peak = max([1, *totals])
    # A narrow viewBox: the page shows the chart about 360 px wide on a phone, so 14-unit text
    # renders at 12 px or more there, and larger on a desktop's wider side column.
    font, char = 14, 8.5  # font size, and a generous width of one character, in user units
    width, top, plot, axis, row = 360, 12, 120, 22, 20
    left = 10 + round(char * len(str(peak)))
    bar = (width - left - 4) / 24
    # The legend wraps onto as many rows as its names need, so none is cut at the edge.
    legend: list[tuple[float, int, str]] = []
    legend_x, rows = float(left), 1
    for source in sources:
        name = names.get(source, source)
        room = int((width - left - 14) / char)
        name = name if len(name) <= room else name[: room - 1] + "…"
        need = 14 + char * len(name)
        if legend_x > left and legend_x + need > width:
            legend_x, rows = float(left), rows + 1
        legend.append((legend_x, rows - 1, name))
        legend_x += need + 10
    base = top + plot
    height = base + axis + rows * row
    scale = plot / peak
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="Items per source per hour, last 24 hours">',
        # Presentation attributes, not <style>: the strict CSP allows no inline styles.
        f'<g font-family="system-ui, sans-serif" font-size="{font}" fill="#888">',
        f'<line x1="{left}" y1="{base}" x2="{width - 4}" y2="{base}" '
        'stroke="#888" stroke-width="1"/>',
        f'<text x="{left - 5}" y="{top + 9}" text-anchor="end">{peak}</text>',
        f'<text x="{left - 5}" y="{base}" text-anchor="end">0</text>',
    ]
    for i in range(24):
        x = left + i * bar
        y: float = base
        for n, source in enumerate(sources):
            value = grid[source][i]
            if not value:
                continue
            h = value * scale
            y -= h
            color = _PALETTE[n % len(_PALETTE)]
            label = escape(f"{names.get(source, source)}: {value} at {hours[i][11:]}:00 UTC")
            parts.append(
                f'<rect x="{x + 0.5:.1f}" y="{y:.1f}" width="{bar - 1:.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{label}</title></rect>'
            )
        if i % 3 == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{base + 16}" '
                f'text-anchor="middle">{hours[i][11:]}h</text>'
            )
    for n, (x, r, name) in enumerate(legend):
        color = _PALETTE[n % len(_PALETTE)]
        y = base + axis + r * row
        parts.append(
            f'<rect x="{x:.1f}" y="{y + 4}" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14:.1f}" y="{y + 14}">{escape(name)}</text>'
        )
    parts.append("</g></svg>")
    return "".join(parts)
