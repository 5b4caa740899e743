"""Health checks and failover (issue #7): active checks, passive ejection,
backup servers, slow start, retries and their budget, the admin listener's
drain / enable / disable / weight, and SIGTERM stopping the checks.

Intervals are short (200-300 ms) so each test takes a second or two; every
wait is a wait-for-condition on what ringlb logs or what servers see."""
import http.client
import json
import re
import signal
import socket
import time

from harness import Backends, Client, Ringlb, config, free_port, get, wait_for

CHECKS = ("health_check = /healthz\nhealth_interval = 200ms\nhealth_timeout = 150ms\n"
          "health_rise = 2\nhealth_fall = 2\n")


def admin(port, method, path, body=None, token=None):
    """One admin request; returns (status, parsed JSON or None, headers)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Authorization": "Bearer " + token} if token else {}
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, (json.loads(data) if data else None), dict(r.getheaders())


def state_of(port, server):
    _, doc, _ = admin(port, "GET", "/backends")
    return {s["name"]: s for s in doc["backends"][0]["servers"]}[server]


def started(be, backend_extra="", global_extra="", servers=None, **kw):
    return Ringlb(config(servers or be.lines(), backend_extra=backend_extra, global_extra=global_extra, **kw))


def served_by(port, n, path="/"):
    """Servers that answered n fresh requests (X-Server), in order."""
    return [get(port, path)[1].get("x-server") for _ in range(n)]


def test_a_failing_health_check_takes_a_server_out_and_a_passing_one_brings_it_back():
    be = Backends(3)
    lb = started(be, CHECKS)
    try:
        s2 = be.servers[1]
        s2.health = "sick"
        wait_for(lambda: "server s2: up -> down (health check: status 503)" in lb.output(), what="s2 down")
        assert "s2" not in served_by(lb.port, 12)
        s2.health = "ok"
        wait_for(lambda: "server s2: down -> up (health check: status 200)" in lb.output(), what="s2 up")
        assert "s2" in served_by(lb.port, 12)
        # One check per server for the whole process, with our User-Agent,
        # on a kept-alive connection.
        assert set(s2.health_checks) == {"ringlb-health-check"}
        s1 = be.servers[0]
        wait_for(lambda: len(s1.health_checks) >= 4, what="four checks of s1")
        assert len(s1.health_conns) == 1, s1.health_conns
    finally:
        lb.close()
        be.stop()


def test_a_server_that_never_answers_its_check_is_marked_down_by_timeout():
    be = Backends(2)
    be.servers[0].health = "stall"
    lb = started(be, CHECKS)
    try:
        wait_for(lambda: "server s1: up -> down (health check: timeout after 150 ms)" in lb.output(),
                 what="s1 down by timeout")
        assert served_by(lb.port, 6) == ["s2"] * 6
    finally:
        lb.close()
        be.stop()


def test_a_dead_server_costs_clients_nothing_and_is_marked_down():
    be = Backends(3)
    lb = started(be, CHECKS + "retries = 2\n")
    try:
        be.servers[0].shutdown()
        be.servers[0].server_close()  # the port refuses
        answers = [get(lb.port)[0] for _ in range(30)]
        assert answers == [200] * 30  # refused connects are retried elsewhere
        wait_for(lambda: re.search(r"server s1: up -> (down|ejected)", lb.output()), what="s1 out")
    finally:
        lb.close()
        be.stop()


def test_passive_ejection_then_retry_after_eject_for():
    be = Backends(2)
    lb = started(be, "eject_after = 5\neject_for = 1s\n")
    try:
        be.servers[0].fail_status = 500
        wait_for(lambda: (get(lb.port), "up -> ejected" in lb.output())[1], what="s1 ejected")
        # 5 or a few more: the control thread looks at the count every tick.
        assert re.search(r"server s1: up -> ejected \(\d+ failures in a row, the last: status 500; "
                         r"out for 1000 ms\)", lb.output()), lb.output()
        before = len(be.servers[0].seen)
        assert served_by(lb.port, 10) == ["s2"] * 10
        assert len(be.servers[0].seen) == before
        be.servers[0].fail_status = None
        wait_for(lambda: "server s1: ejected -> up" in lb.output(), what="the ejection to end")
        assert "s1" in served_by(lb.port, 6)
    finally:
        lb.close()
        be.stop()


def test_max_ejected_keeps_half_the_servers():
    be = Backends(4)
    lb = started(be, "eject_after = 3\neject_for = 10s\nmax_ejected = 50%\nretries = 0\n")
    try:
        for s in be.servers:
            s.fail_status = 500
        for _ in range(40):
            get(lb.port)
        wait_for(lambda: "not ejected: max_ejected" in lb.output(), what="the cap to hold")
        assert lb.output().count("-> ejected") == 2
        assert len({get(lb.port)[1]["x-server"] for _ in range(8)}) == 2  # the two left in serve
    finally:
        lb.close()
        be.stop()


def test_backup_serves_only_when_every_normal_server_is_down():
    be = Backends(3)
    lines = be.lines()
    lines[2] = (lines[2][0], lines[2][1], " backup")
    lb = started(be, CHECKS, servers=lines)
    try:
        assert "s3" not in served_by(lb.port, 12)
        be.servers[0].health = be.servers[1].health = "sick"
        wait_for(lambda: "no server up: backup servers take the traffic" in lb.output(), what="backup on")
        assert served_by(lb.port, 6) == ["s3"] * 6
        be.servers[0].health = "ok"
        wait_for(lambda: "a server is up again: backup servers stand by" in lb.output(), what="backup off")
        assert served_by(lb.port, 6) == ["s1"] * 6
    finally:
        lb.close()
        be.stop()


def test_all_servers_down_answers_503_at_once_with_retry_after_and_logs_once():
    be = Backends(2)
    for s in be.servers:
        s.health = "sick"
    lb = started(be, CHECKS)
    try:
        wait_for(lambda: lb.output().count("-> down") == 2, what="both down")
        t0 = time.monotonic()
        for _ in range(20):
            status, h, _ = get(lb.port)
            assert status == 503 and h["retry-after"] == "1"
        assert time.monotonic() - t0 < 1.0  # at once, never a hang
        assert lb.output().count("no server available") == 1  # one line per episode
        assert "warning: backend app: answering 503: no server available (2 down)" in lb.output()  # and why
    finally:
        lb.close()
        be.stop()


def test_slow_start_ramps_a_returning_servers_share():
    be = Backends(2)
    lb = started(be, CHECKS + "slow_start = 2s\n")
    try:
        be.servers[0].health = "sick"
        wait_for(lambda: "s1: up -> down" in lb.output(), what="s1 down")
        be.servers[0].health = "ok"
        wait_for(lambda: "s1: down -> up" in lb.output(), what="s1 up")
        early = served_by(lb.port, 40).count("s1")
        t0 = time.monotonic()
        wait_for(lambda: time.monotonic() - t0 > 2.2, what="the slow start (2 s) to end")
        late = served_by(lb.port, 40).count("s1")
        assert early <= 10 and late >= 16, (early, late)  # ~10% of its weight at first, then half the traffic
    finally:
        lb.close()
        be.stop()


def test_retries_on_503_stay_within_the_budget_when_every_server_fails():
    be = Backends(3)
    lb = started(be, "retry_on = connect-failure, 503\nretries = 3\nretry_budget = 20%\neject_after = 0\n")
    try:
        for s in be.servers:
            s.fail_status = 503
        n = 200
        for _ in range(n):
            assert get(lb.port)[0] == 503
        arrived = sum(len(s.seen) for s in be.servers)
        assert arrived - n <= 0.2 * n + 10, arrived - n  # budget share plus the burst of 10
        assert arrived - n >= 10  # it did retry
    finally:
        lb.close()
        be.stop()


def test_a_503_from_one_server_is_retried_on_another():
    be = Backends(3)
    lb = started(be, "retry_on = connect-failure, 503\nretries = 2\neject_after = 0\n")
    try:
        be.servers[1].fail_status = 503
        assert [get(lb.port)[0] for _ in range(30)] == [200] * 30
        assert len(be.servers[1].seen) >= 5
        # Never for a POST: the server may have acted on it.
        c = Client(lb.port)
        statuses = []
        for _ in range(6):
            c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
            statuses.append(c.response()[0])
        assert 503 in statuses and set(statuses) <= {200, 503}
    finally:
        lb.close()
        be.stop()


def test_admin_drain_lets_in_flight_requests_finish_and_takes_no_new_ones():
    be = Backends(2)
    aport = free_port()
    lb = started(be, global_extra="admin = 127.0.0.1:%d\nadmin_token = s3cret-token" % aport)
    try:
        slow = []
        for _ in range(2):  # round robin: one of them on s1
            c = Client(lb.port)
            c.send(b"GET /slow?ms=700 HTTP/1.1\r\nHost: t\r\n\r\n")
            slow.append(c)
        wait_for(lambda: any(p.startswith("/slow") for _, p in be.servers[0].seen), what="a slow request on s1")
        assert admin(aport, "POST", "/backends/app/servers/s1/drain")[0] == 401
        status, doc, _ = admin(aport, "POST", "/backends/app/servers/s1/drain", token="s3cret-token")
        assert status == 200 and doc["state"] == "drain"
        assert "server s1: up -> drain (drained by admin)" in lb.output()
        before = len(be.servers[0].seen)
        assert served_by(lb.port, 6) == ["s2"] * 6
        assert [c.response()[0] for c in slow] == [200, 200]  # in flight: finished
        assert len(be.servers[0].seen) == before
        assert state_of(aport, "s1")["state"] == "drain"
        status, doc, _ = admin(aport, "POST", "/backends/app/servers/s1/enable", token="s3cret-token")
        assert status == 200 and doc["state"] == "up"
        assert "s1" in served_by(lb.port, 6)
        # Weight at runtime: 0 takes it out as drain does, 3 gives it 3 of 4.
        assert admin(aport, "PUT", "/backends/app/servers/s1/weight", body="3", token="s3cret-token")[0] == 200
        assert served_by(lb.port, 8).count("s1") == 6
        assert admin(aport, "PUT", "/backends/app/servers/s1/weight", body="300", token="s3cret-token")[0] == 400
        assert admin(aport, "GET", "/backends/app/servers/nope/drain")[0] == 404
        assert admin(aport, "GET", "/backends/app/servers/s1/drain", token="s3cret-token")[0] == 405
        status, doc, _ = admin(aport, "POST", "/backends/app/servers/s2/disable", token="s3cret-token")
        assert status == 200 and doc["state"] == "disabled"
        assert served_by(lb.port, 4) == ["s1"] * 4
    finally:
        lb.close()
        be.stop()


def test_get_backends_lists_servers_with_state_weight_and_last_check():
    be = Backends(2)
    aport = free_port()
    lines = be.lines()
    lines[1] = (lines[1][0], lines[1][1], " weight=2 disabled")
    lb = started(be, CHECKS, global_extra="admin = %d" % aport, servers=lines)
    try:
        wait_for(lambda: state_of(aport, "s1")["last_check"] == "pass: status 200", what="a check result")
        s2 = state_of(aport, "s2")
        assert s2["state"] == "disabled" and s2["weight"] == 2 and s2["address"] == "127.0.0.1:%d" % be.port(1)
        assert set(state_of(aport, "s1")) >= {"name", "address", "state", "weight", "in_flight", "last_check"}
        assert served_by(lb.port, 4) == ["s1"] * 4  # disabled in the config: never picked
    finally:
        lb.close()
        be.stop()


def test_sigterm_stops_the_checks():
    be = Backends(1)
    lb = started(be, CHECKS)
    try:
        wait_for(lambda: len(be.servers[0].health_checks) >= 2, what="checks")
        lb.proc.send_signal(signal.SIGTERM)
        lb.proc.wait(5)
        n = len(be.servers[0].health_checks)
        t0 = time.monotonic()
        wait_for(lambda: time.monotonic() - t0 > 0.5, what="three intervals")
        assert len(be.servers[0].health_checks) == n
    finally:
        lb.close()
        be.stop()


def test_consistent_hash_moves_a_down_servers_keys_and_brings_them_back():
    be = Backends(3)
    lb = started(be, CHECKS + "hash_key = header:X-User\n", balance="consistent_hash")
    try:
        def owners():
            return {u: get(lb.port, "/", "X-User: u%d\r\n" % u)[1]["x-server"] for u in range(30)}
        before = owners()
        gone = before[0]
        srv = be.servers[int(gone[1:]) - 1]
        srv.health = "sick"
        wait_for(lambda: "server %s: up -> down" % gone in lb.output(), what="down")
        during = owners()
        assert gone not in during.values()
        assert all(during[u] == before[u] for u in before if before[u] != gone)  # only its keys moved
        srv.health = "ok"
        wait_for(lambda: "server %s: down -> up" % gone in lb.output(), what="up")
        wait_for(lambda: owners() == before, what="its keys to come back")
    finally:
        lb.close()
        be.stop()


# Found by the fresh-eyes review of issue #7; each failed before its fix.

def test_out_of_descriptors_here_is_no_verdict_on_the_servers():
    """socket() failing with EMFILE in a check marked every healthy server
    down: a busy ringlb, not the servers, was out of something."""
    from test_limits import LimitedRinglb
    be = Backends(2)
    lb = LimitedRinglb(config(be.lines(), backend_extra="health_check = tcp\nhealth_interval = 200ms\n"
                              "health_fall = 1\n"), nofile=64)
    hogs = []
    try:
        for _ in range(80):  # more than the descriptors ringlb has
            hogs.append(socket.create_connection(("127.0.0.1", lb.port)))
        wait_for(lambda: "Too many open files" in lb.output(), what="descriptors to run out")
        t0 = time.monotonic()
        wait_for(lambda: time.monotonic() - t0 > 0.6, what="three check intervals")
        assert "-> down" not in lb.output(), lb.output()
    finally:
        for h in hogs:
            h.close()
        lb.close()
        be.stop()


def test_max_ejected_counts_only_servers_that_may_serve():
    """Disabled servers counted in the share max_ejected protects, so both
    live servers could be ejected: a full outage."""
    be = Backends(2)
    lines = be.lines() + [("old1", free_port(), " disabled"), ("old2", free_port(), " disabled")]
    lb = started(be, "eject_after = 3\neject_for = 10s\nretries = 0\n", servers=lines)
    try:
        for s in be.servers:
            s.fail_status = 500
        for _ in range(30):
            get(lb.port)
        wait_for(lambda: "not ejected: max_ejected" in lb.output(), what="the cap to hold")
        assert lb.output().count("-> ejected") == 1
    finally:
        lb.close()
        be.stop()


def test_a_failed_connect_is_retried_whatever_retry_on_says():
    """retry_on = 503 (without connect-failure) stopped retrying refused
    connects, which reach no server and are always safe to retry."""
    be = Backends(1)
    lines = be.lines() + [("dead", free_port(), "")]
    lb = started(be, "retry_on = 503\neject_after = 0\n", servers=lines)
    try:
        assert [get(lb.port)[0] for _ in range(10)] == [200] * 10
    finally:
        lb.close()
        be.stop()


def test_admin_head_has_no_body_and_errors_have_their_reason():
    be = Backends(1)
    aport = free_port()
    lb = started(be, global_extra="admin = %d" % aport)
    try:
        c = Client(aport)
        c.send(b"HEAD /backends HTTP/1.1\r\nHost: a\r\n\r\nGET /backends HTTP/1.1\r\nHost: a\r\n\r\n")
        status, h, body = c.response(head_request=True)
        assert status == 200 and int(h["content-length"]) > 0 and body == b""
        status, h, body = c.response()
        assert status == 200 and json.loads(body)["backends"][0]["name"] == "app"
        c = Client(aport)
        c.send(b"GET /" + b"x" * 300 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
        c.send(b"")
        raw = c.sock.recv(200)
        assert raw.startswith(b"HTTP/1.1 414 URI Too Long\r\n"), raw
    finally:
        lb.close()
        be.stop()


def test_admin_connections_are_capped():
    """The admin listener accepted without limit: idle connections could
    take every descriptor of the process."""
    be = Backends(1)
    aport = free_port()
    lb = started(be, global_extra="admin = %d" % aport)
    try:
        idle = [socket.create_connection(("127.0.0.1", aport)) for _ in range(64)]
        wait_for(lambda: admin_answers(aport, 0.2) is False, what="accepting to pause")
        idle.pop().close()
        assert admin_answers(aport, 5) is True
        for s in idle:
            s.close()
    finally:
        lb.close()
        be.stop()


def admin_answers(port, timeout):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(timeout)
    try:
        s.sendall(b"GET /backends HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        return s.recv(16).startswith(b"HTTP/1.1 200")
    except socket.timeout:
        return False
    finally:
        s.close()


def test_no_server_available_is_logged_once_per_episode():
    """The line was logged again only after a server state change, so a
    second outage of a backend without checks went unlogged."""
    be = Backends(1)
    lb = started(be, "eject_after = 0\n")
    try:
        port = be.port(0)
        be.servers[0].kill()
        assert get(lb.port)[0] == 503 and get(lb.port)[0] == 503
        assert lb.output().count("no server available") == 1
        assert "answering 503: no server available (1 tried for this request)" in lb.output(), lb.output()
        be.servers[0] = srv = __import__("backend").serve("s1", port)
        __import__("threading").Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        wait_for(lambda: get(lb.port)[0] == 200, what="s1 back")
        srv.kill()
        assert get(lb.port)[0] == 503
        assert lb.output().count("no server available") == 2
    finally:
        lb.close()
        be.stop()


def test_a_retried_request_keeps_its_client_connection_alive():
    """A retry set the request body's end to 'not yet' for a request without
    one, so the answer went out with Connection: close and the client's next
    request met a closed connection (found by the fresh-eyes review of #8)."""
    be = Backends(2)
    lb = started(be, "retry_on = connect-failure, 503\nretries = 2\neject_after = 0\n")
    try:
        be.servers[1].fail_status = 503
        c = Client(lb.port)
        for i in range(8):  # round robin: every other one meets s2 and is retried on s1
            c.send(b"GET /%d HTTP/1.1\r\nHost: t\r\n\r\n" % i)
            status, h, _ = c.response()
            assert status == 200 and h.get("connection") != "close", (i, h)
        assert len(be.servers[1].seen) >= 3
    finally:
        lb.close()
        be.stop()
