"""The comparison report: from each algorithm's raw results (ringlb-load's
JSON and timeline, the test servers' events) to report.md, report.html and
the SVG charts. Pure: reads the run data given, writes files, starts nothing,
so a test can check that the numbers it prints are the raw ones.

A run is a dict: {"name", "balance", "load": ringlb-load's --json,
"timeline": [its --timeline lines], "events": [(t_s, "server: event")],
"stats": ringlb's /stats or None}.
"""
import html
import os

import svg_charts

PERCENTILES = [("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p99.9", "p999")]
# What "best" means for each metric the report ranks: (label, value of a run, lower is better).
RANKED = [
    ("p50 latency", lambda r: r["load"]["latency_us"]["p50"] / 1000.0, True, "ms"),
    ("p99 latency", lambda r: r["load"]["latency_us"]["p99"] / 1000.0, True, "ms"),
    ("p99.9 latency", lambda r: r["load"]["latency_us"]["p999"] / 1000.0, True, "ms"),
    ("max latency", lambda r: r["load"]["latency_us"]["max"] / 1000.0, True, "ms"),
    ("errors", lambda r: r["load"]["errors_total"], True, ""),
    ("requests served", lambda r: r["load"]["requests"] - r["load"]["errors"]["status_5xx"], False, ""),
]


def fmt_ms(us):
    ms = us / 1000.0
    if ms >= 100:
        return "%.0f ms" % ms
    if ms >= 10:
        return "%.1f ms" % ms
    return "%.2f ms" % ms


def server_names(runs, scenario_servers):
    """The scenario's servers in order, then any other name a response carried."""
    names = list(scenario_servers)
    for r in runs:
        for s in r["load"].get("servers", {}):
            if s not in names:
                names.append(s)
    return names


def share_pct(run, server):
    counts = run["load"].get("servers", {})
    total = sum(counts.values())
    return 100.0 * counts.get(server, 0) / total if total else 0.0


def ringlb_retries(run):
    """Requests ringlb tried again on another server (its /stats), or None."""
    if not run.get("stats"):
        return None
    return sum(s["retries"] for b in run["stats"]["backends"] for s in b["servers"])


def summary_table(runs, servers):
    """The main table as markdown lines: one row per algorithm."""
    head = ["algorithm", "requests", "req/s", "errors", "ringlb retries"] + [p for p, _ in PERCENTILES] + \
           ["max"] + ["%s share" % s for s in servers]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 1 + "---:|" * (len(head) - 1)]
    for r in runs:
        load = r["load"]
        lat = load["latency_us"]
        retries = ringlb_retries(r)
        row = [r["name"], "%d" % load["requests"], "%.0f" % load["rate_achieved"], "%d" % load["errors_total"],
               "-" if retries is None else "%d" % retries]
        row += [fmt_ms(lat[key]) for _, key in PERCENTILES] + [fmt_ms(lat["max"])]
        row += ["%.1f%%" % share_pct(r, s) for s in servers]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def error_kinds_text(runs):
    """Errors by kind per algorithm, e.g. "round_robin 12 (connect 10, status_5xx 2)"."""
    parts = []
    for r in runs:
        kinds = ", ".join("%s %d" % kv for kv in r["load"]["errors"].items() if kv[1])
        parts.append("%s %d%s" % (r["name"], r["load"]["errors_total"], " (%s)" % kinds if kinds else ""))
    return "transport errors and 5xx answers; by kind: " + "; ".join(parts)


def _fmt_value(v, unit):
    if unit == "ms":
        return fmt_ms(v * 1000)
    return "%d" % v


def best_per_metric(runs):
    """One sentence per ranked metric: the best algorithm, and by how much it
    beats the next one and the worst one."""
    out = []
    if len(runs) < 2:
        return out
    for label, value, lower_better, unit in RANKED:
        ranked = sorted(runs, key=lambda r: value(r) if lower_better else -value(r))
        best_v = value(ranked[0])
        best = [r["name"] for r in ranked if value(r) == best_v]
        rest = [r for r in ranked if value(r) != best_v]
        text = "**%s**: %s (%s)" % (label, ", ".join(best), _fmt_value(best_v, unit))
        if not rest:
            out.append(text + ": all equal")
            continue
        nxt, worst = rest[0], rest[-1]
        text += "; next %s (%s%s)" % (nxt["name"], _fmt_value(value(nxt), unit), _ratio(best_v, value(nxt)))
        if worst is not nxt:
            text += ", worst %s (%s%s)" % (worst["name"], _fmt_value(value(worst), unit), _ratio(best_v, value(worst)))
        out.append(text)
    return out


def _ratio(best, other):
    if best > 0 and other > 0:
        return ", %.2fx" % (other / best)
    return ""


def timeline_series(run):
    """p99 per second in ms: the measured window's whole seconds with answers
    (the drain's partial second after it holds a few stragglers: noise)."""
    end_s = round(run["load"]["warmup_s"] + run["load"]["duration_s"])
    return [(p["t"], p["p99_us"] / 1000.0) for p in run["timeline"] if p["requests"] > 0 and p["t"] <= end_s]


def charts(scenario, runs, servers):
    """name -> SVG text."""
    title = scenario["name"]
    lat = [(r["name"], {label: r["load"]["latency_us"][key] / 1000.0 for label, key in PERCENTILES}) for r in runs]
    shares = [(r["name"], r["load"].get("servers", {})) for r in runs]
    events = runs[0]["events"] if runs else []
    duration = max([t for r in runs for t, _ in timeline_series(r)] + [1])
    return {
        "latency.svg": svg_charts.latency_bars("%s: latency percentiles per algorithm" % title, lat,
                                               [label for label, _ in PERCENTILES]),
        "shares.svg": svg_charts.share_bars("%s: each server's share of requests" % title, shares, servers),
        "p99_timeline.svg": svg_charts.timeline("%s: p99 per second across the events" % title,
                                                [(r["name"], timeline_series(r)) for r in runs], events, duration),
    }


def setup_lines(scenario):
    lines = ["| server | weight | latency | at most at once | body | errors | schedule |",
             "|---|---:|---|---:|---:|---:|---|"]
    for s in scenario["servers"]:
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (s["name"], s["weight"], s["latency"],
                                                              s.get("concurrency") or "unlimited", s["size"],
                                                              s.get("error_rate") or "0", s["schedule"] or "-"))
    return lines


def markdown(scenario, runs, servers, chart_names):
    load = scenario["load_text"]
    lines = ["# %s" % scenario["name"], "", scenario["description"], "",
             "Run %s with ringlb %s. Load: %s. Every algorithm ran with the same load, seed and servers, "
             "started afresh." % (scenario["timestamp"], scenario["ringlb_version"], load), ""]
    lines += setup_lines(scenario) + [""]
    if scenario.get("backend_keys"):
        lines += ["Backend settings for every run: " +
                  ", ".join("`%s = %s`" % kv for kv in scenario["backend_keys"].items()), ""]
    lines += ["## Results", "", "Client-side (ringlb-load, latency from each request's scheduled time in "
              "open loop); shares from each answer's `X-Server`; retries from ringlb's `/stats` (warmup "
              "included): what the errors column would have held without them.", ""]
    lines += summary_table(runs, servers) + [""]
    lines += ["`requests`: answers of any status; `errors`: %s. A `- share` is ringlb's own answers "
              "(no `X-Server`: 502, 503, 504)." % error_kinds_text(runs), ""]
    lines += ["## Best per metric", ""] + ["- " + s for s in best_per_metric(runs)]
    lines += ["", "One run each: differences of a few percent are within this machine's noise; repeat a run "
              "before reading much into them. Latencies include fast error answers.", ""]
    warnings = [(r["name"], w) for r in runs for w in r["load"].get("warnings", [])]
    if warnings:
        lines += ["## Warnings", ""] + ["- %s: %s" % w for w in warnings] + [""]
    if runs and runs[0]["events"]:
        lines += ["## Events", "", "Seconds since the load started (as the servers logged them, first run):", ""]
        lines += ["- %.2f s: %s" % e for e in runs[0]["events"]] + [""]
    lines += ["## Charts", ""] + ["![%s](charts/%s)" % (n, n) for n in chart_names] + [""]
    lines += ["Raw results: `raw/` (ringlb-load JSON and timeline, ringlb's /stats, the servers' logs)."]
    return "\n".join(lines) + "\n"


def _md_table_to_html(lines):
    rows = [[c.strip() for c in l.strip("|").split("|")] for l in lines if not l.startswith("|---")]
    out = ["<table>", "<tr>" + "".join("<th>%s</th>" % html.escape(c) for c in rows[0]) + "</tr>"]
    for r in rows[1:]:
        out.append("<tr>" + "".join("<td>%s</td>" % html.escape(c) for c in r) + "</tr>")
    return "\n".join(out + ["</table>"])


def html_page(scenario, runs, servers, svgs):
    best = "".join("<li>%s</li>" % html.escape(s).replace("**", "") for s in best_per_metric(runs))
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>%s</title>" % html.escape(scenario["name"]),
             "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}</style>"
             "</head><body>",
             "<h1>%s</h1><p>%s</p>" % (html.escape(scenario["name"]), html.escape(scenario["description"])),
             "<p>Run %s, load: %s.</p>" % (html.escape(scenario["timestamp"]), html.escape(scenario["load_text"])),
             _md_table_to_html(setup_lines(scenario)),
             "<h2>Results</h2>", _md_table_to_html(summary_table(runs, servers)),
             "<h2>Best per metric</h2><ul>%s</ul>" % best,
             "<h2>Charts</h2>"] + ["<div>%s</div>" % svg for svg in svgs.values()] + ["</body></html>"]
    return "\n".join(parts)


def write(outdir, scenario, runs):
    """Writes report.md, report.html and charts/*.svg into outdir."""
    servers = server_names(runs, [s["name"] for s in scenario["servers"]])
    svgs = charts(scenario, runs, servers)
    os.makedirs(os.path.join(outdir, "charts"), exist_ok=True)
    for name, svg in svgs.items():
        with open(os.path.join(outdir, "charts", name), "w") as f:
            f.write(svg)
    with open(os.path.join(outdir, "report.md"), "w") as f:
        f.write(markdown(scenario, runs, servers, list(svgs)))
    with open(os.path.join(outdir, "report.html"), "w") as f:
        f.write(html_page(scenario, runs, servers, svgs))
