"""ringlb-load, the experiments' load generator, against Python backends (and
a ringlb in front of them): closed-loop counts and server shares, the open
loop's rate, the JSON summary's shape, the timeline, the keys it sends,
errors by kind, stages, the knee search, and its refusals of bad flags.
Every run is bounded (a few seconds, and a subprocess timeout)."""
import json
import os
import subprocess
import tempfile
import threading
import time

import backend
import harness
from harness import free_port

TOP_KEYS = {"tool", "url", "mode", "connections", "rate_requested", "seed", "start_unix_ms", "warmup_s",
            "duration_s", "requests", "rate_achieved", "errors_total", "errors", "status", "latency_us",
            "servers", "rate_kept", "warnings"}
ERROR_KINDS = {"connect", "closed", "timeout", "bad_response", "status_5xx"}
LATENCY_KEYS = {"min", "p50", "p90", "p95", "p99", "p999", "max", "mean"}


def run_load(args, timeout=20, timeline=False):
    """Runs ringlb-load --quiet --json; returns (summary, stdout, timeline lines)."""
    tmp = tempfile.mkdtemp()
    json_path, tl_path = os.path.join(tmp, "out.json"), os.path.join(tmp, "tl.jsonl")
    extra = ["--timeline", tl_path] if timeline else []
    try:
        res = subprocess.run([harness.tool_path("ringlb-load"), "--quiet", "--json", json_path] + extra + args,
                             capture_output=True, text=True, timeout=timeout)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "Sanitizer" not in res.stderr and "runtime error" not in res.stderr, res.stderr
        with open(json_path) as f:
            summary = json.load(f)
        lines = []
        if timeline:
            with open(tl_path) as f:
                lines = [json.loads(l) for l in f if l.strip()]
        return summary, res.stdout, lines
    finally:
        for p in (json_path, tl_path):
            if os.path.exists(p):
                os.unlink(p)
        os.rmdir(tmp)


def url(port, path="/"):
    return "http://127.0.0.1:%d%s" % (port, path)


class KeyHandler(backend.Handler):
    """The test backend, also recording each request's X-User header."""

    def handle_any(self):
        with self.server.lock:
            self.server.keys.append(self.headers.get("X-User"))
        return backend.Handler.handle_any(self)

    do_GET = do_POST = handle_any


class ThrottledHandler(backend.Handler):
    """One request at a time, 4 ms each: a server that saturates at 250 req/s."""

    def handle_any(self):
        with self.server.serial:
            time.sleep(0.004)
        return self.reply(200, b"ok\n")

    do_GET = handle_any


class UntilCloseHandler(backend.Handler):
    """A body without Content-Length or chunking: it ends when the server closes."""

    def handle_any(self):
        self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Server: eof\r\n\r\n" + b"y" * 50000)
        self.close_connection = True

    do_GET = handle_any


def serve(handler, **attrs):
    srv = backend.Server(("127.0.0.1", free_port()), handler)
    srv.name = "t"
    for k, v in attrs.items():
        setattr(srv, k, v)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return srv


def stop(srv):
    srv.shutdown()
    srv.server_close()


def test_closed_loop_counts_requests_and_round_robin_shares_through_ringlb():
    with harness.proxy(3, balance="round_robin") as (lb, be):
        res, out, _ = run_load(["--connections", "6", "--duration", "2s", "--server-header", "X-Server",
                                url(lb.port)])
        seen = sum(len(s.seen) for s in be.servers)
    assert res["mode"] == "closed" and res["connections"] == 6 and res["rate_requested"] is None
    assert res["rate_kept"] is None
    assert res["requests"] > 200, res
    assert res["errors_total"] == 0, res["errors"]
    assert res["status"] == {"200": res["requests"]}
    assert sum(res["servers"].values()) == res["requests"]
    assert seen >= res["requests"]  # every counted response was a request a backend saw
    shares = [res["servers"]["s%d" % i] / res["requests"] for i in (1, 2, 3)]
    assert all(abs(s - 1 / 3) < 0.02 for s in shares), res["servers"]
    assert abs(res["duration_s"] - 2.0) < 0.2 and abs(res["rate_achieved"] - res["requests"] / res["duration_s"]) < 1
    assert "s1 33." in out or "s1 32." in out or "s1 34." in out, out  # the text summary shows the shares


def test_open_loop_keeps_the_rate_and_the_json_has_every_key():
    be = harness.Backends(1)
    try:
        t0_ms = time.time() * 1000
        res, out, _ = run_load(["--rate", "500", "--duration", "2s", url(be.port(0))])
    finally:
        be.stop()
    assert TOP_KEYS <= set(res), TOP_KEYS - set(res)
    assert "stages" not in res and "knee" not in res
    assert res["tool"] == "ringlb-load" and res["url"] == url(be.port(0)) and res["mode"] == "open"
    assert res["connections"] == 256 and res["rate_requested"] == 500 and res["seed"] == 1
    assert abs(res["start_unix_ms"] - t0_ms) < 2000 and res["warmup_s"] == 0
    assert set(res["errors"]) == ERROR_KINDS and res["errors_total"] == 0, res["errors"]
    assert set(res["latency_us"]) == LATENCY_KEYS
    lat = res["latency_us"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p95"] <= lat["p99"] <= lat["p999"] <= lat["max"]
    assert abs(res["rate_achieved"] - 500) <= 5, res["rate_achieved"]
    assert res["requests"] == 1000 and res["rate_kept"] is True, (res["requests"], res["warnings"])
    assert res["servers"] == {} and isinstance(res["warnings"], list)
    assert "rate kept" in out


def test_timeline_has_one_line_per_second_warmup_marked():
    be = harness.Backends(1)
    try:
        res, _, lines = run_load(["--connections", "2", "--warmup", "1s", "--duration", "2s",
                                  "--server-header", "X-Server", url(be.port(0))], timeline=True)
    finally:
        be.stop()
    assert res["warmup_s"] == 1.0 and abs(res["duration_s"] - 2.0) < 0.2
    assert [l["t"] for l in lines][:3] == [1, 2, 3] and len(lines) <= 4, lines  # a 4th: the last responses
    assert lines[0]["warmup"] is True and all(l["warmup"] is False for l in lines[1:])
    for l in lines:
        assert {"t", "warmup", "requests", "errors", "rate_requested", "p50_us", "p90_us", "p99_us", "max_us",
                "servers"} <= set(l)
        assert l["rate_requested"] is None and l["errors"] == 0
        assert sum(l["servers"].values()) == l["requests"]
        assert l["p50_us"] <= l["p90_us"] <= l["p99_us"] <= l["max_us"]
    assert all(l["requests"] > 50 for l in lines[:3])
    # the measured seconds hold the measured responses (give or take those in flight at the edges)
    assert abs(sum(l["requests"] for l in lines[1:]) - res["requests"]) <= 4


def test_open_loop_timeline_shows_the_requested_rate():
    be = harness.Backends(1)
    try:
        res, _, lines = run_load(["--rate", "200", "--duration", "2s", url(be.port(0))], timeline=True)
    finally:
        be.stop()
    assert [l["t"] for l in lines][:2] == [1, 2]
    assert all(l["rate_requested"] == 200 for l in lines[:2])
    assert all(abs(l["requests"] - 200) <= 2 for l in lines[:2]), lines


def test_key_header_sends_the_keys_same_seed_same_sequence():
    srv = serve(KeyHandler, keys=[])
    try:
        runs = []
        for seed in ("3", "3", "4"):
            srv.keys = []
            res, _, _ = run_load(["--connections", "1", "--requests", "300", "--key-header", "X-User", "--keys", "10",
                                  "--seed", seed, url(srv.server_address[1])])
            assert res["requests"] == 300 and res["seed"] == int(seed)
            runs.append(list(srv.keys))
        srv.keys = []
        run_load(["--connections", "2", "--requests", "2000", "--key-header", "X-User", "--keys", "1000",
                  "--zipf", "1.1", url(srv.server_address[1])])
        zipf = list(srv.keys)
    finally:
        stop(srv)
    assert len(runs[0]) == 300 and set(runs[0]) <= {"k%d" % i for i in range(10)}
    assert len(set(runs[0])) == 10  # 300 uniform draws over 10 keys reach them all
    assert runs[0] == runs[1] and runs[0] != runs[2]
    counts = {k: zipf.count(k) for k in set(zipf)}
    assert max(counts, key=counts.get) == "k0" and counts["k0"] > 0.1 * len(zipf), counts.get("k0")


def test_refused_port_counts_connect_errors_and_exits_0():
    port = free_port()  # nothing listens there
    res, out, _ = run_load(["--duration", "1s", url(port)])
    assert res["requests"] == 0 and res["errors"]["connect"] > 0
    assert res["errors_total"] == res["errors"]["connect"]
    assert res["latency_us"]["p99"] is None
    res, out, _ = run_load(["--rate", "100", "--duration", "1s", url(port)])
    assert res["errors"]["connect"] == 100 and res["rate_kept"] is False, res
    assert any("failed" in w for w in res["warnings"]), res["warnings"]


def test_errors_by_kind():
    be = harness.Backends(1)
    p = be.port(0)
    try:
        five, _, _ = run_load(["--connections", "2", "--requests", "20", url(p, "/status/503")])
        bad, _, _ = run_load(["--connections", "2", "--requests", "10", url(p, "/garbage")])
        closed, _, _ = run_load(["--connections", "2", "--requests", "10", url(p, "/die")])
        timeout, _, _ = run_load(["--connections", "2", "--requests", "4", "--timeout", "200ms",
                                  url(p, "/stall?ms=3000")])
        four, _, _ = run_load(["--connections", "2", "--requests", "10", url(p, "/status/404")])
    finally:
        be.stop()
    assert five["requests"] == 20 and five["errors"]["status_5xx"] == 20 and five["status"] == {"503": 20}
    assert five["latency_us"]["p50"] is not None  # a 5xx answer is timed too
    assert bad["errors"]["bad_response"] == 10 and bad["requests"] == 0
    assert closed["errors"]["closed"] == 10 and closed["requests"] == 0
    assert timeout["errors"]["timeout"] == 4 and timeout["errors_total"] == 4
    assert four["errors_total"] == 0 and four["status"] == {"404": 10}


def test_bodies_of_every_framing_and_reconnects():
    be = harness.Backends(1)
    eof = serve(UntilCloseHandler)
    p = be.port(0)
    runs = [
        ["--requests", "20", url(p, "/bytes?n=200000&chunked=1")],
        ["--requests", "20", url(p, "/bytes?n=200000")],
        ["--requests", "20", "--method", "HEAD", url(p, "/bytes?n=100000")],  # a length, no body
        ["--requests", "20", "--method", "POST", "--body-size", "100k", url(p, "/echo")],
        ["--requests", "20", url(p, "/close")],  # Connection: close: a new connection each time
        ["--requests", "20", "--server-header", "X-Server", url(eof.server_address[1])],
    ]
    try:
        results = [run_load(["--connections", "2"] + args)[0] for args in runs]
    finally:
        be.stop()
        stop(eof)
    for args, res in zip(runs, results):
        assert res["requests"] == 20 and res["errors_total"] == 0, (args, res["errors"])
    assert results[-1]["servers"] == {"eof": 20}


def test_stages_ramp_and_report_each_stage():
    be = harness.Backends(1)
    try:
        res, out, _ = run_load(["--stages", "1s:400,1s:0", url(be.port(0))])
    finally:
        be.stop()
    st = res["stages"]
    assert [s["until_s"] for s in st] == [1.0, 2.0] and [s["target_rate"] for s in st] == [400, 0]
    assert [s["requests"] for s in st] == [200, 200], st  # each ramp integrates to 200
    assert all(s["errors"] == 0 and s["p50_us"] <= s["p99_us"] for s in st)
    assert res["requests"] == 400 and res["rate_requested"] is None and res["rate_kept"] is True
    assert "until 2.0 s" in out


def test_find_knee_brackets_a_servers_capacity():
    # 4 ms per request, one at a time: 250 req/s at most. Steps of 0.4 s from
    # 100 req/s (x1.5: 100, 150, 225 hold; 337.5 breaks), then 3 bisections.
    srv = serve(ThrottledHandler, serial=threading.Lock())
    try:
        res, out, _ = run_load(["--find-knee", "--slo", "p99=20ms", "--knee-start", "100", "--knee-step", "400ms",
                                "--timeout", "2s", url(srv.server_address[1])], timeout=30)
    finally:
        stop(srv)
    knee = res["knee"]
    assert knee["slo"] == "p99<=20ms"
    steps = knee["steps"]
    first_bad = next(i for i, s in enumerate(steps) if not s["slo_held"])
    assert len(steps) == first_bad + 1 + 3, steps
    assert [s["rate"] for s in steps[:first_bad + 1]] == [100 * 1.5 ** i for i in range(first_bad + 1)]
    assert 100 <= knee["rate"] < 337.5 and knee["p99_us"] <= 20000, knee
    held = [s["rate"] for s in steps if s["slo_held"]]
    assert knee["rate"] == max(held) and knee["rate"] < min(s["rate"] for s in steps if not s["slo_held"])
    assert all(s["requests"] > 0 for s in steps)
    assert "knee" in out


def test_bad_flags_exit_2_with_a_message_naming_the_flag():
    cases = [
        (["--rate", "abc", "http://127.0.0.1:1/"], "--rate"),
        (["--connections", "0", "http://127.0.0.1:1/"], "--connections"),
        (["--duration", "10", "http://127.0.0.1:1/"], "--duration"),
        (["--stages", "30s", "http://127.0.0.1:1/"], "--stages"),
        (["--slo", "p98=1ms", "--find-knee", "http://127.0.0.1:1/"], "--slo"),
        (["--find-knee", "http://127.0.0.1:1/"], "--find-knee"),
        (["--slo", "p99=50ms", "http://127.0.0.1:1/"], "--slo"),
        (["--requests", "5", "--duration", "1s", "http://127.0.0.1:1/"], "--requests"),
        (["--zipf", "1.1", "http://127.0.0.1:1/"], "--zipf"),
        (["--keys", "10", "http://127.0.0.1:1/"], "--key-header"),
        (["--header", "no colon", "http://127.0.0.1:1/"], "--header"),
        (["--bogus", "http://127.0.0.1:1/"], "--bogus"),
        (["--rate"], "--rate"),
        (["http://localhost:80/"], "URL"),
        (["https://127.0.0.1:1/"], "URL"),
        ([], "URL"),
    ]
    for args, flag in cases:
        res = subprocess.run([harness.tool_path("ringlb-load")] + args, capture_output=True, text=True, timeout=10)
        assert res.returncode == 2, (args, res.returncode, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ringlb-load: ") and flag in lines[0], (args, res.stderr)
    res = subprocess.run([harness.tool_path("ringlb-load"), "--help"], capture_output=True, text=True, timeout=10)
    assert res.returncode == 0
    for flag in ("--connections", "--rate", "--duration", "--requests", "--warmup", "--method", "--header",
                 "--body-size", "--key-header", "--keys", "--zipf", "--seed", "--server-header", "--timeout",
                 "--json", "--timeline", "--stages", "--find-knee", "--slo", "--knee-start", "--knee-step",
                 "--knee-max-error-rate", "--quiet"):
        assert flag in res.stdout, flag


def test_open_loop_with_too_few_connections_says_the_rate_was_not_kept():
    # One connection to a 5 ms server carries about 200 req/s; at 600 req/s
    # the requests queue in the generator. Every answer still comes (the
    # timeout is long), so answers / window equal the requested rate: the
    # verdict must come from the late sends, with the advice to raise
    # --connections.
    from test_testserver import TestServer
    with TestServer("--latency", "fixed:5ms") as ts:
        res, out, _ = run_load(["--rate", "600", "--connections", "1", "--duration", "1s", "--timeout", "20s",
                                url(ts.port)], timeout=30)
    assert res["errors_total"] == 0, res
    assert res["rate_kept"] is False, (res["rate_kept"], res["warnings"])
    assert res["sent_late"]["no_free_connection"] > 300, res["sent_late"]
    assert any("raise --connections" in w for w in res["warnings"]), res["warnings"]


def test_a_server_that_answers_early_and_stops_reading_times_out():
    # It answers at once and never reads the 8 MiB body: the send never
    # completes. The connection must be closed at --timeout and said so,
    # not kept for the rest of the run.
    import socket as socketmod
    lsock = socketmod.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    port = lsock.getsockname()[1]
    conns = []

    def accept_loop():
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            c.setsockopt(socketmod.SOL_SOCKET, socketmod.SO_RCVBUF, 4096)
            c.recv(1024)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            conns.append(c)
    threading.Thread(target=accept_loop, daemon=True).start()
    try:
        t0 = time.monotonic()
        res, _, _ = run_load(["--connections", "1", "--duration", "3s", "--timeout", "1s", "--body-size", "8m",
                              "--method", "POST", url(port)], timeout=20)
        took = time.monotonic() - t0
    finally:
        lsock.close()
        for c in conns:
            c.close()
    assert res["stuck_sends"] >= 1, res
    assert res["requests"] >= 2, res  # the loop went on after the stuck connection
    assert any("stopped reading" in w for w in res["warnings"]), res["warnings"]
    assert took < 10, took
