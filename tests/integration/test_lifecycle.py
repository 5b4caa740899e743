"""Process lifecycle: config checking, graceful shutdown, several workers."""
import os
import signal
import subprocess
import tempfile
import threading

from harness import BINARY, Client, get, proxy, wait_for

BAD_CONFIGS = [
    ("[global]\nworkerz = 1\n", 2, "unknown key 'workerz' in [global]"),
    ("[frontend a]\nlisten = 127.0.0.1:1\nbackend = b\n[backend b]\nbalance = magic\n", 5,
     "balance: unknown algorithm 'magic'"),
    ("[frontend a]\nlisten = 127.0.0.1:1\nbackend = nope\n[backend b]\nserver = x 127.0.0.1:2\n", 3,
     "unknown backend 'nope'"),
    ("[frontend a]\nlisten = 300.0.0.1:1\n", 2, "listen: invalid address"),
    ("[frontend a]\ntimeout_client = 5d\n", 2, "timeout_client: invalid duration '5d'"),
    ("[sideways]\nx = 1\n", 1, "unknown section [sideways]"),
    ("[frontend a]\nlisten = 127.0.0.1:1\nbackend = b\n[defaults]\n[backend b]\nserver = x 127.0.0.1:2\n", 4,
     "unknown section [defaults]"),
    ("[backend b]\nserver = x 127.0.0.1:2 weight=-1\n", 2, "server weight"),
    ("[backend b]\nserver = x\n", 2, "server: expected"),
    ("[frontend a]\ntimeout_client = 0\n", 2, "timeout_client: 0 is not 'no timeout' here"),
    ("[backend b]\ntimeout_server = 0s\n", 2, "timeout_server: 0 is not 'no timeout' here"),
    ("[backend b]\ntimeout_connect = 50ms\n", 2, "timeout_connect: expected a duration of at least 100ms"),
    ("[frontend a]\ntimeout_tunnel = 0\n", 2, "timeout_tunnel: 0 is not"),
    ("[global]\nlog_level = loud\n", 2, "log_level: expected error, warning, info or debug, got 'loud'"),
]


def check(text):
    fd, path = tempfile.mkstemp(suffix=".ini")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    try:
        p = subprocess.run([BINARY, "-t", "-c", path], capture_output=True, text=True, timeout=10)
        return p.returncode, p.stdout + p.stderr, path
    finally:
        os.unlink(path)


def test_bad_configs_are_refused_with_file_line_key():
    for text, line, message in BAD_CONFIGS:
        rc, out, path = check(text)
        assert rc != 0, text
        assert "%s:%d: " % (path, line) in out and message in out, (text, out)


def test_check_warns_about_setups_that_can_never_serve():
    servers = "".join("server = s%d 127.0.0.1:%d\n" % (i, 9000 + i) for i in range(8))
    text = ("[frontend a]\nlisten = 127.0.0.1:1\nbackend = b\n[backend b]\nbalance = consistent_hash\n"
            "maglev_table_size = 7\n" + servers +
            "[frontend c]\nlisten = 127.0.0.1:2\nbackend = d\n[backend d]\n"
            "server = x 127.0.0.1:3 weight=0\nserver = y 127.0.0.1:4 disabled\n")
    rc, out, _ = check(text)
    assert rc == 0, out
    assert "warning: backend b: maglev_table_size = 7 is below its 8 servers" in out, out
    assert "warning: backend d: every server has weight 0 or is disabled" in out, out
    assert "configuration OK, with 2 warning(s)" in out, out


def test_demo_config_checks_ok():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = subprocess.run([BINARY, "-t", "-c", os.path.join(root, "configs", "demo.ini")],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0 and "configuration OK" in p.stdout


def run_cli(*args):
    p = subprocess.run([BINARY] + list(args), capture_output=True, text=True, timeout=10)
    return p.returncode, p.stdout, p.stderr


def test_help_and_version_on_the_command_line():
    for flag in ("--help", "-h"):
        rc, out, err = run_cli(flag)
        assert rc == 0 and "usage: ringlb -c FILE" in out and "--version" in out, (flag, out, err)
    for flag in ("--version", "-v", "-V"):
        rc, out, err = run_cli(flag)
        assert rc == 0 and out.startswith("ringlb 0.") and "git " in out, (flag, out, err)
    rc, out, err = run_cli("--nonsense")
    assert rc == 2 and "unrecognized option '--nonsense'" in err and "usage:" in err, err


def test_a_directory_an_empty_file_and_a_missing_file_each_say_what_they_are():
    with tempfile.TemporaryDirectory() as d:
        rc, out, err = run_cli("-t", "-c", d)
        assert rc == 1 and "%s: is a directory, not a config file" % d in err, err
        empty = os.path.join(d, "empty.ini")
        open(empty, "w").close()
        rc, out, err = run_cli("-t", "-c", empty)
        assert rc == 1 and "%s: empty: a config needs a [frontend NAME] and a [backend NAME]" % empty in err, err
        missing = os.path.join(d, "missing.ini")
        rc, out, err = run_cli("-t", "-c", missing)
        assert rc == 1 and "%s: cannot read: No such file or directory" % missing in err, err


def _start_with_fd_limit(soft, hard, max_connections):
    """ringlb under an RLIMIT_NOFILE of (soft, hard): its log once it runs, and its soft limit then."""
    import resource
    from harness import free_port, stop_process
    port = free_port()
    fd, path = tempfile.mkstemp(suffix=".ini")
    with os.fdopen(fd, "w") as f:
        f.write("[global]\nmax_connections = %d\n[frontend a]\nlisten = 127.0.0.1:%d\nbackend = b\n"
                "[backend b]\nserver = s 127.0.0.1:9\n" % (max_connections, port))
    log = tempfile.TemporaryFile()
    p = subprocess.Popen([BINARY, "-c", path], stdout=log, stderr=log,
                         preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)))

    def output():
        log.seek(0)
        return log.read().decode(errors="replace")
    try:
        wait_for(lambda: "worker(s) running" in output() or p.poll() is not None, what="ringlb to run")
        with open("/proc/%d/limits" % p.pid) as f:
            limit = [l for l in f if l.startswith("Max open files")][0].split()[3]
        return output(), int(limit)
    finally:
        stop_process(p, "ringlb")
        os.unlink(path)


def test_the_fd_limit_is_raised_to_what_max_connections_needs():
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    conns = 5000 if hard == resource.RLIM_INFINITY else min(5000, (hard - 1000) // 2)
    assert conns > 200, "the hard limit (%d) is too low for this test" % hard
    out, soft = _start_with_fd_limit(256, hard, conns)
    assert soft >= 2 * conns and "warning" not in out, (soft, out)
    assert "file descriptors: limit raised to %d (max_connections = %d needs up to" % (soft, conns) in out, out
    # a hard limit too low: raised to it, and a warning that says what to do
    out, soft = _start_with_fd_limit(256, 2048, 5000)
    assert soft == 2048, (soft, out)
    assert "warning: the hard limit on file descriptors (2048) is below" in out and "LimitNOFILE=" in out, out


def test_hup_usr1_usr2_are_not_fatal():
    # A packaged ExecReload=kill -HUP must not be a crash (exit 129 with a
    # request cut off): ringlb reloads (test_reload) and keeps serving.
    with proxy(1) as (lb, _):
        for sig, said in ((signal.SIGHUP, "generation 1: its last worker exited"),
                          (signal.SIGUSR1, "(SIGUSR1): ignored"), (signal.SIGUSR2, "(SIGUSR2): ignored")):
            lb.proc.send_signal(sig)
            wait_for(lambda: said in lb.output(), what=said)
            assert lb.proc.poll() is None, lb.output()
            assert get(lb.port)[0] == 200


def test_sigterm_drains_in_flight_requests():
    with proxy(1) as (lb, _):
        idle = Client(lb.port)
        result = {}
        t = threading.Thread(target=lambda: result.setdefault("r", get(lb.port, "/slow?ms=700")))
        t.start()
        wait_for(lambda: _has_active_request(lb), what="the slow request to reach the proxy")
        lb.proc.send_signal(signal.SIGTERM)
        assert idle.closed(), "idle keep-alive connection not closed on drain"
        t.join(10)
        status, h, body = result["r"]
        assert status == 200 and body.startswith(b"slow") and h["connection"] == "close"
        assert lb.proc.wait(10) == 0


def _has_active_request(lb):
    # The slow request is in flight once the proxy holds an upstream connection.
    out = subprocess.run(["ss", "-tnp"], capture_output=True, text=True).stdout
    return any("pid=%d," % lb.proc.pid in line and ":%d " % lb.port not in line
               for line in out.splitlines() if "ESTAB" in line)


def test_several_workers_share_the_load():
    with proxy(2, workers=2) as (lb, _):
        clients = [Client(lb.port) for _ in range(8)]
        for c in clients:
            for _ in range(5):
                c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                assert c.response()[0] == 200
        assert lb.output().count("2 worker(s) running") == 1
