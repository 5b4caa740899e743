"""Failures: retries, 502/503/504/408, dead servers mid-response, stale pooled connections."""
import time

from harness import Client, free_port, get, proxy, wait_for


def test_connect_refused_is_retried_on_another_server():
    dead = ("dead", free_port(), "")
    with proxy(2, extra_servers=[dead], backend_extra="retries = 2") as (lb, _):
        for _ in range(12):
            status, h, _ = get(lb.port)
            assert status == 200 and h["x-server"] in ("s1", "s2")
        assert "server dead: connect failed" in lb.output()


def test_no_server_left_gives_503():
    dead = [("d%d" % i, free_port(), "") for i in range(2)]
    with proxy(0, extra_servers=dead, backend_extra="retries = 5") as (lb, _):
        status, h, _ = get(lb.port)
        assert status == 503 and h["connection"] == "close"


def test_server_timeout_gives_504():
    with proxy(1, backend_extra="timeout_server = 300ms") as (lb, _):
        status, _, _ = get(lb.port, "/slow?ms=3000")
        assert status == 504
        assert get(lb.port)[0] == 200


def test_malformed_response_gives_502():
    with proxy(1) as (lb, _):
        assert get(lb.port, "/garbage")[0] == 502
        assert get(lb.port)[0] == 200


def test_server_dying_mid_response_closes_client():
    with proxy(1) as (lb, _):
        c = Client(lb.port)
        c.send(b"GET /die HTTP/1.1\r\nHost: t\r\n\r\n")
        try:
            c.response()
            raise AssertionError("a truncated body was completed")
        except EOFError:
            pass  # the client sees the connection close: never a fabricated end


def test_header_timeout_gives_408_slowloris():
    with proxy(1, frontend_extra="timeout_client = 300ms") as (lb, _):
        c = Client(lb.port)
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n")
        status, _, _ = c.response()
        assert status == 408 and c.closed()
        idle = Client(lb.port)  # an idle keep-alive connection just closes
        assert idle.closed() and idle.buf == b""


def test_stale_pooled_connection_is_retried():
    with proxy(1, idle_timeout=0.2) as (lb, be):
        assert get(lb.port)[0] == 200
        wait_for(lambda: be.servers[0].closed >= 1, what="the server to close the idle connection")
        for _ in range(5):
            assert get(lb.port)[0] == 200


def _upload_then_read(port, path, total):
    """A client that sends its whole body before reading (as most do)."""
    c = Client(port)
    c.send(b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (path, total))
    c.send(b"x" * total)  # a reset here (no lingering close) fails the test
    return c


def test_early_answer_to_an_upload_reaches_the_client():
    # The server answers 401 without reading a 20 MB body, then closes. We
    # stop forwarding, relay the 401, and linger: FIN, then drain the rest
    # of the upload, so the client finishes sending and reads the answer.
    with proxy(1) as (lb, _):
        for _ in range(3):
            c = _upload_then_read(lb.port, b"/reject", 20 << 20)
            status, h, body = c.response()
            assert status == 401 and body == b"no\n" and h["connection"] == "close"
            assert c.closed()
            c.close()  # else we linger on it up to timeout_linger at shutdown


def test_error_answer_reaches_a_client_still_sending():
    # Our own 400 with request bytes still arriving behind the bad head.
    with proxy(1) as (lb, _):
        c = Client(lb.port)
        c.send(b"POST / HTTP/1.1\r\nHost: t\r\nBad Header: 1\r\nContent-Length: 8388608\r\n\r\n")
        c.send(b"x" * (8 << 20))
        assert c.response()[0] == 400 and c.closed()
        c.close()


def test_lingering_is_bounded_by_timeout_linger():
    with proxy(1, frontend_extra="timeout_linger = 300ms") as (lb, _):
        c = Client(lb.port)
        c.send(b"POST / HTTP/1.1\r\nHost: t\r\nBad Header: 1\r\nContent-Length: 100\r\n\r\nabc")
        assert c.response()[0] == 400 and c.closed()  # our FIN comes at once
        t0 = time.monotonic()

        def reset():  # bytes are drained while we linger, refused after
            try:
                c.sock.send(b"x")
                return False
            except OSError:
                return True
        wait_for(reset, timeout=3, what="the socket closed at timeout_linger")
        assert time.monotonic() - t0 > 0.25
