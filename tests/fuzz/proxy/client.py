"""One fuzz client: sends a stream of requests on one connection to the proxy
and reads back every response, exactly as the bytes arrive.

A sender thread writes (all at once for a pipelined stream; one request after
another, each after the previous response, for a sequential one) while the
calling thread reads, so a large upload never deadlocks against a response.
The result is a Transcript; judging it is check.py's job.
"""
import re
import socket
import threading
import time
from dataclasses import dataclass, field

from gen import write_plan

HANG_SECONDS = 5.0        # no byte moved this long while a response is due: the proxy hangs
CONTINUE_WAIT = 1.0       # how long a client waits for 100 Continue before sending its body anyway
EXTRA_POLL = 0.02         # after the last response: a short look for bytes that should not be there
CLIENT_CAP = 40.0         # absolute bound on one client
STATUS_LINE = re.compile(rb"^HTTP/1\.1 ([0-9]{3})(?: [\t\x20-\x7e\x80-\xff]*)?$")


class Eof(Exception):
    pass


class Hang(Exception):
    pass


class Malformed(Exception):
    pass


class NothingDue(Exception):
    """Every request written so far is answered and no more will be written."""


@dataclass
class Resp:
    idx: int                  # index of the request it answers (by its echo; else the next due)
    status: int
    head: bytes
    headers: list             # (lowercase name, value)
    echo: str
    body: bytes = b""
    complete: bool = True     # framing complete (False: cut short by the connection's end)
    framing: str = "none"     # none | length | chunked | eof
    interim: list = field(default_factory=list)  # (status, echo) of the 1xx before it
    t_done: float = 0.0

    def header(self, name):
        vals = [v for n, v in self.headers if n == name]
        return vals[-1] if vals else None

    @property
    def conn_close(self):
        v = self.header(b"connection")
        return v is not None and b"close" in [t.strip().lower() for t in v.split(b",")]


@dataclass
class Transcript:
    stream: object
    responses: list = field(default_factory=list)
    end: str = ""             # done | eof | hang | not_closed | malformed | cap | connect_failed
    why: str = ""
    extra: bytes = b""        # bytes after the last complete response
    raw: bytes = b""          # all bytes received
    sent: int = 0             # requests of which at least one byte was written
    t_end_resp: float = 0.0   # when the response that ends the connection was complete
    t_closed: float = 0.0
    partial_head: bytes = b""  # a response head cut short by the connection's end
    notes: list = field(default_factory=list)


class Client:
    def __init__(self, port, stream, linger):
        self.port, self.stream, self.linger = port, stream, linger
        self.reqs = stream.reqs
        self.t = Transcript(stream)
        self.buf = bytearray()
        self.raw = bytearray()
        self.cur = 0                  # next request whose final response is due
        self.cond = threading.Condition()
        self.interim_for = set()      # request indices that got a 1xx
        self.final_for = set()        # request indices that got a final response
        self.ended = False            # no more responses will come (end of connection or give-up)
        self.last_activity = time.monotonic()
        self.sent_bytes = 0
        self.sender_done = False
        self.start = time.monotonic()

    # ------------------------------------------------------------ sending

    def _send(self, data, part):
        for piece, pause in write_plan(self.stream, data, part):
            if self.ended:
                return False
            if pause:
                time.sleep(pause)  # a gap between writes is part of the input: separate TCP segments
            try:
                self.sock.sendall(piece)
            except OSError:
                return False
            self.sent_bytes += len(piece)
            self.last_activity = time.monotonic()
        return True

    def _wait(self, pred, timeout):
        with self.cond:
            return self.cond.wait_for(lambda: pred() or self.ended, timeout)

    def _sender(self):
        try:
            if self.stream.mode == "pipe":
                self._send(b"".join(r.raw for r in self.reqs), 0)
                start = 0
                for r in self.reqs:  # requests of which at least a byte was written
                    if start < self.sent_bytes:
                        self.t.sent += 1
                    start += len(r.raw)
                return
            for i, r in enumerate(self.reqs):
                self.t.sent = i + 1
                if r.expect and r.body_at < len(r.raw):
                    if not self._send(r.raw[:r.body_at], 2 * i):
                        return
                    self._wait(lambda: i in self.interim_for or i in self.final_for, CONTINUE_WAIT)
                    if i in self.final_for or self.ended:
                        return  # answered before the body: it is not sent (nor anything after)
                    if not self._send(r.raw[r.body_at:], 2 * i + 1):
                        return
                elif not self._send(r.raw, 2 * i):
                    return
                self._wait(lambda: i in self.final_for, CLIENT_CAP)
                if self.ended or self.cur <= i:
                    return
        finally:
            self.sender_done = True

    # ------------------------------------------------------------ reading

    def _fill(self):
        """Reads more bytes; Eof at the end of the connection, Hang when
        nothing moved in either direction for HANG_SECONDS."""
        while True:
            if not self.buf and self._all_answered():
                raise NothingDue()
            if time.monotonic() - self.start > CLIENT_CAP:
                raise Hang("client cap")
            idle = time.monotonic() - self.last_activity
            if idle > HANG_SECONDS:
                raise Hang("nothing for %.1fs" % idle)
            self.sock.settimeout(min(0.25, HANG_SECONDS - idle + 0.01))
            try:
                d = self.sock.recv(262144)
            except socket.timeout:
                continue
            except OSError:
                d = b""
            if not d:
                raise Eof()
            self.buf += d
            self.raw += d
            self.last_activity = time.monotonic()
            return

    def _take_line(self, limit=65536):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            if len(self.buf) > limit:
                raise Malformed("no line end in %d bytes" % len(self.buf))
            self._fill()

    def _take(self, n, out):
        """Appends exactly n bytes to out (what came, if the connection ends)."""
        while len(self.buf) < n:
            out += self.buf
            n -= len(self.buf)
            self.buf.clear()
            self._fill()
        out += self.buf[:n]
        del self.buf[:n]

    def _read_head(self):
        """One response head: (status, head bytes, headers)."""
        start = len(self.raw) - len(self.buf)
        try:
            line = self._take_line()
            m = STATUS_LINE.match(line)
            if not m:
                raise Malformed("bad status line %r" % line[:100])
            headers, lines = [], [line]
            while True:
                line = self._take_line()
                lines.append(line)
                if not line:
                    break
                name, sep, value = line.partition(b":")
                if not sep or not re.match(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$", name):
                    raise Malformed("bad header line %r" % line[:100])
                headers.append((name.lower(), value.strip(b" \t")))
            return int(m.group(1)), b"\r\n".join(lines) + b"\r\n", headers
        except Eof:
            self.t.partial_head = bytes(self.raw[start:])
            raise

    def _match(self, echo, headers):
        """(request index, method used for framing) for a response."""
        if echo is not None and echo != "anon":
            for k, r in enumerate(self.reqs):
                if r.rid == echo:
                    return k, r.method
        if echo == "anon":
            k = next((k for k, r in enumerate(self.reqs) if r.kind == "corpus"), self.cur)
            method = next((v for n, v in headers if n == b"x-fuzz-method"), b"")
            return k, method
        k = min(self.cur, len(self.reqs) - 1)
        return k, self.reqs[k].method if self.reqs else b""

    def _read_response(self):
        interim = []
        while True:
            status, head, headers = self._read_head()
            echo_v = [v for n, v in headers if n == b"x-fuzz-echo"]
            echo = echo_v[-1].decode("latin-1") if echo_v else None
            if 100 <= status < 200:
                interim.append((status, echo))
                k, _ = self._match(echo, headers)
                with self.cond:
                    self.interim_for.add(k)
                    self.cond.notify_all()
                continue
            break
        idx, method = self._match(echo, headers)
        r = Resp(idx, status, head, headers, echo, interim=interim)
        te = r.header(b"transfer-encoding")
        cl = r.header(b"content-length")
        if echo is None and cl is not None:
            r.framing = "length"  # our own error answers always have a Content-Length
        elif method == b"HEAD" or status in (204, 304):
            r.framing = "none"
        elif te is not None and te.split(b",")[-1].strip().lower() == b"chunked":
            r.framing = "chunked"
        elif cl is not None:
            r.framing = "length"
        else:
            r.framing = "eof"
        body = bytearray()
        try:
            if r.framing == "length":
                if not re.match(rb"^[0-9]{1,15}$", cl):
                    raise Malformed("bad Content-Length %r" % cl)
                self._take(int(cl), body)
            elif r.framing == "chunked":
                self._read_chunked(body)
            elif r.framing == "eof":
                while True:
                    body += self.buf
                    self.buf.clear()
                    self._fill()
        except Eof:
            if r.framing == "eof":
                body += self.buf  # the end of the connection is the end of this body
            else:
                r.complete = False
            self.buf.clear()
            r.body = bytes(body)
            r.t_done = time.monotonic()
            self.t.responses.append(r)
            raise
        r.body = bytes(body)
        r.t_done = time.monotonic()
        self.t.responses.append(r)
        return r

    def _read_chunked(self, body):
        while True:
            line = self._take_line(8192)
            size = line.split(b";")[0]
            if not re.match(rb"^[0-9A-Fa-f]{1,16}$", size):
                raise Malformed("bad chunk size line %r" % line[:80])
            n = int(size, 16)
            if n == 0:
                while self._take_line(8192):
                    pass
                return
            self._take(n, body)
            crlf = bytearray()
            self._take(2, crlf)
            if crlf != b"\r\n":
                raise Malformed("no CRLF after chunk data")

    def _ends_connection(self, r):
        return r.echo is None or r.conn_close or r.framing == "eof" or not r.complete

    def _await_close(self):
        """After a response that ends the connection: the proxy must close
        within timeout_linger plus a second; bytes before that are extra."""
        deadline = time.monotonic() + self.linger + 1.2
        self.sock.settimeout(0.05)
        while time.monotonic() < deadline:
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                d = b""
            if not d:
                self.t.t_closed = time.monotonic()
                return True
            self.t.extra += d
            self.raw += d
        return False

    def _finish(self, end, why=""):
        with self.cond:
            self.ended = True
            self.cond.notify_all()
        self.t.end, self.t.why = end, why

    def run(self):
        try:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except OSError as e:
            self.t.end, self.t.why = "connect_failed", str(e)
            return self.t
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sender = threading.Thread(target=self._sender, daemon=True)
        sender.start()
        try:
            self._loop()
        finally:
            with self.cond:
                self.ended = True
                self.cond.notify_all()
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sender.join(10)
            self.sock.close()
            self.t.raw = bytes(self.raw)
        return self.t

    def _all_answered(self):
        return self.cur >= len(self.reqs) or (self.sender_done and self.cur >= self.t.sent)

    def _loop(self):
        while True:
            if self._all_answered():
                return self._done()
            try:
                r = self._read_response()
            except NothingDue:
                return self._done()
            except Eof:
                self.t.t_closed = time.monotonic()
                return self._finish("eof")
            except Hang as e:
                return self._finish("hang", str(e))
            except Malformed as e:
                return self._finish("malformed", str(e))
            with self.cond:
                self.final_for.add(r.idx)
                if not (self.reqs[r.idx].kind == "corpus" and r.echo == "anon"):
                    self.cur = max(self.cur, r.idx + 1) if r.echo is not None else self.cur + 1
                self.cond.notify_all()
            if self._ends_connection(r):
                self.t.t_end_resp = r.t_done
                self.t.extra += bytes(self.buf)
                self.buf.clear()
                closed = self._await_close()
                return self._finish("eof" if closed else "not_closed")

    def _done(self):
        """Everything answered: a short look for bytes that should not come."""
        self.t.extra += bytes(self.buf)
        self.buf.clear()
        self.sock.settimeout(EXTRA_POLL)
        try:
            d = self.sock.recv(65536)
            if d:
                self.t.extra += d
                self.raw += d
            else:
                self.t.t_closed = time.monotonic()
        except OSError:
            pass
        return self._finish("done")
