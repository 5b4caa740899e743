"""ringlb-testserver, the experiments' backend: its answers, latencies, error
rate and timed events (die/live, sick/well, stall, slow), measured from its
listening line; bad requests, many pending answers, a clean SIGTERM.
Every wait is bounded; timed checks allow +-100 ms."""
import os
import queue
import signal
import socket
import subprocess
import tempfile
import threading
import time

from harness import Client, accepts, check_no_sanitizer_report, free_port, stop_process, tool_path, wait_for

SLACK = 0.1  # seconds either side of a scheduled moment


class TestServer:
    """The real binary; t0 is when its listening line arrived (time.monotonic)."""

    def __init__(self, *args, name="ts1"):
        self.port = free_port()
        self.name = name
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [tool_path("ringlb-testserver"), "--listen", "127.0.0.1:%d" % self.port, "--name", name] + list(args),
            stdout=subprocess.PIPE, stderr=self.err)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        t, line = self.line(5.0)
        assert "%s: listening on 127.0.0.1:%d unix_ms=" % (name, self.port) in line, line
        self.t0 = t

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.put((time.monotonic(), raw.decode(errors="replace").rstrip("\n")))

    def line(self, timeout):
        """The next stdout line as (arrival time, text)."""
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no line from ringlb-testserver within %.1f s: %s" % (timeout, self.stderr()))

    def elapsed(self):
        return time.monotonic() - self.t0

    def wait_until(self, at):
        """Until at seconds after the listening line (a deadline, not a guess)."""
        wait_for(lambda: self.elapsed() >= at, timeout=at + 1, what="t0 + %.2fs" % at)

    def client(self):
        return Client(self.port)

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode(errors="replace")

    def close(self):
        """SIGTERM; fails unless it exits 0 within 10 s with no sanitizer report."""
        stop_process(self.proc, "ringlb-testserver")
        err = self.stderr()
        check_no_sanitizer_report(err)
        assert self.proc.returncode == 0, "exit %d: %s" % (self.proc.returncode, err[-2000:])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def get(c, path="/", extra=""):
    c.send(("GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (path, extra)).encode())
    return c.response()


def in_window(t, at, what):
    assert abs(t - at) <= SLACK, "%s at %.3f s, want %.3f s +- %.1f" % (what, t, at, SLACK)


def test_answers_carry_name_and_size():
    with TestServer("--size", "1000", name="alpha") as ts:
        c = ts.client()
        status, headers, body = get(c)
        assert status == 200 and headers["x-server"] == "alpha" and body == b"x" * 1000
        c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, body = c.response(head_request=True)
        assert status == 200 and headers["content-length"] == "1000"
        status, _, body = get(c, "/healthz")
        assert (status, body) == (200, b"ok")
        c.close()


def test_bodies_pipelining_and_http10():
    with TestServer("--size", "3", "--latency", "uniform:0,20ms") as ts:
        c = ts.client()
        # a Content-Length body, a chunked body, then three pipelined in one write
        c.send(b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
               b"POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
               + b"GET /c HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
               + b"GET /d HTTP/1.1\r\nHost: t\r\n\r\n")
        bodies = [c.response()[2] for _ in range(5)]
        assert bodies == [b"xxx", b"xxx", b"xxx", b"ok", b"xxx"], bodies  # in order
        # a body in pieces, with Expect: 100-continue
        c.send(b"PUT /e HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nExpect: 100-continue\r\n\r\n")
        assert c.response()[0] == 100
        c.send(b"abc")
        c.send(b"def")
        assert c.response()[:1] == (200,)
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        status, headers, _ = c.response()
        assert status == 200 and headers["connection"] == "close" and c.closed()
        c.close()
        c = ts.client()
        c.send(b"GET / HTTP/1.0\r\n\r\n")
        assert c.response()[0] == 200 and c.closed()
        c.close()
        c = ts.client()
        c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        status, headers, _ = c.response()
        assert status == 200 and headers["connection"] == "keep-alive"
        assert get(c)[0] == 200  # still open
        c.close()


def test_bad_requests_get_400_and_close():
    with TestServer() as ts:
        for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n",  # no Host
                    b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
            c = ts.client()
            c.send(raw)
            status, headers, _ = c.response()
            assert status == 400 and headers["x-server"] == "ts1", raw
            assert c.closed()
            c.close()
        c = ts.client()
        c.send(b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n")
        assert c.response()[0] in (414, 431) and c.closed()
        c.close()
        assert get(ts.client())[0] == 200  # and it still serves


def test_error_rate_half():
    with TestServer("--error-rate", "0.5", "--seed", "7") as ts:
        c = ts.client()
        codes = [get(c) for _ in range(400)]
        errors = sum(1 for status, headers, _ in codes if status == 500)
        assert all(h["x-server"] == "ts1" for _, h, _ in codes)
        assert 150 <= errors <= 250, errors
        assert {s for s, _, _ in codes} == {200, 500}
        c.close()


def test_fixed_latency_observed():
    with TestServer("--latency", "fixed:50ms") as ts:
        c = ts.client()
        for _ in range(10):
            t = time.monotonic()
            assert get(c)[0] == 200
            took = time.monotonic() - t
            assert 0.050 <= took <= 0.070, took
        t = time.monotonic()
        assert get(c, "/healthz")[0] == 200
        assert time.monotonic() - t < 0.030  # health skips the latency
        c.close()


def test_die_then_live_refuses_in_between():
    with TestServer("--schedule", "1s:die,2s:live") as ts:
        held = ts.client()
        assert get(held)[0] == 200
        results = []
        while ts.elapsed() < 2.5:
            results.append((ts.elapsed(), accepts(ts.port, timeout=0.5)))
            time.sleep(0.01)
        refused = [t for t, ok in results if not ok]
        assert refused, "never refused"
        in_window(refused[0], 1.0, "first refusal")
        in_window(refused[-1], 2.0, "last refusal")
        assert all(ok for t, ok in results if t < refused[0] or t > refused[-1])
        assert held.closed()  # die closed the open connection too
        held.close()
        events = [ts.line(1.0)[1] for _ in range(2)]
        assert "event die at 1.0" in events[0] and "event live at 2.0" in events[1], events
        assert get(ts.client())[0] == 200


def test_sick_then_well_on_healthz():
    with TestServer("--schedule", "0.5s:sick, 1s:well") as ts:
        c = ts.client()
        seen = []
        while ts.elapsed() < 1.4:
            seen.append((ts.elapsed(), get(c, "/healthz")[0]))
            time.sleep(0.01)
        sick = [t for t, s in seen if s == 503]
        assert sick and {s for _, s in seen} == {200, 503}
        in_window(sick[0], 0.5, "first 503")
        in_window(sick[-1], 1.0, "last 503")
        assert all(s == 200 for t, s in seen if t < sick[0] or t > sick[-1])
        c.close()


def test_stall_holds_answers_until_its_end():
    with TestServer("--latency", "fixed:300ms", "--schedule", "1s:stall=500ms") as ts:
        early, late = ts.client(), ts.client()
        ts.wait_until(0.9)
        get_at = ts.elapsed()
        early.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")  # due at 1.2 s: inside the stall
        ts.wait_until(1.1)
        late.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")  # due at once: inside too
        assert late.response()[0] == 200
        in_window(ts.elapsed(), 1.5, "health answer during the stall")
        assert early.response()[0] == 200
        in_window(ts.elapsed(), 1.5, "answer due in the stall")
        assert get_at < 1.0
        t = time.monotonic()
        assert get(late)[0] == 200 and time.monotonic() - t < 0.4  # and normal after
        assert "event stall=500ms at 1.0" in ts.line(1.0)[1]
        early.close()
        late.close()


def test_slow_and_errors_events():
    with TestServer("--latency", "fixed:20ms", "--schedule", "0.3s:slow=4x,0.3s:errors=1,1s:normal") as ts:
        c = ts.client()
        ts.wait_until(0.4)
        t = time.monotonic()
        status, headers, _ = get(c)
        took = time.monotonic() - t
        assert status == 500 and headers["x-server"] == "ts1"
        assert 0.080 <= took <= 0.100, took
        ts.wait_until(1.1)
        t = time.monotonic()
        get(c)
        assert time.monotonic() - t < 0.040
        c.close()


def test_thousands_of_pending_answers():
    """5 clients x 1000 pipelined requests, each due 300 ms after it was read."""
    with TestServer("--latency", "fixed:300ms", "--size", "4") as ts:
        req = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
        clients = [ts.client() for _ in range(5)]
        t = time.monotonic()
        for c in clients:
            c.send(req * 1000)
        for c in clients:
            for _ in range(1000):
                assert c.response()[2] == b"xxxx"
            c.close()
        assert 0.3 <= time.monotonic() - t < 2.0


def test_disconnect_while_waiting_then_sigterm():
    """Clients that leave before their answer, and answers pending at SIGTERM:
    the exit is 0 and the sanitized build finds no leak."""
    ts = TestServer("--latency", "fixed:200ms")
    for _ in range(20):
        c = ts.client()
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        c.close()
    c = ts.client()
    assert get(c)[0] == 200  # the dropped answers went by, this one came
    pending = ts.client()
    pending.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 50)
    held = ts.client()
    held.send(b"GET / HTTP/1.1\r\nHost: t\r\n")  # half a head
    ts.proc.send_signal(signal.SIGTERM)
    ts.proc.wait(5)
    ts.close()
    for s in (c, pending, held):
        s.close()


def test_bad_command_lines_exit_2_naming_the_flag():
    cases = [
        (["--name", "x"], "--listen"),
        (["--listen", "127.0.0.1:1"], "--name"),
        (["--listen", "nowhere", "--name", "x"], "--listen"),
        (["--listen", "127.0.0.1:1", "--name", "x", "--latency", "fixed:5"], "--latency"),
        (["--listen", "127.0.0.1:1", "--name", "x", "--error-rate", "1.5"], "--error-rate"),
        (["--listen", "127.0.0.1:1", "--name", "x", "--size", "lots"], "--size"),
        (["--listen", "127.0.0.1:1", "--name", "x", "--seed", "-1"], "--seed"),
        (["--listen", "127.0.0.1:1", "--name", "x", "--schedule", "1s:slow=2x,2s:slwo"], "'2s:slwo'"),
        (["--listen", "127.0.0.1:1", "--name", "x", "--schedule", "2s:sick,1s:well"], "'1s:well'"),
        (["--listen", "127.0.0.1:1", "--name", "a b"], "--name"),
        (["--listen", "127.0.0.1:1", "--name", "x", "--bogus"], "--bogus"),
        (["--listen"], "--listen"),
    ]
    for args, named in cases:
        p = subprocess.run([tool_path("ringlb-testserver")] + args, capture_output=True, timeout=10)
        err = p.stderr.decode()
        assert p.returncode == 2, (args, p.returncode, err)
        assert named in err and err.count("\n") == 1, (args, err)
    p = subprocess.run([tool_path("ringlb-testserver"), "--help"], capture_output=True, timeout=10)
    assert p.returncode == 0
    for flag in ("--listen", "--name", "--latency", "--size", "--error-rate", "--schedule", "--seed"):
        assert flag.encode() in p.stdout, flag


def test_concurrency_queues_answers_behind_busy_workers():
    # One worker, 100 ms each: three requests sent together are answered at
    # about 100, 200 and 300 ms (each waits for the one before); /healthz
    # takes no worker and is answered at once.
    import selectors
    with TestServer("--latency", "fixed:100ms", "--concurrency", "1") as ts:
        socks = [socket.create_connection(("127.0.0.1", ts.port), timeout=5) for _ in range(3)]
        health = socket.create_connection(("127.0.0.1", ts.port), timeout=5)
        sel = selectors.DefaultSelector()
        t0 = time.monotonic()
        for s in socks:
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            sel.register(s, selectors.EVENT_READ)
        health.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert health.recv(4096).startswith(b"HTTP/1.1 200")
        health_s = time.monotonic() - t0
        done = []
        while len(done) < 3 and time.monotonic() - t0 < 3:
            for key, _ in sel.select(timeout=1):
                assert key.fileobj.recv(4096).startswith(b"HTTP/1.1 200")
                sel.unregister(key.fileobj)
                done.append(time.monotonic() - t0)
        for s in socks + [health]:
            s.close()
        assert health_s < 0.08, health_s
        assert len(done) == 3, done
        for got, want in zip(sorted(done), (0.1, 0.2, 0.3)):
            in_window(got, want, "answer due at %.1f s" % want)
