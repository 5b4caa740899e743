"""SVG charts drawn by our own code (no library, nothing fetched): the
comparison report's latency bars, server shares and p99 timeline.

Every function returns an <svg> element as a string, sized in CSS pixels,
readable on its own (title, axes, legend) so it can sit in a README.
Latencies use a log scale: one slow algorithm would flatten the rest on a
linear one.
"""
import math
from xml.sax.saxutils import escape

# Colour-blind safe (Okabe-Ito), one per series, in the order given.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
FONT = 'font-family="sans-serif" font-size="12"'


def _fmt_ms(ms):
    if ms >= 1000:
        return "%gs" % round(ms / 1000, 3)
    if ms >= 1:
        return "%gms" % round(ms, 2)
    return "%gus" % round(ms * 1000)


class _LogAxis:
    """Maps a value in ms to a y pixel on a log scale over whole decades."""

    def __init__(self, values, top, bottom):
        positive = [v for v in values if v > 0] or [1.0]
        self.lo = 10 ** math.floor(math.log10(min(positive)))
        self.hi = 10 ** math.ceil(math.log10(max(positive)))
        if self.hi <= self.lo:
            self.hi = self.lo * 10
        self.top, self.bottom = top, bottom

    def y(self, v):
        v = min(max(v, self.lo), self.hi)
        frac = (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        return self.bottom - frac * (self.bottom - self.top)

    def ticks(self):
        t = self.lo
        while t <= self.hi * 1.0001:
            yield t
            t *= 10


def _frame(width, height, title):
    return ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" %s>'
            % (width, height, width, height, FONT),
            '<rect width="100%" height="100%" fill="white"/>',
            '<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>' % (10, escape(title))]


def _y_grid(out, axis, left, right, label):
    for t in axis.ticks():
        y = axis.y(t)
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (left, right, y, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (left - 4, y + 4, _fmt_ms(t)))
    out.append('<text x="12" y="%d" transform="rotate(-90 12 %d)" text-anchor="middle">%s</text>'
               % ((axis.top + axis.bottom) / 2, (axis.top + axis.bottom) / 2, escape(label)))


def _legend(out, names, x, y):
    for i, name in enumerate(names):
        out.append('<rect x="%d" y="%d" width="10" height="10" fill="%s"/>' % (x, y + i * 16, PALETTE[i % len(PALETTE)]))
        out.append('<text x="%d" y="%d">%s</text>' % (x + 14, y + i * 16 + 9, escape(name)))


def latency_bars(title, series, percentiles):
    """Grouped bars: for each percentile label, one bar per series.
    series: [(name, {label: value_ms})]; percentiles: labels in order."""
    width, height, left, top, bottom = 720, 320, 60, 30, 280
    right = width - 150
    axis = _LogAxis([v for _, d in series for v in d.values()], top, bottom)
    out = _frame(width, height, title)
    _y_grid(out, axis, left, right, "latency (log scale)")
    group_w = (right - left) / max(1, len(percentiles))
    bar_w = group_w * 0.8 / max(1, len(series))
    for g, label in enumerate(percentiles):
        gx = left + g * group_w + group_w * 0.1
        for i, (name, d) in enumerate(series):
            v = d.get(label, 0)
            y = axis.y(v) if v > 0 else bottom
            out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>'
                       % (gx + i * bar_w, y, bar_w - 1, bottom - y, PALETTE[i % len(PALETTE)],
                          escape(name), escape(label), _fmt_ms(v)))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (left + (g + 0.5) * group_w, bottom + 16,
                                                                              escape(label)))
    _legend(out, [n for n, _ in series], right + 14, top + 10)
    out.append("</svg>")
    return "\n".join(out)


def share_bars(title, series, servers):
    """One horizontal stacked bar per series: each server's share of requests.
    series: [(name, {server: count})]."""
    row_h, left, top = 26, 110, 30
    width, right = 720, 720 - 20
    height = top + row_h * len(series) + 20 + 16 * ((len(servers) + 3) // 4) + 10
    out = _frame(width, height, title)
    for r, (name, counts) in enumerate(series):
        total = sum(counts.values()) or 1
        y = top + r * row_h
        out.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (left - 6, y + 15, escape(name)))
        x = left
        for i, server in enumerate(servers):
            w = (right - left) * counts.get(server, 0) / total
            if w <= 0:
                continue
            out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s %s: %.1f%%</title></rect>'
                       % (x, y, w, row_h - 6, PALETTE[i % len(PALETTE)], escape(name), escape(server),
                          100.0 * counts.get(server, 0) / total))
            if w > 34:
                out.append('<text x="%.1f" y="%d" fill="white" text-anchor="middle">%.0f%%</text>'
                           % (x + w / 2, y + 15, 100.0 * counts.get(server, 0) / total))
            x += w
    ly = top + row_h * len(series) + 10
    for i, server in enumerate(servers):
        lx = left + (i % 4) * 140
        yy = ly + (i // 4) * 16
        out.append('<rect x="%d" y="%d" width="10" height="10" fill="%s"/>' % (lx, yy, PALETTE[i % len(PALETTE)]))
        out.append('<text x="%d" y="%d">%s</text>' % (lx + 14, yy + 9, escape(server)))
    out.append("</svg>")
    return "\n".join(out)


def timeline(title, series, events, duration_s):
    """Lines over time: series [(name, [(t_s, value_ms)])]; events [(t_s, label)]
    drawn as dashed vertical lines."""
    width, height, left, top, bottom = 720, 340, 60, 30, 290
    right = width - 150
    axis = _LogAxis([v for _, pts in series for _, v in pts], top, bottom)
    span = max(duration_s, 1)
    out = _frame(width, height, title)
    _y_grid(out, axis, left, right, "p99 per second (log scale)")

    def x(t):
        return left + (right - left) * min(max(t, 0), span) / span
    step = max(1, int(math.ceil(span / 10.0)))
    for t in range(0, int(span) + 1, step):
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%ds</text>' % (x(t), bottom + 16, t))
    for t, label in events:
        out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#555" stroke-dasharray="4 3"/>'
                   % (x(t), x(t), top, bottom))
        out.append('<text x="%.1f" y="%d" font-size="10" transform="rotate(-90 %.1f %d)" text-anchor="end">%s</text>'
                   % (x(t) - 3, top + 4, x(t) - 3, top + 4, escape(label)))
    for i, (name, pts) in enumerate(series):
        if not pts:
            continue
        path = " ".join("%.1f,%.1f" % (x(t), axis.y(v)) for t, v in pts)
        out.append('<polyline fill="none" stroke="%s" stroke-width="1.8" points="%s"><title>%s</title></polyline>'
                   % (PALETTE[i % len(PALETTE)], path, escape(name)))
    out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#333"/>' % (left, right, bottom, bottom))
    out.append('<text x="%d" y="%d" text-anchor="middle">time since the load started</text>'
               % ((left + right) / 2, height - 8))
    _legend(out, [n for n, _ in series], right + 14, top + 10)
    out.append("</svg>")
    return "\n".join(out)
