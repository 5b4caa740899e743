"""Large bodies by splice(2) (issue #11): a Content-Length body past 16 KiB
moves socket -> pipe -> socket without entering ringlb, both ways. These
tests check that it does (the spliced-bytes counter), that what arrives is
what was sent, and the ways a spliced transfer can end early: the server
closing or stalling mid-body, the client resetting or no longer reading."""
import hashlib
import os
import socket
import struct
import time

from harness import Backends, Client, Ringlb, config, free_port, get, proxy, wait_for
from test_metrics import fetch, parse_prometheus, value

MIB = 1 << 20


def _spliced(aport, direction):
    samples = parse_prometheus(fetch(aport, "/metrics")[1])[0]
    return value(samples, "ringlb_server_spliced_bytes_total", direction=direction)


def _echo(c, body):
    """POSTs body to /echo on c; returns the response body."""
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body))
    c.sock.sendall(body)
    status, _, got = c.response()
    assert status == 200, status
    return got


def _echo_both_ways(global_extra):
    """An 8 MiB upload echoed back, then a small request on the same client
    connection: returns (bytes spliced to the server, from it)."""
    be = Backends(1)
    aport = free_port()
    lb = Ringlb(config(be.lines(), global_extra="admin = %d\n%s" % (aport, global_extra)))
    try:
        body = os.urandom(8 * MIB)
        c = Client(lb.port, timeout=20)
        got = _echo(c, body)
        assert len(got) == len(body) and hashlib.sha256(got).digest() == hashlib.sha256(body).digest()
        # The connections both carry on: the client's next request, over the
        # server connection the splice used (pooled, not a new one).
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.response()[0] == 200
        assert be.servers[0].accepted == 1, be.servers[0].accepted
        return _spliced(aport, "out"), _spliced(aport, "in")
    finally:
        lb.close()
        be.stop()


def test_an_upload_and_its_echo_move_by_splice_intact():
    to_server, from_server = _echo_both_ways("")
    # All but what the first recvs brought with the head (a few of 16 KiB,
    # until the cancel of the recv lands).
    assert to_server >= 8 * MIB - 256 * 1024 and from_server >= 8 * MIB - 256 * 1024, (to_server, from_server)


def test_splice_off_copies_the_same_bytes():
    assert _echo_both_ways("splice = off") == (0, 0)


def test_a_server_closing_mid_spliced_body_cuts_the_client_short():
    with proxy(1) as (lb, _):
        c = Client(lb.port, timeout=10)
        c.send(b"GET /die?n=%d HTTP/1.1\r\nHost: t\r\n\r\n" % (4 * MIB))
        while b"\r\n\r\n" not in c.buf:
            c._fill()
        head, rest = c.buf.split(b"\r\n\r\n", 1)
        assert b"Content-Length: %d" % (8 * MIB) in head, head
        got = len(rest)
        while True:
            chunk = c.sock.recv(MIB)
            if not chunk:
                break
            got += len(chunk)
        assert got == 4 * MIB, got  # all that was sent, then the close: never a complete body
        wait_for(lambda: "closed in the middle of a response" in lb.output(), what="the log line")
        assert get(lb.port)[0] == 200


def test_a_server_silent_mid_spliced_body_meets_timeout_server():
    with proxy(1, backend_extra="timeout_server = 300ms", frontend_extra="timeout_client = 10s") as (lb, _):
        c = Client(lb.port, timeout=10)
        t0 = time.monotonic()
        c.send(b"GET /die?n=%d&ms=5000 HTTP/1.1\r\nHost: t\r\n\r\n" % MIB)
        while not c.closed():
            pass
        # The server's timeout, not the client's 10 s nor the server's 5 s.
        assert time.monotonic() - t0 < 4, time.monotonic() - t0
        assert "timeout_server (300 ms) expired" in lb.output(), lb.output()


def test_a_client_that_stops_reading_a_spliced_body_meets_timeout_client():
    with proxy(1, backend_extra="timeout_server = 10s", frontend_extra="timeout_client = 300ms") as (lb, _):
        c = Client(lb.port, timeout=10)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.send(b"GET /bytes?n=%d HTTP/1.1\r\nHost: t\r\n\r\n" % (64 * MIB))
        # Reads nothing: ringlb waits for room to write, on the client's clock.
        wait_for(lambda: "timeout_client expired" in lb.output(), what="timeout_client", timeout=5)
        assert "timeout_server" not in lb.output(), lb.output()
        assert get(lb.port)[0] == 200


def test_a_client_gone_mid_spliced_transfer_is_let_go_at_once():
    be = Backends(1)
    aport = free_port()
    lb = Ringlb(config(be.lines(), global_extra="admin = %d" % aport, frontend_extra="timeout_client = 30s"))
    try:
        for how in ("reset mid-download", "close before the download", "reset mid-upload"):
            c = Client(lb.port, timeout=10)
            if how == "reset mid-upload":
                c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (64 * MIB))
                c.sock.sendall(b"\0" * MIB)
            else:
                c.send(b"GET /bytes?n=%d HTTP/1.1\r\nHost: t\r\n\r\n" % (64 * MIB))
            if how == "reset mid-download":
                c._fill()
            if how != "close before the download":  # (that one FINs: nothing unread yet)
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.sock.close()
            # Closed on the reset, not at timeout_client (30 s) nor at the
            # body's end.
            wait_for(lambda: _active_clients(aport) == 0, what="the connection closed after: " + how)
        assert get(lb.port)[0] == 200
        status, _, body = get(lb.port, "/bytes?n=%d" % (3 * MIB))
        assert status == 200 and len(body) == 3 * MIB
    finally:
        lb.close()
        be.stop()


def _active_clients(aport):
    return value(parse_prometheus(fetch(aport, "/metrics")[1])[0], "ringlb_frontend_connections_active")


def test_an_early_answer_ends_a_spliced_upload():
    # /reject answers 401 without reading the upload and closes: the splice
    # to it fails, the client still gets the 401.
    with proxy(1) as (lb, _):
        c = Client(lb.port, timeout=10)
        c.send(b"POST /reject HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (32 * MIB))
        try:
            for _ in range(32):
                c.sock.sendall(b"\0" * MIB)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert c.response()[0] == 401
        assert get(lb.port)[0] == 200


def test_bytes_past_a_spliced_body_never_answer_the_next_request():
    # The server sends a second, unasked-for response after the body. A
    # splice reads exactly Content-Length, so those bytes stay in the socket:
    # the pipelined request behind must not get them as its answer.
    with proxy(1) as (lb, _):
        for _ in range(5):
            c = Client(lb.port, timeout=10)
            c.send(b"GET /oversend?n=2000000 HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
            status, _, body = c.response()
            assert status == 200 and len(body) == 2000000
            status, _, body = c.response()
            assert status == 200 and body == b"hello from s1\n", body
            c.close()
