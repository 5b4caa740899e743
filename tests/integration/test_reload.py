"""Hot reload (SIGHUP): a new generation of workers takes the listening
sockets while the old one drains; a bad file changes nothing; servers that
keep their name keep their counters, histograms and health."""
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import urllib.request

from harness import Ringlb, free_port, stop_process, testserver, tool_path, wait_for


def conf(admin, servers, balance="round_robin", extra="", listen="127.0.0.1:@PORT@"):
    return ("[global]\nworkers = 2\ndrain_timeout = 5s\nadmin = 127.0.0.1:%d\n\n"
            "[frontend main]\nlisten = %s\nbackend = app\n\n[backend app]\nbalance = %s\n%s" %
            (admin, listen, balance, extra) +
            "".join("server = %s 127.0.0.1:%d\n" % s for s in servers))


def fetch(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
        return r.read().decode()


def requests_of(admin, server):
    """Answers counted for server in /metrics (every class)."""
    text = fetch(admin, "/metrics")
    return sum(int(v) for v in re.findall(
        r'^ringlb_server_requests_total\{backend="app",server="%s",code="\dxx"\} (\d+)$' % server, text, re.M))


def listening_sockets(pid):
    """How many listening TCP sockets pid holds (its other sockets come and go with clients)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    listening = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                listening += fields[3] == "0A" and fields[9] in inodes  # 0A: LISTEN
    return listening


def threads(pid):
    """ringlb's threads by name; not io_uring's own workers (iou-wrk-N, iou-sqp-N), which the
    kernel starts and ends by itself."""
    names = []
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, t)) as f:
                names.append(f.read().strip())
        except OSError:
            pass  # ended meanwhile
    return sorted(n for n in names if not n.startswith("iou-"))


def reload_with(lb, text):
    with open(lb.config, "w") as f:
        f.write(text.replace("@PORT@", str(lb.port)))
    lb.proc.send_signal(signal.SIGHUP)


def test_reload_under_load_adds_a_server_and_changes_the_algorithm_without_a_failed_request():
    ports = [free_port(), free_port()]
    admin = free_port()
    servers = [testserver("s1", ports[0]), testserver("s2", ports[1])]
    lb = load = None
    fd, out = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        lb = Ringlb(conf(admin, [("s1", ports[0])]))
        # (it listens before its threads start: they are all there once it says so)
        wait_for(lambda: "worker(s) running" in lb.output(), what="ringlb's threads")
        threads_before = threads(lb.proc.pid)
        load = subprocess.Popen([tool_path("ringlb-load"), "--rate", "300", "--duration", "4s", "--connections",
                                 "32", "--timeout", "3s", "--server-header", "X-Server", "--json", out, "--quiet",
                                 "http://127.0.0.1:%d/" % lb.port], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        wait_for(lambda: requests_of(admin, "s1") >= 200, timeout=10, what="load through the first generation")
        before = requests_of(admin, "s1")
        reload_with(lb, conf(admin, [("s1", ports[0]), ("s2", ports[1])], balance="least_conn"))
        wait_for(lambda: "generation 1: its last worker exited" in lb.output(), timeout=10,
                 what="the old workers to exit")
        assert requests_of(admin, "s1") >= before  # the counters went on, not back to 0
        wait_for(lambda: requests_of(admin, "s2") > 0, timeout=5, what="the new server to get traffic")
        # (a joined thread leaves /proc a moment after the join returns)
        wait_for(lambda: threads(lb.proc.pid) == threads_before, what="the threads as before the reload: %s, now %s" % (threads_before, threads(lb.proc.pid)))
        report = load.communicate(timeout=30)[0].decode()
        with open(out) as f:
            doc = json.load(f)
        assert doc["errors_total"] == 0, (doc["errors"], report, lb.output())
        assert doc["requests"] >= 1000, report
        assert doc["servers"].get("s2", 0) > 0, doc["servers"]
        # Every answer the clients got is counted, old generation and new.
        assert requests_of(admin, "s1") + requests_of(admin, "s2") == sum(doc["servers"].values()), \
            (fetch(admin, "/metrics"), doc)
        assert "reload: backend app: balance round_robin -> least_conn, servers added: s2" in lb.output()
        assert "frontend main listening on 127.0.0.1:%d -> backend app (least_conn, 2 servers)" % lb.port \
            in lb.output()
    finally:
        os.unlink(out)
        if load is not None and load.poll() is None:
            load.kill()
            load.wait()
        if lb is not None:
            lb.close()
        for s in servers:
            stop_process(s, "ringlb-testserver")


def test_a_bad_file_changes_nothing_and_says_where():
    port = free_port()
    admin = free_port()
    server = testserver("s1", port)
    lb = None
    try:
        lb = Ringlb(conf(admin, [("s1", port)]))
        reload_with(lb, conf(admin, [("s1", port)]) + "retries = lots\n")
        wait_for(lambda: "reload failed" in lb.output(), what="the reload to fail")
        assert re.search(r"reload failed: %s:\d+: retries: " % re.escape(lb.config), lb.output()), lb.output()
        assert "still running on the previous configuration" in lb.output()
        assert fetch(lb.port, "/") is not None
        assert "generation 2" not in lb.output()
        # A file that loads but cannot start (a port another process holds):
        # the same, the sockets the old workers accept on stay open, and the
        # ones it opened for its 4 workers are closed (nobody would accept
        # the connections the kernel queued there).
        sockets_before = listening_sockets(lb.proc.pid)
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            reload_with(lb, conf(admin, [("s1", port)]).replace("workers = 2", "workers = 4") +
                        "[frontend other]\nlisten = 127.0.0.1:%d\nbackend = app\n" % holder.getsockname()[1])
            wait_for(lambda: lb.output().count("reload failed") == 2, what="the second reload to fail")
        assert "Address already in use" in lb.output(), lb.output()
        assert listening_sockets(lb.proc.pid) == sockets_before, (sockets_before, listening_sockets(lb.proc.pid))
        assert all(fetch(lb.port, "/") is not None for _ in range(20))
        assert fetch(admin, "/backends") is not None  # the control thread runs again
        # ... and the next good one applies.
        reload_with(lb, conf(admin, [("s1", port)], balance="random"))
        wait_for(lambda: "generation 1: its last worker exited" in lb.output(), what="the good reload")
        assert "balance round_robin -> random" in lb.output()
        fetch(lb.port, "/")
    finally:
        if lb is not None:
            lb.close()
        stop_process(server, "ringlb-testserver")


def test_a_down_server_stays_down_through_a_reload_and_a_moved_listener_moves():
    port, dead = free_port(), free_port()
    admin = free_port()
    server = testserver("s1", port)
    checks = "health_check = /healthz\nhealth_interval = 200ms\nhealth_timeout = 150ms\nhealth_rise = 2\nhealth_fall = 1\n"
    lb = None
    try:
        lb = Ringlb(conf(admin, [("s1", port), ("s2", dead)], extra=checks))
        wait_for(lambda: "server s2: up -> down" in lb.output(), what="s2 to be marked down")
        new_port = free_port()
        reload_with(lb, conf(admin, [("s1", port), ("s2", dead)], extra=checks,
                             listen="127.0.0.1:%d" % new_port))
        wait_for(lambda: "generation 1: its last worker exited" in lb.output(), what="the reload")
        backends = json.loads(fetch(admin, "/backends"))
        states = {s["name"]: s["state"] for b in backends["backends"] for s in b["servers"]}
        assert states == {"s1": "up", "s2": "down"}, backends
        assert lb.output().count("server s2: up -> down") == 1, lb.output()  # no flap up and down again
        assert fetch(new_port, "/") is not None
        try:
            fetch(lb.port, "/")
            raise AssertionError("the old listener still answers")
        except OSError:
            pass
    finally:
        if lb is not None:
            lb.close()
        stop_process(server, "ringlb-testserver")


def test_a_keep_alive_response_in_flight_at_the_reload_lets_the_client_send_its_next_request():
    """The response said keep-alive, then its connection was closed once
    sent: the client's next request met a close (fresh-eyes review)."""
    port, admin = free_port(), free_port()
    server = testserver("s1", port, "--size", "4000000")
    lb = None
    try:
        lb = Ringlb(conf(admin, [("s1", port)]))
        c = socket.create_connection(("127.0.0.1", lb.port), timeout=5)
        c.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        got = b""
        while b"\r\n\r\n" not in got:
            got += c.recv(65536)
        head, body = got.split(b"\r\n\r\n", 1)
        assert b"connection: close" not in head.lower()
        reload_with(lb, conf(admin, [("s1", port)], balance="random"))
        wait_for(lambda: "generation 2 running" in lb.output(), what="the reload")
        while len(body) < 4000000:
            body += c.recv(1 << 20)
        c.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        second = c.recv(65536)
        assert second.startswith(b"HTTP/1.1 200") and b"connection: close" in second.lower(), second[:200]
        c.close()
        wait_for(lambda: "generation 1: its last worker exited" in lb.output(), what="the old workers to exit")
    finally:
        if lb is not None:
            lb.close()
        stop_process(server, "ringlb-testserver")


def test_the_admin_moved_to_an_address_a_frontend_had_answers_on_each_of_its_sockets():
    """A frontend of 4 workers had 4 sockets; the admin took one and the
    kernel sent 3 of 4 connections to the others (fresh-eyes review)."""
    port, admin = free_port(), free_port()
    server = testserver("s1", port)
    lb = None
    try:
        lb = Ringlb(conf(admin, [("s1", port)]).replace("workers = 2", "workers = 4"))
        new_port = free_port()
        reload_with(lb, conf(lb.port, [("s1", port)], listen="127.0.0.1:%d" % new_port))
        wait_for(lambda: "generation 1: its last worker exited" in lb.output(), what="the reload")
        for _ in range(20):
            assert json.loads(fetch(lb.port, "/backends"))["backends"][0]["name"] == "app"
        assert fetch(new_port, "/") is not None
    finally:
        if lb is not None:
            lb.close()
        stop_process(server, "ringlb-testserver")


def test_a_reload_short_of_descriptors_is_refused_and_the_running_one_serves_on():
    # The new generation's loops could not make their rings (no descriptor
    # left), but the reload used to say it was running, and the old one
    # drained away: nothing served. Now the start waits for each loop's
    # setup, and a loop that cannot run fails the reload.
    from harness import Backends, config, get
    from test_limits import LimitedRinglb
    be = Backends(1)
    lb = LimitedRinglb(config(be.lines()), nofile=200)
    held = []
    try:
        fds = lambda: len(os.listdir("/proc/%d/fd" % lb.proc.pid))
        while fds() < 199:
            before = fds()
            held.append(socket.create_connection(("127.0.0.1", lb.port)))
            wait_for(lambda: fds() > before, what="the connection accepted")
        lb.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload failed" in lb.output(), what="the reload refused")
        for s in held:
            s.close()
        held = []
        assert get(lb.port)[0] == 200
        assert "generation 2 running" not in lb.output()
    finally:
        for s in held:
            s.close()
        lb.close()
        be.stop()
