"""DNS names: `server` and `listen` take HOST:PORT (resolved at load);
`servers = PREFIX HOST:PORT resolve_every=D max=N` follows the name's
records while ringlb runs, each address keeping its slot. A tiny DNS server
(tests/dns_server.py) on 127.0.0.1 answers, and the test changes it."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from harness import ROOT, Ringlb, free_port, get, stop_process, testserver, tool_path, wait_for
from test_lifecycle import check

sys.path.insert(0, os.path.join(ROOT, "tests"))
from dns_server import DnsServer  # noqa: E402


@contextlib.contextmanager
def running(records, octets, make_conf):
    """The tests' DNS server with records, a ringlb-testserver t<N> on
    127.0.0.<N> for each N of octets (one port for all), and ringlb on
    make_conf(dns_port, port): yields (dns, port, ringlb); stops them all."""
    dns = DnsServer(records)
    port = free_port()
    servers = {}
    lb = None
    try:
        for i in octets:
            servers[i] = testserver("t%d" % i, port, host="127.0.0.%d" % i)
        lb = Ringlb(make_conf(dns.port, port))
        yield dns, port, lb
    finally:
        if lb is not None:
            lb.close()
        for p in servers.values():
            stop_process(p, "ringlb-testserver")
        dns.stop()


def who(port, n, key=None):
    """The X-Server of n requests (with X-Key: key if given)."""
    out = []
    for _ in range(n):
        status, h, _ = get(port, headers="X-Key: %s\r\n" % key if key else "")
        assert status == 200, status
        out.append(h["x-server"])
    return out


def slots(admin):
    with urllib.request.urlopen("http://127.0.0.1:%d/backends" % admin, timeout=5) as r:
        return {s["name"]: (s["state"], s["address"]) for s in json.load(r)["backends"][0]["servers"]}


def group_conf(dns_port, port, balance="round_robin", extra=""):
    return ("[global]\nresolvers = 127.0.0.1:%d\n\n[frontend main]\nlisten = localhost:@PORT@\nbackend = app\n\n"
            "[backend app]\nbalance = %s\n%sservers = app app.test:%d resolve_every=1s max=4\n" %
            (dns_port, balance, extra, port))


def test_names_in_server_and_listen_resolve_at_load_and_a_name_that_does_not_is_an_error():
    def conf(dns_port, port):
        return ("[global]\nresolvers = 127.0.0.1:%d\n[frontend main]\nlisten = localhost:@PORT@\nbackend = app\n"
                "[backend app]\nserver = s1 known.test:%d\n" % (dns_port, port))
    with running({"known.test": ["127.0.0.1"]}, [1], conf) as (dns, port, lb):
        assert who(lb.port, 2) == ["t1", "t1"]
        rc, out, path = check("[global]\nresolvers = 127.0.0.1:%d\n[frontend main]\nlisten = 127.0.0.1:1\n"
                              "backend = app\n[backend app]\nserver = s1 missing.test:80\n" % dns.port)
        assert rc != 0 and "%s:7: server: cannot resolve 'missing.test': " % path in out, out
        rc, out, path = check("[global]\nresolvers = 127.0.0.1:%d, nonsense\n" % dns.port)
        assert rc != 0 and "resolvers: invalid address 'nonsense'" in out, out


def test_servers_follow_the_records_without_a_failed_request():
    admin = free_port()
    load = None
    fd, out = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        with running({"app.test": ["127.0.0.2", "127.0.0.3"]}, [2, 3, 4],
                     lambda d, p: group_conf(d, p).replace("[global]\n", "[global]\nadmin = %d\n" % admin)) \
                as (dns, port, lb):
            assert sorted(set(who(lb.port, 8))) == ["t2", "t3"]
            load = subprocess.Popen([tool_path("ringlb-load"), "--rate", "200", "--duration", "4s", "--timeout", "3s",
                                     "--server-header", "X-Server", "--json", out, "--quiet",
                                     "http://127.0.0.1:%d/" % lb.port], stdout=subprocess.DEVNULL)
            dns.records["app.test"] = ["127.0.0.3", "127.0.0.4"]
            wait_for(lambda: "-> 127.0.0.4:%d (DNS: app.test)" % port in lb.output(), timeout=5,
                     what="the new record")
            # At once: a pooled connection to .2 is not reused once its slot moved, even before the
            # worker hears of the change at the end of its loop turn (fresh-eyes review).
            assert sorted(set(who(lb.port, 8))) == ["t3", "t4"]
            dns.records["app.test"] = ["127.0.0.3"]
            wait_for(lambda: sorted(set(who(lb.port, 4))) == ["t3"], timeout=5, what="the record removed")
            states = slots(admin)
            assert sorted(states.values())[-1] == ("up", "127.0.0.3:%d" % port), states
            assert [s for s, _ in states.values()].count("unresolved") == 3, states
            # A reload keeps each address in its slot.
            lb.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "generation 1: its last worker exited" in lb.output(), what="the reload")
            assert slots(admin) == states
            load.wait(30)
        with open(out) as f:
            doc = json.load(f)
        assert doc["errors_total"] == 0 and doc["requests"] >= 600, doc
        assert "t4" in doc["servers"], doc["servers"]
    finally:
        os.unlink(out)
        if load is not None and load.poll() is None:
            load.kill()


def test_consistent_hash_moves_only_the_keys_of_the_address_that_changed_and_a_silent_dns_changes_nothing():
    def conf(dns_port, port):
        return group_conf(dns_port, port, balance="consistent_hash", extra="hash_key = header:X-Key\n")
    with running({"app.test": ["127.0.0.2", "127.0.0.3", "127.0.0.4"]}, [2, 3, 4, 5], conf) as (dns, port, lb):
        keys = ["user%d" % i for i in range(60)]
        before = {k: who(lb.port, 1, k)[0] for k in keys}
        assert set(before.values()) == {"t2", "t3", "t4"}, before
        dns.records["app.test"] = ["127.0.0.2", "127.0.0.3", "127.0.0.5"]  # .4 goes, .5 comes
        wait_for(lambda: "-> 127.0.0.5:%d" % port in lb.output(), timeout=5, what="the new record")
        wait_for(lambda: "t4" not in {who(lb.port, 1, k)[0] for k in keys if before[k] == "t4"}, timeout=5,
                 what="the workers to see it")
        after = {k: who(lb.port, 1, k)[0] for k in keys}
        # Only keys of the servers that changed move: those t4 had, and those t5 takes.
        for k in keys:
            assert before[k] == "t4" or after[k] == "t5" or after[k] == before[k], (k, before[k], after[k])
        assert "t5" in after.values()
        # The DNS server stops answering: the addresses stay, said once; a reload meanwhile too.
        dns.silent = True
        wait_for(lambda: "cannot resolve 'app.test'" in lb.output(), timeout=10, what="the failed answer")
        assert {k: who(lb.port, 1, k)[0] for k in keys} == after
        assert lb.output().count("cannot resolve 'app.test'") == 1
        lb.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "generation 1: its last worker exited" in lb.output(), timeout=15, what="the reload")
        assert {k: who(lb.port, 1, k)[0] for k in keys} == after
        dns.silent = False
        wait_for(lambda: "'app.test' resolves again (3 address(es))" in lb.output(), timeout=10, what="answers again")


def test_a_new_address_of_a_checked_group_waits_for_a_passing_check():
    """A dead address that (re)appears in DNS took traffic at once, before
    any check (fresh-eyes review): with retries = 0, half the requests 503."""
    admin = free_port()
    checks = "retries = 0\neject_after = 0\nhealth_check = /healthz\nhealth_interval = 1s\n"

    def conf(dns_port, port):
        return group_conf(dns_port, port, extra=checks).replace("[global]\n", "[global]\nadmin = %d\n" % admin)
    with running({"app.test": ["127.0.0.2"]}, [2], conf) as (dns, port, lb):  # nothing listens on 127.0.0.3
        dns.records["app.test"] = ["127.0.0.2", "127.0.0.3"]
        wait_for(lambda: "-> 127.0.0.3:%d (DNS: app.test)" % port in lb.output(), timeout=5, what="the new record")
        assert who(lb.port, 20) == ["t2"] * 20
        assert ("down", "127.0.0.3:%d" % port) in slots(admin).values()


def test_names_at_load_are_asked_together_so_a_silent_dns_costs_one_wait():
    """Each name waited for its own timeout, one after the other: 5 groups
    and a silent DNS server held a reload (and a SIGTERM) for 15 s."""
    dns = DnsServer()
    dns.silent = True
    try:
        groups = "".join("servers = g%d g%d.test:80 max=2\n" % (i, i) for i in range(4))
        t0 = time.monotonic()
        rc, out, _ = check("[global]\nresolvers = 127.0.0.1:%d\n[frontend main]\nlisten = 127.0.0.1:1\n"
                           "backend = app\n[backend app]\n%s" % (dns.port, groups))
        took = time.monotonic() - t0
        assert rc == 0 and out.count("cannot resolve") == 4, out
        assert took < 8, took  # one c-ares timeout (about 3 s) for all four, not four of them
    finally:
        dns.stop()


def test_a_name_not_found_for_hold_nx_empties_its_servers_and_comes_back():
    """NXDOMAIN kept the last addresses forever: a service scaled to zero
    kept getting traffic (fresh-eyes review). HAProxy's hold nx."""
    def conf(dns_port, port):
        return group_conf(dns_port, port).replace("max=4", "max=4 hold_nx=1s")
    with running({"app.test": ["127.0.0.2"]}, [2], conf) as (dns, port, lb):
        assert who(lb.port, 2) == ["t2", "t2"]
        del dns.records["app.test"]
        wait_for(lambda: "keeping the addresses it had for hold_nx" in lb.output(), timeout=5, what="kept at first")
        wait_for(lambda: "not found for 1000 ms (hold_nx): its servers empty" in lb.output(), timeout=5,
                 what="hold_nx to run out")
        wait_for(lambda: get(lb.port)[0] == 503, timeout=5, what="no server left")
        dns.records["app.test"] = ["127.0.0.2"]
        wait_for(lambda: "'app.test' resolves again (1 address(es))" in lb.output(), timeout=5, what="the name back")
        wait_for(lambda: get(lb.port)[0] == 200, timeout=5, what="traffic again")
