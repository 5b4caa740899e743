"""One fuzz environment (recording backends + ringlb) and one iteration in
it: run the clients of the iteration concurrently, wait until the servers
are quiet, then check every invariant. Used by the driver and the minimiser."""
import threading

import check
import client
import proxy_process
import recorder
from check import Failure

SERVER_QUIET_SECONDS = 8.0     # after the clients: the servers must be idle by then
SPARE_PIPE_FDS = 2 * 32  # RLB_SPARE_PIPES (src/core/loop.h) of the fuzzed ringlb's one worker
MEMORY_SETTLE_SECONDS = 6.0    # pool_idle_timeout + timeout_linger + slack
RSS_SLACK_KIB = 64 * 1024


class Env:
    def __init__(self, binary):
        self.backends = recorder.Backends(2)
        try:
            self.proxy = proxy_process.Proxy(binary, [b.port for b in self.backends.servers])
        except Exception:
            self.backends.stop()
            raise
        self.registry = check.Registry()
        self.mark = 0
        self.rss_base = None

    def close(self):
        """Stops ringlb and the backends; returns failures of the exit."""
        fails = []
        rc, out = self.proxy.stop()
        self.backends.stop()
        if rc is None:
            fails.append(Failure("unclean-exit", -1, "ringlb did not exit within 15 s of SIGTERM", out[-2000:]))
        elif rc != 0:
            fails.append(Failure("unclean-exit", -1, "ringlb exited with %d after SIGTERM" % rc, tail(out)))
        if "Sanitizer" in out or "runtime error" in out:
            if not any(f.invariant == "sanitizer" for f in fails):
                fails.append(Failure("sanitizer", -1, "sanitizer report at exit", sanitizer_excerpt(out)))
        return fails

    def memory_check(self):
        """Invariant 6: fds back to the start value once pooled and lingering
        connections expired; RSS within a generous bound (release build)."""
        fails = []
        ok, n = self.proxy.wait_fds_at_most(self.proxy.fd_baseline, MEMORY_SETTLE_SECONDS)
        if not ok:
            fails.append(Failure("fd-leak", -1, "ringlb holds %d fds, %d at start, %gs after the clients left"
                                 % (n, self.proxy.fd_baseline, MEMORY_SETTLE_SECONDS)))
        pipes = self.proxy.pipe_fds()
        if pipes > SPARE_PIPE_FDS:
            fails.append(Failure("fd-leak", -1, "ringlb holds %d pipe fds with no transfer under way (its one "
                                 "worker keeps at most %d as spares)" % (pipes, SPARE_PIPE_FDS)))
        if not self.proxy.sanitized:
            rss = self.proxy.rss_kib()
            if self.rss_base is None:
                self.rss_base = rss
            elif rss > max(2 * self.rss_base, self.rss_base + RSS_SLACK_KIB):
                fails.append(Failure("rss-growth", -1, "VmRSS %d KiB, %d KiB after warm-up" % (rss, self.rss_base)))
        return fails

    def memory_figures(self):
        return "%d fds (%d at start), VmRSS %d KiB%s" % (
            self.proxy.fds(), self.proxy.fd_baseline, self.proxy.rss_kib(),
            " (ASan build: not bounded)" if self.proxy.sanitized else " (%s KiB after warm-up)" % self.rss_base)


def tail(out, n=3000):
    return out[-n:]


def sanitizer_excerpt(out):
    i = max(out.find("Sanitizer"), 0)
    j = out.find("runtime error")
    if j >= 0 and (j < i or i == 0):
        i = j
    return out[max(0, i - 500):i + 3000]


def run_iteration(env, streams, it):
    """Runs the streams of iteration it; returns (failures, notes, transcripts)."""
    env.registry.add(streams, it)
    transcripts = [None] * len(streams)
    go = threading.Barrier(len(streams))

    def one(i, s):
        try:
            go.wait(5)
        except threading.BrokenBarrierError:
            pass
        transcripts[i] = client.Client(env.proxy.port, s, proxy_process.TIMEOUT_LINGER).run()

    threads = [threading.Thread(target=one, args=(i, s), daemon=True) for i, s in enumerate(streams)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(client.CLIENT_CAP + 20)
    fails, notes = [], []
    for i, t in enumerate(transcripts):
        if t is None:  # a client thread that did not come back: a bug here, reported as such
            fails.append(Failure("client-stuck", streams[i].client, "fuzz client did not finish"))
    quiet = env.backends.log.wait_idle(SERVER_QUIET_SECONDS)
    records, env.mark = env.backends.log.since(env.mark)
    views = {}
    for t in transcripts:
        if t is not None:
            views[(it, t.stream.client)] = check.check_client(t, it, fails, notes)
    check.check_servers(records, env.registry, views, any(s.corpus for s in streams), fails, notes)
    if not quiet:
        fails.append(Failure("server-connection-stuck", -1, "a server connection is still in the middle of a "
                             "request %gs after every client left" % SERVER_QUIET_SECONDS))
    out = env.proxy.new_output()
    if "Sanitizer" in out or "runtime error" in out:
        fails.append(Failure("sanitizer", -1, "sanitizer report", sanitizer_excerpt(out)))
    if not env.proxy.alive():
        rc = env.proxy.proc.poll()
        fails.append(Failure("proxy-died", -1, "ringlb exited with %s during the iteration" % rc,
                             tail(env.proxy.output(), 2000)))
    return fails, notes, transcripts


def run_once(binary, streams, it, memory=False):
    """A fresh environment for just these streams (replay, minimiser):
    returns the failures, including those of ringlb's exit."""
    env = Env(binary)
    try:
        fails, notes, _ = run_iteration(env, streams, it)
        if memory and env.proxy.alive():
            fails += env.memory_check()
    finally:
        fails_exit = env.close()
    return fails + fails_exit, notes
