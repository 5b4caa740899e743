"""Strict parsing over a real socket: every smuggling vector gets an error and a
close, and the backend never sees the request."""
from harness import Client, proxy

REJECT_400 = {
    "cl_and_te": b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "conflicting_cl": b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    "cl_list": b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 5\r\n\r\nhello",
    "cl_non_digit": b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello",
    "cl_overflow": b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999\r\n\r\n",
    "te_not_final": b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    "te_identity": b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n\r\n",
    "te_http10": b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "space_before_colon": b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length : 0\r\n\r\n",
    "obs_fold": b"GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n  continued\r\n\r\n",
    "nul_in_value": b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n",
    "cr_in_value": b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n",
    "bad_token": b"GET / HTTP/1.1\r\nHost: t\r\nX(A): 1\r\n\r\n",
    "bad_method": b"G@T / HTTP/1.1\r\nHost: t\r\n\r\n",
    "missing_host": b"GET / HTTP/1.1\r\n\r\n",
    "duplicate_host": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "bare_lf": b"GET / HTTP/1.1\nHost: t\n\n",
}


def assert_rejected(lb, be, raw, status):
    before = sum(s.accepted for s in be.servers)
    c = Client(lb.port)
    c.send(raw)
    got, h, _ = c.response()
    assert got == status, (raw, got)
    assert h["connection"] == "close"
    assert c.closed()
    c.close()
    assert sum(s.accepted for s in be.servers) == before, "a rejected request reached a server"


def test_smuggling_vectors_rejected_with_400():
    with proxy(1) as (lb, be):
        for name, raw in REJECT_400.items():
            try:
                assert_rejected(lb, be, raw, 400)
            except AssertionError as e:
                raise AssertionError(name) from e


def test_bad_chunk_size_rejected():
    with proxy(1) as (lb, be):
        for chunk in (b"zz\r\nhello\r\n0\r\n\r\n", b"5 \r\nhello\r\n0\r\n\r\n",
                      b"fffffffffffffffff\r\n", b"5\r\nhelloXX0\r\n\r\n", b"-1\r\n"):
            c = Client(lb.port)
            c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk)
            status, _, _ = c.response()
            assert status in (400, 502), (chunk, status)
            assert c.closed()


def test_oversized_head_431_and_uri_414():
    with proxy(1) as (lb, be):
        assert_rejected(lb, be, b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431)
        assert_rejected(lb, be, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414)
        assert_rejected(lb, be, b"GET /" + b"a" * 20000, 414)


def test_http2_preface_and_unknown_version():
    with proxy(1) as (lb, be):
        assert_rejected(lb, be, b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505)
        assert_rejected(lb, be, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505)
