"""Integration harness: real ringlb binary, real backends, real sockets, loopback only.

Every wait is a wait-for-condition with a deadline; nothing sleeps blindly.
"""
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import backend  # noqa: E402

BINARY = os.environ.get("RINGLB_BINARY", os.path.join(ROOT, "build", "ringlb"))
# ASan's redzones and quarantine of freed memory inflate RSS: memory bounds
# are checked on the release build only.
SANITIZED = os.sep + "asan" + os.sep in BINARY


def tool_path(name):
    """An experiment tool's binary (ringlb-load, ringlb-testserver): build/ or RINGLB_TOOLS_DIR."""
    return os.path.join(os.environ.get("RINGLB_TOOLS_DIR", os.path.join(ROOT, "build")), name)


def stop_process(proc, name):
    """SIGTERM, then up to 10 s for it to exit (killed and failed past that)."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("%s did not stop within 10 s of SIGTERM" % name)


def check_no_sanitizer_report(output):
    if "Sanitizer" in output or "runtime error" in output:
        raise AssertionError("sanitizer report:\n" + output[-4000:])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts(port, host="127.0.0.1", timeout=0.2):
    """Whether something accepts TCP connections on host:port now."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def testserver(name, port, *flags, host="127.0.0.1"):
    """A ringlb-testserver named name on host:port, once it accepts (stop it with stop_process)."""
    proc = subprocess.Popen([tool_path("ringlb-testserver"), "--listen", "%s:%d" % (host, port), "--name", name] +
                            list(flags), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: proc.poll() is None and accepts(port, host), what="ringlb-testserver %s" % name)
    except AssertionError:
        proc.kill()
        proc.wait()
        raise
    return proc


def wait_for(cond, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)


class Backends:
    """N test backends in this process, each on its own thread."""

    def __init__(self, n, idle_timeout=None):
        self.servers = []
        for i in range(n):
            srv = backend.serve("s%d" % (i + 1), free_port())
            srv.idle_timeout = idle_timeout
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            self.servers.append(srv)

    def port(self, i):
        return self.servers[i].server_address[1]

    def lines(self, weights=None):
        """server lines for config(): (name, port, options)."""
        return [("s%d" % (i + 1), self.port(i), " weight=%d" % weights[i] if weights else "")
                for i in range(len(self.servers))]

    def stop(self):
        for s in self.servers:
            s.shutdown()
            s.server_close()


class Ringlb:
    """The real binary with a generated config; stops itself at close()."""

    def __init__(self, config_text, port=None):
        self.port = port or free_port()  # (a test that picks several ports gives @PORT@'s itself)
        fd, self.config = tempfile.mkstemp(suffix=".ini")
        with os.fdopen(fd, "w") as f:
            f.write(config_text.replace("@PORT@", str(self.port)))
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([BINARY, "-c", self.config], stdout=self.log, stderr=self.log)
        wait_for(self.listening, what="ringlb to listen")

    def listening(self):
        if self.proc.poll() is not None:
            raise AssertionError("ringlb exited: " + self.output())
        return accepts(self.port)

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def rss_peak_kib(self):
        return self._status_kib("VmHWM:")

    def rss_kib(self):
        return self._status_kib("VmRSS:")

    def _status_kib(self, field):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
        return 0

    def close(self):
        """Stops ringlb; fails the test if it did not exit cleanly or a sanitizer spoke."""
        try:
            stop_process(self.proc, "ringlb")
        finally:
            os.unlink(self.config)
        out = self.output()
        check_no_sanitizer_report(out)
        if self.proc.returncode != 0:
            raise AssertionError("ringlb exited with %d:\n%s" % (self.proc.returncode, out[-2000:]))


def config(servers, balance="round_robin", backend_extra="", frontend_extra="", workers=1, global_extra=""):
    """A config with the tests' defaults; a key the extras set replaces its
    default (a key set twice is a config error)."""
    def defaults(extra, *lines):
        keys = {l.split("=")[0].strip() for l in extra.splitlines() if "=" in l}
        return [l for l in lines if l.split("=")[0].strip() not in keys] + [extra]
    lines = (["[global]"] + defaults(global_extra, "workers = %d" % workers, "drain_timeout = 5s") +
             ["", "[frontend main]", "listen = 127.0.0.1:@PORT@", "backend = app", frontend_extra, "",
              "[backend app]"] + defaults(backend_extra, "balance = " + balance, "timeout_connect = 1s"))
    lines += ["server = %s 127.0.0.1:%d%s" % s for s in servers]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def proxy(n_backends=3, weights=None, idle_timeout=None, extra_servers=(), **kw):
    """Backends plus a ringlb in front of them: yields (ringlb, backends)."""
    be = Backends(n_backends, idle_timeout=idle_timeout)
    lb = None
    try:
        lb = Ringlb(config(be.lines(weights) + list(extra_servers), **kw))
        yield lb, be
    finally:
        if lb:
            lb.close()
        be.stop()


class Client:
    """A raw HTTP/1.1 client that sees exactly the bytes on the wire."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def response(self, head_request=False):
        """Reads one response; returns (status, headers dict lowercased, body)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        if head_request or status in (204, 304) or 100 <= status < 200:
            return status, headers, b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return status, headers, self._chunked()
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n:
                self._fill()
            body, self.buf = self.buf[:n], self.buf[n:]
            return status, headers, body
        while True:
            try:
                self._fill()
            except EOFError:
                body, self.buf = self.buf, b""
                return status, headers, body

    def _chunked(self):
        out = b""
        while True:
            while b"\r\n" not in self.buf:
                self._fill()
            line, self.buf = self.buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            while len(self.buf) < size + 2:
                self._fill()
            out, self.buf = out + self.buf[:size], self.buf[size + 2:]
            if size == 0:
                return out

    def closed(self):
        """True once the peer has closed (reads until EOF, within the timeout)."""
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    return True
                self.buf += d
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def request(port, raw):
    """Sends raw request bytes on a new connection; returns the first response."""
    c = Client(port)
    c.send(raw)
    try:
        return c.response()
    finally:
        c.close()


def get(port, path="/", headers=""):
    return request(port, ("GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (path, headers)).encode())
