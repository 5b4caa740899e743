"""The algorithm-comparison tools together: open-loop timing against a real
stall, and scripts/compare-algorithms producing a report whose numbers are
the raw results'."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

import harness
from test_testserver import TestServer

sys.path.insert(0, os.path.join(harness.ROOT, "scripts"))
import compare_report  # noqa: E402


def run_load(args, timeout=30):
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        res = subprocess.run([harness.tool_path("ringlb-load"), "--quiet", "--json", path] + args,
                             capture_output=True, text=True, timeout=timeout)
        assert res.returncode == 0, res.stdout + res.stderr
        with open(path) as f:
            return json.load(f)
    finally:
        os.unlink(path)


def test_open_loop_sees_a_stall_that_a_closed_loop_hides():
    # A 1 s stall in a 5 s run at 500 req/s: every request scheduled during the
    # stall waits up to 1 s (about 10% of them wait >= 500 ms), so p99 >= 500 ms.
    # A closed loop sends nothing while its connections wait: its p99 stays low.
    srv = TestServer("--latency", "fixed:1ms", "--schedule", "1.5s:stall=1s")
    try:
        opened = run_load(["--rate", "500", "--duration", "5s", "http://127.0.0.1:%d/" % srv.port])
    finally:
        srv.close()
    srv = TestServer("--latency", "fixed:1ms", "--schedule", "1.5s:stall=1s")
    try:
        closed = run_load(["--connections", "4", "--duration", "5s", "http://127.0.0.1:%d/" % srv.port])
    finally:
        srv.close()
    assert opened["errors_total"] == 0, opened
    assert opened["latency_us"]["p99"] >= 500000, opened["latency_us"]
    assert closed["latency_us"]["max"] >= 900000, closed["latency_us"]  # it did see the stall...
    assert closed["latency_us"]["p99"] < 100000, closed["latency_us"]  # ...but its percentiles hide it


def test_open_loop_keeps_the_requested_rate():
    srv = TestServer("--latency", "fixed:1ms")
    try:
        res = run_load(["--rate", "2000", "--duration", "3s", "http://127.0.0.1:%d/" % srv.port])
    finally:
        srv.close()
    assert res["errors_total"] == 0, res
    assert abs(res["rate_achieved"] - 2000) <= 20, res["rate_achieved"]
    assert res["rate_kept"] is True, res["warnings"]


SCENARIO = """
[scenario]
description = Test: two servers, one 5x slower, two algorithms.
duration = 5s
rate = 300
connections = 64
algorithms = round_robin, least_conn
seed = 7

[backend]
eject_after = 0

[server fast]
latency = fixed:2ms
[server slow]
latency = fixed:2ms
schedule = 2s:slow=5x
"""


def _table(md):
    """The results table of report.md as {algorithm: {column: cell}}."""
    lines = md.split("## Results", 1)[1].splitlines()
    rows = [l for l in lines if l.startswith("|")]
    head = [c.strip() for c in rows[0].strip("|").split("|")]
    out = {}
    for r in rows[2:]:
        cells = [c.strip() for c in r.strip("|").split("|")]
        if len(cells) != len(head):
            break
        out[cells[0]] = dict(zip(head, cells))
    return out


def test_a_scenario_report_matches_its_raw_results():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mini.ini")
        with open(path, "w") as f:
            f.write(SCENARIO)
        env = dict(os.environ, RINGLB_BINARY=harness.BINARY,
                   RINGLB_TOOLS_DIR=os.path.dirname(harness.tool_path("ringlb-load")))
        res = subprocess.run([sys.executable, os.path.join(harness.ROOT, "scripts", "compare-algorithms"),
                              "--out", tmp, path], capture_output=True, text=True, timeout=90, env=env)
        assert res.returncode == 0, res.stdout + res.stderr
        assert re.search(r"\[2/2\] least_conn: \d+ requests", res.stdout), res.stdout
        (stamp,) = os.listdir(os.path.join(tmp, "mini"))
        out = os.path.join(tmp, "mini", stamp)
        with open(os.path.join(out, "report.md")) as f:
            md = f.read()
        table = _table(md)
        assert set(table) == {"round_robin", "least_conn"}, md
        for algo, row in table.items():
            with open(os.path.join(out, "raw", algo + ".load.json")) as f:
                raw = json.load(f)
            assert row["requests"] == str(raw["requests"]) and raw["requests"] > 1000, (row, raw["requests"])
            assert row["errors"] == str(raw["errors_total"])
            with open(os.path.join(out, "raw", algo + ".stats.json")) as f:
                stats = json.load(f)
            assert row["ringlb retries"] == str(sum(s["retries"] for s in stats["backends"][0]["servers"]))
            for label, key in compare_report.PERCENTILES:
                assert row[label] == compare_report.fmt_ms(raw["latency_us"][key]), (label, row, raw)
            total = sum(raw["servers"].values())
            for server in ("fast", "slow"):
                assert row[server + " share"] == "%.1f%%" % (100.0 * raw["servers"][server] / total)
            with open(os.path.join(out, "raw", algo + ".timeline.jsonl")) as f:
                assert len([l for l in f if l.strip()]) >= 5
        # least_conn sends the slow server less than round robin's half
        shares = {a: float(table[a]["slow share"].rstrip("%")) for a in table}
        assert 45 <= shares["round_robin"] <= 55 and shares["least_conn"] < shares["round_robin"], shares
        # the event the slow server logged is placed on the load's time line
        assert re.search(r"- [12]\.\d\d s: slow: slow=5x", md), md
        assert re.search(r"\*\*p99 latency\*\*: (round_robin|least_conn)", md), md
        for name in ("latency.svg", "shares.svg", "p99_timeline.svg"):
            ET.parse(os.path.join(out, "charts", name))  # well-formed SVG
        with open(os.path.join(out, "report.html")) as f:
            page = f.read()
        assert "<svg" in page and table["least_conn"]["requests"] in page


def test_a_config_ringlb_refuses_stops_the_comparison_with_ringlbs_reason():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bad.ini")
        with open(path, "w") as f:
            f.write("[scenario]\nrate = 10\nduration = 1s\nalgorithms = roundrobin\n[server a]\n")
        env = dict(os.environ, RINGLB_BINARY=harness.BINARY,
                   RINGLB_TOOLS_DIR=os.path.dirname(harness.tool_path("ringlb-load")))
        t0 = time.monotonic()
        res = subprocess.run([sys.executable, os.path.join(harness.ROOT, "scripts", "compare-algorithms"),
                              "--out", tmp, path], capture_output=True, text=True, timeout=30, env=env)
        assert res.returncode == 1, res.stdout + res.stderr
        assert "unknown algorithm 'roundrobin'" in res.stderr, res.stderr
        assert time.monotonic() - t0 < 5  # at once, not after a wait for a port that never opens
