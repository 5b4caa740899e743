"""Forwarding: balancing, keep-alive, pipelining, bodies, headers, upgrade."""
import socket
from collections import Counter

from harness import Client, get, proxy, request


def test_round_robin_weights():
    with proxy(3, weights=[2, 1, 1]) as (lb, _):
        seen = Counter(get(lb.port)[1]["x-server"] for _ in range(40))
        assert seen == {"s1": 20, "s2": 10, "s3": 10}, seen


def test_keep_alive_many_requests_one_connection():
    with proxy(2) as (lb, _):
        c = Client(lb.port)
        servers = []
        for _ in range(20):
            c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            status, h, body = c.response()
            assert status == 200 and body.startswith(b"hello from")
            assert "connection" not in h
            servers.append(h["x-server"])
        assert set(servers) == {"s1", "s2"}


def test_pipelined_requests_answered_in_order():
    with proxy(1) as (lb, _):
        c = Client(lb.port)
        c.send(b"".join(b"GET /status/%d HTTP/1.1\r\nHost: t\r\n\r\n" % s for s in (200, 201, 202, 203)))
        assert [c.response()[0] for _ in range(4)] == [200, 201, 202, 203]


def test_http10_keep_alive_and_close():
    with proxy(1) as (lb, _):
        c = Client(lb.port)
        c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        status, h, _ = c.response()
        assert status == 200 and h["connection"].lower() == "keep-alive"
        c.send(b"GET / HTTP/1.0\r\n\r\n")
        status, h, _ = c.response()
        assert status == 200 and h["connection"] == "close"
        assert c.closed()


def test_bodies_content_length_and_chunked():
    with proxy(1) as (lb, _):
        body = bytes(range(256)) * 1000
        r = request(lb.port, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        assert r[0] == 200 and r[2] == body
        chunked = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-X: 1\r\n\r\n"
        r = request(lb.port, b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
        assert r[0] == 200 and r[2] == b"hello world"
        status, h, body = get(lb.port, "/bytes?n=300000&chunked=1")
        assert status == 200 and h["transfer-encoding"] == "chunked" and body == b"x" * 300000


def test_request_split_across_many_packets():
    with proxy(1) as (lb, _):
        c = Client(lb.port)
        raw = b"POST /echo HTTP/1.1\r\nHost: t\r\nX-Long: " + b"a" * 9000 + b"\r\nContent-Length: 3\r\n\r\nabc"
        for i in range(0, len(raw), 700):
            c.send(raw[i:i + 700])
        assert c.response()[2] == b"abc"


def test_hop_by_hop_removed_and_forwarded_for_added():
    with proxy(1) as (lb, _):
        status, _, body = get(lb.port, "/headers", "Connection: keep-alive, X-Secret\r\nX-Secret: 1\r\n"
                              "Keep-Alive: timeout=5\r\nTE: trailers\r\nX-Forwarded-For: 10.9.8.7\r\n"
                              "X-Forwarded-Proto: https\r\nX-Kept: yes\r\n")
        text = body.decode().lower()
        assert status == 200
        for gone in ("x-secret", "keep-alive", "\r\nte:", "x-forwarded-proto: https"):
            assert gone not in text, (gone, text)
        assert "x-forwarded-for: 10.9.8.7, 127.0.0.1" in text
        assert "x-forwarded-proto: http\n" in text and "x-kept: yes" in text


def test_head_204_304_framing():
    with proxy(1) as (lb, _):
        c = Client(lb.port)
        c.send(b"HEAD /bytes?n=5000 HTTP/1.1\r\nHost: t\r\n\r\n")
        status, h, _ = c.response(head_request=True)
        assert status == 200 and h["content-length"] == "5000"
        for code in (204, 304):
            c.send(b"GET /status/%d HTTP/1.1\r\nHost: t\r\n\r\n" % code)
            assert c.response()[0] == code
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")  # framing intact: next answer is clean
        assert c.response()[2].startswith(b"hello from")


def test_expect_100_continue():
    with proxy(1) as (lb, _):
        c = Client(lb.port)
        c.send(b"POST /continue HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        assert c.response()[0] == 100
        c.send(b"abcd")
        status, _, body = c.response()
        assert status == 200 and body == b"4"


def test_websocket_upgrade_tunnel():
    with proxy(1) as (lb, _):
        c = Client(lb.port)
        c.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        status, h, _ = c.response()
        assert status == 101 and h["upgrade"] == "websocket" and h["connection"].lower() == "upgrade"
        for msg in (b"ping", b"x" * 100000):
            c.send(msg)
            while len(c.buf) < len(msg):
                c._fill()
            assert c.buf[:len(msg)] == msg
            c.buf = c.buf[len(msg):]
        c.close()  # an open tunnel would hold the proxy's drain to its timeout


def test_upstream_connections_are_pooled():
    with proxy(1) as (lb, be):
        for _ in range(30):  # a new client connection each time
            assert get(lb.port)[0] == 200
        assert be.servers[0].accepted <= 2, be.servers[0].accepted


def test_one_gib_each_way_in_bounded_memory():
    gib = 1 << 30
    with proxy(1) as (lb, _):
        c = Client(lb.port, timeout=30)
        c.send(b"GET /bytes?n=%d HTTP/1.1\r\nHost: t\r\n\r\n" % gib)
        while b"\r\n\r\n" not in c.buf:
            c._fill()
        got = len(c.buf.split(b"\r\n\r\n", 1)[1])
        c.buf = b""
        while got < gib:
            got += len(c.sock.recv(1 << 20))
        assert got == gib
        c.send(b"PUT /continue HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % gib)
        block = b"\0" * (1 << 20)
        for _ in range(gib // len(block)):
            c.sock.sendall(block)
        assert c.response()[2] == str(gib).encode()
        # 16 MiB of provided buffers per worker plus code and heap: a few MiB above that.
        assert lb.rss_peak_kib() < 40 * 1024, lb.rss_peak_kib()


def test_idle_tunnel_outlives_server_and_client_timeouts():
    with proxy(1, frontend_extra="timeout_client = 200ms\ntimeout_tunnel = 1s",
               backend_extra="timeout_server = 200ms") as (lb, _):
        c = Client(lb.port)
        c.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        assert c.response()[0] == 101
        c.sock.settimeout(0.6)  # idle past timeout_server and timeout_client ...
        try:
            c.sock.recv(1)
            raise AssertionError("the tunnel was closed before timeout_tunnel")
        except socket.timeout:
            pass
        c.send(b"still here")
        c.sock.settimeout(5)
        while len(c.buf) < 10:
            c._fill()
        assert c.buf == b"still here"
        assert c.closed()  # ... and closed once idle for timeout_tunnel
