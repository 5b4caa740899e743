"""Metrics (issue #8): /metrics in Prometheus' text format and /stats in
JSON, from every worker's counters and latency histograms summed when
read. Three servers, one 20 ms slower; after N requests the counters sum
to N and the slow server's latency shows."""
import json
import re
import urllib.request

from harness import Backends, Ringlb, accepts, config, free_port, get, wait_for

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|\+Inf|NaN)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text):
    """{(name, frozenset(labels)): value}, checking the text format 0.0.4 as
    it goes: every sample belongs to a family declared once with TYPE."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert name not in types, "TYPE twice: " + name
            assert kind in ("counter", "gauge", "histogram"), line
            types[name] = kind
            continue
        if line.startswith("#") or not line:
            continue
        m = LINE.match(line)
        assert m, "not a sample line: %r" % line
        name = m.group(1)
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, "no TYPE for " + name
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        samples[(name, labels)] = float(m.group(4))
    return samples, types


def fetch(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
        return r.headers.get("Content-Type"), r.read().decode()


def value(samples, name, **labels):
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def test_metrics_and_stats_after_n_requests():
    be = Backends(3)
    be.servers[2].delay_ms = 20
    aport = free_port()
    lb = Ringlb(config(be.lines(), global_extra="admin = %d" % aport, workers=2))
    try:
        n = 90
        for _ in range(n):
            assert get(lb.port)[0] == 200
        # The last try is counted just after its response went out.
        wait_for(lambda: value(parse_prometheus(fetch(aport, "/metrics")[1])[0],
                               "ringlb_server_total_duration_seconds_count") == n, what="every try counted")
        ctype, text = fetch(aport, "/metrics")
        assert ctype.startswith("text/plain; version=0.0.4")
        samples, types = parse_prometheus(text)
        assert types["ringlb_server_total_duration_seconds"] == "histogram"
        assert value(samples, "ringlb_server_requests_total", code="2xx") == n
        assert value(samples, "ringlb_frontend_requests_total", code="2xx") == n
        assert value(samples, "ringlb_server_total_duration_seconds_count") == n
        assert value(samples, "ringlb_server_response_duration_seconds_count") == n
        share = {s: value(samples, "ringlb_server_requests_total", server=s, code="2xx") for s in ("s1", "s2", "s3")}
        for s in share:  # round robin on each of two workers: about a third each
            assert n / 6 <= share[s] <= n / 2, share
            buckets = sorted((float(dict(ls)["le"].replace("+Inf", "inf")), v) for (name, ls), v in samples.items()
                             if name == "ringlb_server_total_duration_seconds_bucket" and ("server", s) in ls)
            assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), buckets  # cumulative
            assert buckets[-1][1] == share[s]
        slow = value(samples, "ringlb_server_total_duration_seconds_sum", server="s3") / share["s3"]
        fast = value(samples, "ringlb_server_total_duration_seconds_sum", server="s1") / share["s1"]
        assert 0.020 <= slow < 0.060 and fast < 0.010, (slow, fast)
        assert value(samples, "ringlb_server_up", server="s1") == 1
        assert value(samples, "ringlb_workers") == 2
        assert value(samples, "ringlb_server_bytes_total", server="s1", direction="in") > 0
        ctype, text = fetch(aport, "/stats")
        doc = json.loads(text)
        assert ctype == "application/json"
        s3 = {s["name"]: s for s in doc["backends"][0]["servers"]}["s3"]
        assert s3["requests"]["2xx"] == share["s3"]
        lat = s3["latency"]["total"]
        assert 20 <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"], lat
        assert doc["frontends"][0]["requests"]["2xx"] == n

        # The 10 s and 60 s windows hold them once a second has been taken.
        def window():
            srv = {s["name"]: s for s in json.loads(fetch(aport, "/stats")[1])["backends"][0]["servers"]}["s3"]
            return srv["windows"]
        wait_for(lambda: window()["10s"]["requests"]["2xx"] == share["s3"], what="a window tick")
        w = window()
        assert w["60s"]["requests"]["2xx"] == share["s3"]
        assert 20 <= w["10s"]["latency"]["total"]["p99"] <= w["10s"]["latency"]["total"]["max"], w
    finally:
        lb.close()
        be.stop()


def test_refusals_and_errors_are_counted():
    be = Backends(1)
    aport = free_port()
    lines = be.lines() + [("dead", free_port(), "")]
    lb = Ringlb(config(lines, global_extra="admin = %d" % aport, backend_extra="eject_after = 0\n"))
    try:
        from harness import request
        assert request(lb.port, b"GET / HTTP/1.1\r\n\r\n")[0] == 400  # no Host
        for _ in range(4):
            assert get(lb.port)[0] == 200
        samples, _ = parse_prometheus(fetch(aport, "/metrics")[1])
        assert value(samples, "ringlb_frontend_rejected_total", reason="400") == 1
        assert value(samples, "ringlb_frontend_requests_total", code="4xx") == 1
        refused = lb.output().count("server dead: connect failed")
        assert refused >= 1
        assert value(samples, "ringlb_server_errors_total", server="dead", kind="connect") == refused
        assert value(samples, "ringlb_server_retries_total", server="dead") == refused
    finally:
        lb.close()
        be.stop()


def test_grafana_dashboard_and_prometheus_config_match_the_metrics():
    """configs/grafana-dashboard.json parses, and every metric its panels
    query is one ringlb exports; configs/prometheus.yml scrapes /metrics."""
    import os
    from harness import ROOT
    with open(os.path.join(ROOT, "configs", "grafana-dashboard.json")) as f:
        dash = json.load(f)
    wanted = {m for p in dash["panels"] for t in p["targets"] for m in re.findall(r"ringlb_[a-z_]+", t["expr"])}
    assert len(dash["panels"]) >= 6 and wanted
    with open(os.path.join(ROOT, "configs", "prometheus.yml")) as f:
        prom = f.read()
    assert "metrics_path: /metrics" in prom and "127.0.0.1:9900" in prom
    be = Backends(1)
    aport = free_port()
    lb = Ringlb(config(be.lines(), global_extra="admin = %d" % aport))
    try:
        get(lb.port)
        samples, _ = parse_prometheus(fetch(aport, "/metrics")[1])
        exported = {name for name, _ in samples}
        assert wanted <= exported, wanted - exported
    finally:
        lb.close()
        be.stop()


def test_access_log_has_a_line_per_request_text_and_json():
    import os
    import tempfile
    from harness import Client, request
    for fmt in ("text", "json"):
        be = Backends(2)
        be.servers[1].delay_ms = 20
        fd, path = tempfile.mkstemp(suffix=".log")
        os.close(fd)
        lb = Ringlb(config(be.lines(), global_extra="access_log = %s\naccess_log_format = %s" % (path, fmt)))
        try:
            c = Client(lb.port)
            for i in range(6):
                c.send(b"GET /p?i=%d HTTP/1.1\r\nHost: t\r\n\r\n" % i)
                assert c.response()[0] == 200
            assert request(lb.port, b"GET /\x01 HTTP/1.1\r\nHost: t\r\n\r\n")[0] == 400
        finally:
            lb.close()  # lines still buffered go out at exit
            be.stop()
        with open(path) as f:
            lines = f.read().splitlines()
        os.unlink(path)
        assert len(lines) == 7, lines
        if fmt == "json":
            docs = [json.loads(l) for l in lines]
            ok = [d for d in docs if d["status"] == 200]
            assert [d["path"] for d in ok] == ["/p?i=%d" % i for i in range(6)]
            assert {d["server"] for d in ok} == {"s1", "s2"}
            slow = [d for d in ok if d["server"] == "s2"]
            assert all(d["total_ms"] >= 20 and d["response_ms"] >= 20 for d in slow), slow
            assert all(d["bytes"] > 0 and d["termination"] == "-" and d["client"] == "127.0.0.1" for d in ok)
            assert [d["status"] for d in docs].count(400) == 1
        else:
            assert re.match(r'^\S+Z 127\.0\.0\.1 "GET /p\?i=0" 200 s\d \d+ [\d.]+ [\d.]+ [\d.]+ 0 -$', lines[0]), lines[0]
            assert any(' 400 - ' in l for l in lines), lines


def test_max_connections_pauses_are_counted():
    from harness import Client
    be = Backends(1)
    aport = free_port()
    lb = Ringlb(config(be.lines(), global_extra="admin = %d\nmax_connections = 2" % aport))
    try:
        held = [Client(lb.port) for _ in range(3)]  # the probe came and went; 2 fill the worker
        from harness import wait_for
        wait_for(lambda: value(parse_prometheus(fetch(aport, "/metrics")[1])[0], "ringlb_frontend_rejected_total",
                               reason="max_connections") >= 1, what="the pause counted")
        for c in held:
            c.close()
    finally:
        lb.close()
        be.stop()


# Found by the fresh-eyes review of issue #8; each failed before its fix.

def test_response_time_of_an_early_answer_is_from_the_head_sent():
    """The response time ran from the request body's end, never reached when
    the server answered early (a 401 to an upload): the machine's uptime was
    recorded."""
    import socket as _socket
    be = Backends(1)
    aport = free_port()
    lb = Ringlb(config(be.lines(), global_extra="admin = %d" % aport))
    try:
        s = _socket.create_connection(("127.0.0.1", lb.port))
        s.sendall(b"POST /reject HTTP/1.1\r\nHost: t\r\nContent-Length: 4000000\r\n\r\n" + b"x" * 100000)
        assert s.recv(100).startswith(b"HTTP/1.1 401")
        s.close()
        doc = json.loads(fetch(aport, "/stats")[1])
        lat = doc["backends"][0]["servers"][0]["latency"]["response"]
        assert lat["count"] == 1 and lat["max"] < 2000, lat
    finally:
        lb.close()
        be.stop()


def test_json_access_log_names_the_server_and_logs_408s():
    import os
    import tempfile
    import time
    from harness import Client
    be = Backends(1)
    fd, path = tempfile.mkstemp(suffix=".log")
    os.close(fd)
    lines_cfg = [("a.b:c-d_1", be.port(0), "")]  # every kind of character a name may hold
    lb = Ringlb(config(lines_cfg, global_extra="access_log = %s\naccess_log_format = json" % path,
                       frontend_extra="timeout_client = 300ms"))
    try:
        assert get(lb.port)[0] == 200
        c = Client(lb.port)
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n")  # never finished: 408
        assert c.response()[0] == 408
        t0 = time.monotonic()
        wait_for(lambda: time.monotonic() - t0 > 0.3, what="a loop turn")
    finally:
        lb.close()
        be.stop()
    with open(path) as f:
        docs = [json.loads(l) for l in f.read().splitlines()]
    os.unlink(path)
    assert [d["status"] for d in docs] == [200, 408], docs
    assert docs[0]["server"] == "a.b:c-d_1"


def test_access_log_to_a_pipe_nobody_reads_does_not_hold_up_sigterm():
    """A plain blocking write at exit hung the process on a full pipe."""
    import os
    import signal
    import subprocess
    import tempfile
    import time
    from harness import BINARY
    be = Backends(1)
    port = free_port()
    fd, cfg = tempfile.mkstemp(suffix=".ini")
    with os.fdopen(fd, "w") as f:
        f.write(config(be.lines(), global_extra="access_log = -").replace("@PORT@", str(port)))
    r, w = os.pipe()  # nobody reads r
    proc = subprocess.Popen([BINARY, "-c", cfg], stdout=w, stderr=subprocess.DEVNULL)
    os.close(w)
    try:
        wait_for(lambda: accepts(port), what="ringlb to listen")
        from harness import Client
        c = Client(port)
        for i in range(3000):  # far more than a pipe holds
            c.send(b"GET /%s HTTP/1.1\r\nHost: t\r\n\r\n" % (b"x" * 200))
            assert c.response()[0] == 200
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        proc.wait(5)
        assert time.monotonic() - t0 < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(r)
        os.unlink(cfg)
        be.stop()


def test_access_log_has_no_duplicate_lines_after_sigterm():
    """The write in flight at exit was written again by the exit's flush."""
    import os
    import tempfile
    import threading
    from harness import Client
    be = Backends(2)
    fd, path = tempfile.mkstemp(suffix=".log")
    os.close(fd)
    lb = Ringlb(config(be.lines(), global_extra="access_log = %s" % path, workers=2))
    stop = threading.Event()

    def client(k):
        c = Client(lb.port)
        i = 0
        try:
            while not stop.is_set():
                c.send(b"GET /%d-%d HTTP/1.1\r\nHost: t\r\n\r\n" % (k, i))
                c.response()
                i += 1
        except (OSError, EOFError):
            pass
    ts = [threading.Thread(target=client, args=(k,)) for k in range(6)]
    for t in ts:
        t.start()
    try:
        wait_for(lambda: os.path.getsize(path) > 100000, what="lines in the log")
    finally:
        lb.close()
        stop.set()
        for t in ts:
            t.join()
        be.stop()
    with open(path) as f:
        paths = [l.split('"')[1] for l in f.read().splitlines()]
    os.unlink(path)
    assert len(paths) == len(set(paths)), len(paths) - len(set(paths))


def test_upgrades_are_counted():
    """A 101 was counted nowhere, so the counters did not sum to N."""
    from harness import Client
    be = Backends(1)
    aport = free_port()
    lb = Ringlb(config(be.lines(), global_extra="admin = %d" % aport))
    try:
        c = Client(lb.port)
        c.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        assert c.response()[0] == 101
        c.send(b"ping")
        c.close()
        assert get(lb.port)[0] == 200
        # A try is counted when its response has gone out, just after the
        # client may have read it: wait for the count rather than race it.
        wait_for(lambda: value(parse_prometheus(fetch(aport, "/metrics")[1])[0],
                               "ringlb_server_requests_total") == 2, what="both counted")
        samples, _ = parse_prometheus(fetch(aport, "/metrics")[1])
        assert value(samples, "ringlb_server_requests_total", code="1xx") == 1
        assert value(samples, "ringlb_frontend_requests_total", code="1xx") == 1
        assert value(samples, "ringlb_server_requests_total") == 2
    finally:
        lb.close()
        be.stop()


def test_a_bad_access_log_path_says_why():
    import subprocess
    import tempfile
    import os
    from harness import BINARY
    be = Backends(1)
    fd, cfg = tempfile.mkstemp(suffix=".ini")
    with os.fdopen(fd, "w") as f:
        f.write(config(be.lines(), global_extra="access_log = /nonexistent/dir/a.log")
                .replace("@PORT@", str(free_port())))
    try:
        out = subprocess.run([BINARY, "-c", cfg], capture_output=True, text=True, timeout=10)
        assert out.returncode != 0
        assert "access_log /nonexistent/dir/a.log: No such file or directory" in out.stderr, out.stderr
        assert "Cannot allocate memory" not in out.stderr, out.stderr
    finally:
        os.unlink(cfg)
        be.stop()
