"""Every balancer through the real binary: it starts, serves, honours what it promises."""
import os
from collections import Counter

from harness import ROOT, Client, config, free_port, get, proxy
from test_lifecycle import check as check_config

ALGOS = ["round_robin", "least_conn", "consistent_hash", "p2c", "ewma", "random"]


def test_every_algorithm_serves_all_servers():
    for algo in ALGOS:
        with proxy(3, balance=algo, backend_extra="hash_key = uri" if algo == "consistent_hash" else "") as (lb, _):
            seen = Counter(get(lb.port, "/?k=%d" % i)[1]["x-server"] for i in range(60))
            assert set(seen) == {"s1", "s2", "s3"}, (algo, seen)


def test_consistent_hash_header_key_is_sticky():
    with proxy(5, balance="consistent_hash", backend_extra="hash_key = header:X-User") as (lb, _):
        for user in ("alice", "bob", "carol"):
            first = get(lb.port, "/", "X-User: %s\r\n" % user)[1]["x-server"]
            for _ in range(10):
                assert get(lb.port, "/", "X-User: %s\r\n" % user)[1]["x-server"] == first
        spread = {get(lb.port, "/", "X-User: u%d\r\n" % i)[1]["x-server"] for i in range(60)}
        assert len(spread) >= 4, spread


def test_consistent_hash_retry_keeps_the_key():
    # Without health checks (and without passive ejection, whose rebuild of
    # the table would move the dead server's keys midway: test_health covers
    # that) the table still maps some keys to a dead server: each such
    # request is refused there and retried. The retry hashes the same key
    # again and walks on along the table, so a user still lands on one
    # server every time (not wherever round robin happens to point).
    dead = ("dead", free_port(), "")
    with proxy(3, extra_servers=[dead], balance="consistent_hash",
               backend_extra="hash_key = header:X-User\nretries = 2\neject_after = 0") as (lb, _):
        for i in range(40):
            seen = {get(lb.port, "/", "X-User: u%d\r\n" % i)[1]["x-server"] for _ in range(4)}
            assert len(seen) == 1, (i, seen)
        retried = lb.output().count("server dead: connect failed")
        assert retried >= 8, retried  # about a quarter of 160 requests met the dead server
        # The key header named by Connection is removed from the head sent to
        # the server; the retry picks with the head the client sent, so it
        # still sees the key (it used to re-parse the forwarded head and go
        # round robin).
        for i in range(40):
            seen = {get(lb.port, "/", "X-User: u%d\r\nConnection: X-User\r\n" % i)[1]["x-server"]
                    for _ in range(4)}
            assert len(seen) == 1, (i, seen)


def test_least_conn_avoids_busy_server():
    with proxy(2, balance="least_conn") as (lb, _):
        busy = Client(lb.port)
        busy.send(b"GET /slow?ms=1500 HTTP/1.1\r\nHost: t\r\n\r\n")  # holds one server
        # Wait until that request is in flight, then every new one goes to the other server.
        first = None
        for _ in range(200):
            status, h, _ = get(lb.port)
            if first is None:
                first = h["x-server"]
            elif h["x-server"] != first:
                break
        others = Counter(get(lb.port)[1]["x-server"] for _ in range(20))
        assert len(others) == 1, others
        assert busy.response()[0] == 200


def test_plugin_from_config():
    so = os.path.join(ROOT, "build", "plugins", "first_available.so")
    with proxy(3, balance="plugin:" + so) as (lb, _):
        assert {get(lb.port)[1]["x-server"] for _ in range(10)} == {"s1"}


def test_plugin_reads_its_own_keys():
    """A plugin's keys are read with rlb_backend_param(), which the binary
    did not export: dlopen failed with 'undefined symbol: rlb_backend_param'
    (issue #9). ringlb now links with -rdynamic."""
    so = os.path.join(ROOT, "build", "plugins", "first_available.so")
    with proxy(3, balance="plugin:" + so, backend_extra="first_skip = 1") as (lb, _):
        assert {get(lb.port)[1]["x-server"] for _ in range(10)} == {"s2"}
    text = config([("a", 9, "")], balance="plugin:" + so, backend_extra="first_skip = many").replace("@PORT@", "8080")
    rc, out, path = check_config(text)
    assert rc != 0 and "first_skip: expected a number of servers" in out, out
