"""The seams of the core: rewriting versus framing, pool reuse, lifetimes of
session and upstream, timers. Each test here failed against the code before
its fix (issue #6); the docstring says what went wrong."""
import signal
import socket
import threading
import time

from harness import SANITIZED, Backends, Client, Ringlb, config, free_port, get, proxy, request, wait_for
from test_limits import cpu_seconds
from test_lifecycle import check


def _paths(be):
    return [p for s in be.servers for _, p in s.seen]


def _download(c, path, n, pause_s=0.0):
    """GETs n bytes, counting them as they come (Client.response() keeps
    the body in one growing bytes object: quadratic for tens of MB). With
    pause_s, the client reads nothing for that long first: the behaviour
    under test, not a wait for a condition."""
    c.send(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path)
    time.sleep(pause_s)
    while b"\r\n\r\n" not in c.buf:
        c._fill()
    head, rest = c.buf.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200"), head
    c.buf, got = b"", len(rest)
    while got < n:
        d = c.sock.recv(1 << 20)
        assert d, "download cut after %d bytes" % got
        got += len(d)
    assert got == n


def test_connection_cannot_name_framing_headers_away():
    """Connection: content-length made the rewrite drop Content-Length: the
    body reached the server as a second request on a pooled connection, and
    its answer went to the next client of that connection."""
    smuggled = b"GET /status/299 HTTP/1.1\r\nHost: t\r\n\r\n"
    with proxy(1) as (lb, be):
        for token in (b"content-length", b"Content-Length, close", b"transfer-encoding", b"host"):
            if token == b"transfer-encoding":
                body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(smuggled), smuggled)
                head = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
            else:
                body = smuggled
                head = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n" % len(body)
            status, h, _ = request(lb.port, head + b"Connection: " + token + b"\r\n\r\n" + body)
            assert status == 400 and h["connection"] == "close", (token, status)
            # The next client of the (would-be) pooled connection gets its own answer.
            assert get(lb.port)[2].startswith(b"hello from")
        assert not any(p.startswith("/echo") or p.startswith("/status/299") for p in _paths(be)), _paths(be)


def test_server_connection_cannot_name_framing_headers_away():
    with proxy(1) as (lb, _):
        assert get(lb.port, "/conn-framing")[0] == 502
        assert get(lb.port)[0] == 200


def test_bad_first_chunk_is_answered_502():
    """A bad chunk size right behind the head closed the client connection
    with nothing sent (the head counted as sent once queued): fresh-eyes
    review of issue #6."""
    with proxy(1) as (lb, _):
        assert get(lb.port, "/bad-chunk")[0] == 502
        assert get(lb.port)[0] == 200


def test_methods_are_case_sensitive():
    """`head` was taken for HEAD: the response was framed without its body,
    which stayed on the pooled connection for the next client."""
    with proxy(1) as (lb, be):
        c = Client(lb.port)
        c.send(b"head /bytes?n=5000 HTTP/1.1\r\nHost: t\r\n\r\n")
        status, h, body = c.response()  # framed as any method with a body
        assert status == 200 and h["content-length"] == "5000" and body == b"x" * 5000
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.response()[2].startswith(b"hello from")
        assert get(lb.port)[2].startswith(b"hello from")
        assert ("head", "/bytes?n=5000") in be.servers[0].seen


def test_connect_is_refused_with_501():
    with proxy(1) as (lb, be):
        status, h, _ = request(lb.port, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        assert status == 501 and h["connection"] == "close"
        assert _paths(be) == []


def test_leading_empty_lines_are_bounded():
    """Empty lines before the request line were skipped without limit and
    rescanned for every buffer: 16 MiB of CRLF cost seconds of a worker's
    CPU (quadratic) and grew its memory."""
    # (splice = off: the download below must go through the ring buffers,
    # so that they count in the baseline; spliced, it touches none.)
    with proxy(1, global_extra="splice = off") as (lb, be):
        assert request(lb.port, b"\r\n" * 8 + b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")[0] == 200
        assert request(lb.port, b"\r\n" * 9 + b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")[0] == 400
        _download(Client(lb.port), b"/bytes?n=40000000", 40000000)  # every ring buffer touched once
        before_cpu, before_rss = cpu_seconds(lb.proc.pid), lb.rss_kib()
        c = Client(lb.port, timeout=20)
        try:
            c.send(b"\r\n" * (8 << 20))  # 16 MiB; the answer comes early, the rest is drained
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert c.response()[0] == 400
        c.close()
        assert cpu_seconds(lb.proc.pid) - before_cpu < 1.0
        assert SANITIZED or lb.rss_kib() - before_rss < 8 * 1024, lb.rss_kib() - before_rss
        # Empty lines count toward max_header_size.
        start = b"GET / HTTP/1.1\r\nHost: t\r\nX-Pad: "
        head = start + b"p" * (16384 - 2 - len(start) - 4) + b"\r\n\r\n"
        assert len(head) == 16384 - 2
        assert request(lb.port, head)[0] == 200
        assert request(lb.port, b"\r\n\r\n" + head)[0] == 431


def test_non_idempotent_request_is_not_sent_twice():
    """A POST whose pooled connection died after the server received it was
    sent again on a fresh connection: it ran twice."""
    with proxy(1) as (lb, be):
        c = Client(lb.port)
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")  # leaves a pooled connection
        assert c.response()[0] == 200
        c.send(b"POST /drop HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        assert c.response()[0] == 502
        assert be.servers[0].seen.count(("POST", "/drop")) == 1, be.servers[0].seen
        # An idempotent one is resent once, as before.
        c = Client(lb.port)
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.response()[0] == 200
        c.send(b"GET /drop HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.response()[0] == 502
        assert be.servers[0].seen.count(("GET", "/drop")) == 2, be.servers[0].seen


class _Uploader(threading.Thread):
    """A client sending a big upload as fast as it is taken (as a real one
    does), to a server that reads none of it, until the connection ends."""

    def __init__(self, c, path):
        super().__init__(daemon=True)
        self.c = c
        c.send(b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n" % path)
        self.start()

    def run(self):
        try:
            for _ in range(100000000 // 65536):
                self.c.sock.send(b"u" * 65536)
        except OSError:
            pass  # reset or closed once our answer and the lingering are over


def test_error_answer_ends_session_while_upload_send_is_in_flight():
    """After a 504 to a client whose server never read the upload, the
    session waited for the cancelled send forever: the client connection was
    held until the client left, and a drain waited its whole timeout."""
    with proxy(1, frontend_extra="timeout_linger = 300ms",
               backend_extra="timeout_server = 300ms") as (lb, _):
        c = Client(lb.port)
        up = _Uploader(c, b"/stall?ms=5000")
        status, h, _ = c.response()
        assert status == 504 and h["connection"] == "close"
        t0 = time.monotonic()
        assert c.closed(), "connection held after the 504"
        assert time.monotonic() - t0 < 2.0
        up.join(5)
        c.close()
        t0 = time.monotonic()
        lb.proc.send_signal(signal.SIGTERM)
        assert lb.proc.wait(10) == 0
        assert time.monotonic() - t0 < 3.0, "the drain waited for a finished session"


def distinct_ports(n):
    """n free ports, all different (free_port() one after the other may give
    the same port twice)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def test_timers_work_with_many_distinct_timeouts():
    """Timers were kept in 32 lists, one per timeout value: the 33rd distinct
    value armed nothing, so no 408 and no idle close on that frontend."""
    be = Backends(1)
    main, *ports = distinct_ports(41)  # the main frontend's too: a free port picked later may be one of these
    text = config(be.lines()).replace("listen = 127.0.0.1:@PORT@", "listen = 127.0.0.1:@PORT@\ntimeout_client = 200ms")
    for i, p in enumerate(ports):
        text += ("\n[frontend f%d]\nlisten = 127.0.0.1:%d\nbackend = app\ntimeout_client = %dms\n" % (i, p, 210 + i))
    lb = Ringlb(text, port=main)
    try:
        # Ringlb() waits for the first frontend; the other 40 open after it
        # (the flake this test had): ringlb says when all of them listen.
        wait_for(lambda: "worker(s) running" in lb.output(), what="every frontend to listen")
        clients = []
        for p in ports:
            c = Client(p, timeout=5)
            c.send(b"GET / HTTP/1.1\r\nHost: t\r\n")  # never finished: slowloris
            clients.append(c)
        for c in clients:
            assert c.response()[0] == 408
    finally:
        lb.close()
        be.stop()


def test_duplicate_listen_is_refused():
    """Two frontends on one address both bound (SO_REUSEPORT) and the kernel
    split that port's connections between their backends."""
    text = ("[frontend a]\nlisten = 127.0.0.1:8080\nbackend = b\n"
            "[frontend c]\nlisten = 127.0.0.1:8080\nbackend = b\n"
            "[backend b]\nserver = x 127.0.0.1:9\n")
    rc, out, path = check(text)
    assert rc != 0 and "%s:5: listen: 127.0.0.1:8080 already used by [frontend a]" % path in out, out
    # An IPv4-mapped IPv6 spelling is the same address (fresh-eyes review).
    rc, out, path = check(text.replace("c]\nlisten = 127.0.0.1:8080", "c]\nlisten = [::ffff:127.0.0.1]:8080"))
    assert rc != 0 and "%s:5: listen: [::ffff:127.0.0.1]:8080 already used by [frontend a]" % path in out, out


def test_port_shared_with_another_process_is_logged():
    with proxy(1) as (lb, be):
        shared = "\n[frontend shared]\nlisten = 127.0.0.1:%d\nbackend = app\n" % lb.port
        other = Ringlb(config(be.lines()) + shared)
        try:
            assert "already bound by another socket" in other.output(), other.output()
        finally:
            other.close()


def test_client_that_stops_reading_does_not_time_out_its_server():
    """The server timer was re-armed on every event, whoever was late: with
    timeout_server < timeout_client, a client pausing its reads got its
    download cut and the server was charged a timeout."""
    with proxy(1, frontend_extra="timeout_client = 5s", backend_extra="timeout_server = 300ms") as (lb, _):
        _download(Client(lb.port, timeout=10), b"/bytes?n=20000000", 20000000, pause_s=1.0)
        assert "timeout_server" not in lb.output()


def test_error_after_a_relayed_interim_response_is_well_formed():
    """Our 504 comes after a 1xx still being sent to a slow client. The 504
    used to be written over the buffer that send reads from (harmless only
    while the kernel had already copied the bytes it overwrote); it is static
    text now, sent once the 1xx send is done. Not a before/after test: the
    overwrite corrupted bytes only in a window no test can hold open."""
    with proxy(1, frontend_extra="max_header_size = 1048576", backend_extra="timeout_server = 300ms") as (lb, _):
        c = Client.__new__(Client)  # a 64 KiB window, set before connect (after it, the
        c.buf = b""                 # window closes for good and TCP probes back off for seconds)
        c.sock = socket.socket()
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        c.sock.settimeout(10)
        c.sock.connect(("127.0.0.1", lb.port))
        c.send(b"GET /interim-stall?n=600000&ms=3000 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(1.0)  # not reading: the 100 is still being sent when the 504 comes (300 ms)
        status, h, _ = c.response()
        assert status == 100 and len(h) >= 70, (status, len(h))
        status, h, body = c.response()
        assert status == 504 and body == b"Gateway Timeout\n"


def test_read_until_close_body_cut_by_a_reset_is_not_completed():
    """A response framed by the server's close, cut short by a reset, was
    ended with a FIN: the client took the truncated body as whole."""
    with proxy(1) as (lb, _):
        c = Client(lb.port)
        c.send(b"GET /eof-reset HTTP/1.1\r\nHost: t\r\n\r\n")
        try:
            status, _, body = c.response()
            raise AssertionError("a cut body ended cleanly: %r" % body)
        except ConnectionResetError:
            pass


def test_forwarded_headers_are_owned_by_the_proxy():
    with proxy(1) as (lb, _):
        status, _, body = get(lb.port, "/headers", "X-Forwarded-Host: evil\r\nX-Forwarded-Port: 1\r\n"
                              "Forwarded: for=1.2.3.4;proto=https\r\nX_Forwarded_Proto: https\r\n"
                              "X-Forwarded_For: 6.6.6.6\r\nX-Forwarded-For: 10.9.8.7\r\n")
        text = body.decode().lower()
        assert status == 200
        for gone in ("evil", "forwarded: for=", "x_forwarded_proto", "6.6.6.6", "x-forwarded-port: 1\n"):
            assert gone not in text, (gone, text)
        assert "x-forwarded-for: 10.9.8.7, 127.0.0.1" in text
        assert "x-forwarded-host: t\n" in text and "x-forwarded-proto: http\n" in text
        assert "x-forwarded-port: %d\n" % lb.port in text


def test_timeout_connect_ends_at_the_connect():
    """The connect's timer must not go on as the server's: an answer slower
    than timeout_connect but within timeout_server is no 504."""
    with proxy(1, backend_extra="timeout_connect = 300ms\ntimeout_server = 3s") as (lb, _):
        status, _, body = get(lb.port, "/slow?ms=800")
        assert status == 200 and body.startswith(b"slow")


def test_refusal_on_a_reused_connection_is_answered():
    """Found by make fuzz-proxy: the last response's "head sent" flag
    outlived its transaction, so a bad request (or a 408) on a kept-alive
    connection was taken for an answer under way and got a bare close."""
    with proxy(1, frontend_extra="timeout_client = 300ms") as (lb, be):
        c = Client(lb.port)
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /\xff HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.response()[0] == 200
        status, h, _ = c.response()
        assert status == 400 and h["connection"] == "close"
        c = Client(lb.port)
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.response()[0] == 200
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n")  # then nothing: slowloris
        assert c.response()[0] == 408


def test_malformed_trailer_lines_are_refused():
    """Found by make fuzz-proxy: trailer lines were checked for their
    characters only, so "X-T v" (no colon) went on to the server."""
    with proxy(1) as (lb, _):
        for trailer in (b"X-T v", b"X-T : v"):
            status, _, _ = request(lb.port, b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   b"1\r\na\r\n0\r\n" + trailer + b"\r\n\r\n")
            assert status == 400, (trailer, status)
        status, _, body = request(lb.port, b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  b"1\r\na\r\n0\r\nX-T: v\r\n\r\n")
        assert status == 200 and body == b"a"


def test_http10_close_wins_over_keep_alive():
    with proxy(1) as (lb, _):
        c = Client(lb.port)
        c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n")
        status, h, _ = c.response()
        assert status == 200 and h["connection"] == "close"
        assert c.closed()


def test_error_answer_to_head_has_no_body():
    dead = ("dead", free_port(), "")
    with proxy(0, extra_servers=[dead], backend_extra="retries = 0") as (lb, _):
        c = Client(lb.port)
        c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n")
        status, h, _ = c.response(head_request=True)
        assert status == 503 and h["content-length"] == "20"
        assert c.closed() and c.buf == b"", c.buf
