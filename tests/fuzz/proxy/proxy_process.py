"""The ringlb under test: started with a generated config in front of the
recording backends, watched (alive, sanitizer output, open fds, RSS) and
stopped with SIGTERM."""
import os
import signal
import socket
import subprocess
import tempfile
import time

TIMEOUT_CLIENT = 2.0
TIMEOUT_SERVER = 1.0
TIMEOUT_LINGER = 0.3
POOL_IDLE = 1.0
RETRIES = 2

CONFIG = """\
[global]
workers = 1
drain_timeout = 5s

[frontend main]
listen = 127.0.0.1:{port}
backend = app
timeout_client = {tc}ms
timeout_linger = {tl}ms

[backend app]
balance = round_robin
timeout_connect = 1s
timeout_server = {ts}ms
retries = {retries}
pool_idle_timeout = {pi}ms
{servers}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_sanitized(binary):
    """An ASan build inflates RSS: its memory bound is not checked."""
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


class Proxy:
    def __init__(self, binary, backend_ports):
        self.binary = binary
        self.port = free_port()
        servers = "\n".join("server = s%d 127.0.0.1:%d" % (i + 1, p) for i, p in enumerate(backend_ports))
        fd, self.config = tempfile.mkstemp(prefix="fuzz-proxy-", suffix=".ini")
        with os.fdopen(fd, "w") as f:
            f.write(CONFIG.format(port=self.port, tc=int(TIMEOUT_CLIENT * 1000), tl=int(TIMEOUT_LINGER * 1000),
                                  ts=int(TIMEOUT_SERVER * 1000), pi=int(POOL_IDLE * 1000), servers=servers,
                                  retries=RETRIES))
        self.log = tempfile.TemporaryFile()
        self.log_pos = 0
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        self.proc = subprocess.Popen([binary, "-c", self.config], stdout=self.log, stderr=self.log, env=env)
        self.sanitized = is_sanitized(binary)
        deadline = time.monotonic() + 10
        while not self._listening():
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("ringlb did not start listening:\n" + self.output()[-2000:])
            time.sleep(0.01)
        self.fd_baseline = self.settled_fds(2.0)

    def _listening(self):
        if self.proc.poll() is not None:
            raise RuntimeError("ringlb exited at start (%d):\n%s" % (self.proc.returncode, self.output()[-2000:]))
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def new_output(self):
        """What ringlb wrote to stderr since the last call."""
        self.log.seek(self.log_pos)
        data = self.log.read()
        self.log_pos += len(data)
        return data.decode(errors="replace")

    def alive(self):
        return self.proc.poll() is None

    def fds(self):
        """Open descriptors other than pipes, which a worker keeps as spares
        for its next splice (up to SPARE_PIPE_FDS; pipe_fds checks them)."""
        n = 0
        try:
            for name in os.listdir("/proc/%d/fd" % self.proc.pid):
                try:
                    n += not os.readlink("/proc/%d/fd/%s" % (self.proc.pid, name)).startswith("pipe:")
                except OSError:
                    pass
        except OSError:
            return -1
        return n

    def pipe_fds(self):
        try:
            return sum(os.readlink("/proc/%d/fd/%s" % (self.proc.pid, name)).startswith("pipe:")
                       for name in os.listdir("/proc/%d/fd" % self.proc.pid))
        except OSError:
            return -1

    def settled_fds(self, seconds):
        """The fd count once it stops changing (or after seconds)."""
        deadline = time.monotonic() + seconds
        last, since = self.fds(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            n = self.fds()
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= 0.2:
                break
        return last

    def wait_fds_at_most(self, limit, seconds):
        """True once the fd count is at most limit; pooled connections expire
        after pool_idle_timeout and lingering ones after timeout_linger."""
        deadline = time.monotonic() + seconds
        while True:
            n = self.fds()
            if 0 <= n <= limit:
                return True, n
            if time.monotonic() > deadline:
                return False, n
            time.sleep(0.05)

    def rss_kib(self):
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def stop(self, timeout=15):
        """SIGTERM; returns (exit status or None if it had to be killed, output)."""
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                rc = None
        try:
            os.unlink(self.config)
        except OSError:
            pass
        return rc, self.output()
