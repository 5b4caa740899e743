"""The recording backend: a strict HTTP/1.1 server (one thread per connection)
that logs every request the proxy forwards and answers as the request's
`X-Fuzz-Resp` variant says (see variants.py).

Its parser is strict where the proxy must be (framing) and exactly as lenient
as RFC 9112 allows elsewhere (BWS in chunk extensions, obs-text in values,
leading empty lines), so a record of "unparseable" means the proxy sent
something no correct server could frame: a desynchronised connection.
"""
import re
import select
import socket
import threading
import time
from dataclasses import dataclass, field

import variants

TCHAR = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
TARGET_ID = re.compile(rb"^/f/([isz]\d+c\d+r\d+)(?:[/?]|$)")
REQUEST_LINE = re.compile(rb"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP/1\.([01])$")
VALUE_BAD = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
MAX_HEAD = 65536
MID_REQUEST_TIMEOUT = 8.0   # a proxy holding a request half-sent this long is stuck
IDLE_TIMEOUT = 60.0         # far above pool_idle_timeout: the proxy closes first


class BadRequest(Exception):
    pass


class Closed(Exception):
    pass


@dataclass
class Record:
    """One request (or one unparseable byte run) as the backend received it."""
    server: str
    conn: int                 # connection serial number, per backend
    seq: int                  # index of the request on that connection
    status: str               # "complete", "incomplete" (connection closed mid-request), "unparseable"
    rid: str = None           # from the target /f/<id> (or X-Fuzz-Id), None if neither
    method: bytes = b""
    target: bytes = b""
    minor: int = -1
    head: bytes = b""         # raw head as received
    body: bytes = None        # decoded body; None when not read (early / noread answers)
    variant: str = ""
    answered: str = "none"    # "full", "partial", "none"
    why: str = ""             # parse error, for unparseable
    raw: bytes = b""          # the bytes that could not be parsed
    notes: list = field(default_factory=list)


class Reader:
    """Buffered reads from the proxy's connection with a deadline per wait."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.begin()

    def begin(self):
        """A new request starts: count and keep (the start of) what it consumes."""
        self.got = 0
        self.raw = bytearray()

    def _consumed(self, data):
        self.got += len(data)
        if len(self.raw) < 4096:
            self.raw += data[:4096 - len(self.raw)]

    def fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            d = self.sock.recv(262144)
        except socket.timeout:
            raise Closed("timeout")
        except OSError:
            raise Closed("reset")
        if not d:
            raise Closed("eof")
        self.buf += d

    def line(self, limit, timeout):
        """One line ending in CRLF (returned without it); a bare LF is refused."""
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                if i == 0 or self.buf[i - 1] != 0x0D:
                    raise BadRequest("bare LF")
                line = bytes(self.buf[:i - 1])
                self._consumed(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if len(self.buf) > limit:
                raise BadRequest("line too long")
            self.fill(timeout)

    def take(self, n, timeout):
        while len(self.buf) < n:
            self.fill(timeout)
        out = bytes(self.buf[:n])
        self._consumed(out)
        del self.buf[:n]
        return out


def parse_chunk_size_line(line):
    """chunk-size [ chunk-ext ] per RFC 9112 7.1 (BWS allowed around ; and =)."""
    m = re.match(rb"^([0-9A-Fa-f]+)(.*)$", line)
    if not m:
        raise BadRequest("bad chunk size %r" % line[:40])
    if len(m.group(1).lstrip(b"0")) > 16:
        raise BadRequest("chunk size overflow")
    ext = m.group(2)
    ext_re = re.compile(rb'^[ \t]*;[ \t]*[!#$%&\'*+\-.^_`|~0-9A-Za-z]+'
                        rb'(?:[ \t]*=[ \t]*(?:[!#$%&\'*+\-.^_`|~0-9A-Za-z]+|"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\t\x20-\x7e\x80-\xff])*"))?')
    while ext:
        e = ext_re.match(ext)
        if not e:
            raise BadRequest("bad chunk extension %r" % ext[:40])
        ext = ext[e.end():]
    return int(m.group(1), 16)


def read_request_head(r, rec, idle_timeout):
    """Reads and checks a request head; fills rec; returns the header list."""
    empty = 0
    while True:
        if not r.buf:
            r.fill(idle_timeout)
        line = r.line(MAX_HEAD, MID_REQUEST_TIMEOUT)
        if line:
            break
        empty += 1  # RFC 9112 2.2: empty lines before the request line are ignored
        if empty > 16:
            raise BadRequest("many empty lines")
    head = [line]
    m = REQUEST_LINE.match(line)
    if not m:
        raise BadRequest("bad request line %r" % line[:80])
    rec.method, rec.target, rec.minor = m.group(1), m.group(2), int(m.group(3))
    headers = []
    while True:
        line = r.line(MAX_HEAD, MID_REQUEST_TIMEOUT)
        head.append(line)
        if sum(len(h) for h in head) > MAX_HEAD:
            raise BadRequest("head too large")
        if not line:
            break
        if line[:1] in (b" ", b"\t"):
            raise BadRequest("obs-fold")
        name, sep, value = line.partition(b":")
        if not sep or not TCHAR.match(name):
            raise BadRequest("bad header line %r" % line[:80])
        value = value.strip(b" \t")
        if VALUE_BAD.search(value):
            raise BadRequest("control character in %r" % name)
        headers.append((name.lower(), value))
    rec.head = b"\r\n".join(head) + b"\r\n"
    return headers


def framing(headers, minor):
    """("none"|"length"|"chunked", length) by RFC 9112 6.3 for a request."""
    cl = [v for n, v in headers if n == b"content-length"]
    te = [v for n, v in headers if n == b"transfer-encoding"]
    if te:
        if cl:
            raise BadRequest("Content-Length and Transfer-Encoding")
        codings = [c.strip(b" \t").lower() for v in te for c in v.split(b",") if c.strip(b" \t")]
        if not codings or codings[-1] != b"chunked" or codings.count(b"chunked") != 1:
            raise BadRequest("transfer coding %r" % te)
        if minor == 0:
            raise BadRequest("Transfer-Encoding in HTTP/1.0")
        return "chunked", 0
    if len(cl) > 1:
        raise BadRequest("several Content-Length")
    if cl:
        if not re.match(rb"^[0-9]{1,18}$", cl[0]):
            raise BadRequest("bad Content-Length %r" % cl[0])
        return "length", int(cl[0])
    return "none", 0


def read_body(r, kind, length):
    if kind == "length":
        return r.take(length, MID_REQUEST_TIMEOUT)
    if kind == "none":
        return b""
    out = bytearray()
    while True:
        size = parse_chunk_size_line(r.line(8192, MID_REQUEST_TIMEOUT))
        if size == 0:
            break
        out += r.take(size, MID_REQUEST_TIMEOUT)
        if r.take(2, MID_REQUEST_TIMEOUT) != b"\r\n":
            raise BadRequest("no CRLF after chunk data")
    while True:  # trailer section
        line = r.line(8192, MID_REQUEST_TIMEOUT)
        if not line:
            break
        name, sep, value = line.partition(b":")
        if not sep or not TCHAR.match(name) or VALUE_BAD.search(value):
            raise BadRequest("bad trailer %r" % line[:80])
    return bytes(out)


class Backend:
    """One listening server; serves each connection on its own thread."""

    def __init__(self, name, log):
        self.name, self.log = name, log
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(512)
        self.port = self.lsock.getsockname()[1]
        self.stopped = threading.Event()
        self.conns = set()
        self.serial = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.log.lock:
                self.serial += 1
                serial = self.serial
                self.conns.add(s)
            threading.Thread(target=self._serve, args=(s, serial), daemon=True).start()

    def _serve(self, s, serial):
        r = Reader(s)
        seq = 0
        try:
            while not self.stopped.is_set():
                if not self._one(s, r, serial, seq):
                    break
                seq += 1
        finally:
            with self.log.lock:
                self.conns.discard(s)
            try:
                s.close()
            except OSError:
                pass

    def _one(self, s, r, serial, seq):
        """Serves one request; False when the connection is done."""
        rec = Record(self.name, serial, seq, "incomplete")
        busy = False
        r.begin()
        try:
            if not r.buf:
                r.fill(IDLE_TIMEOUT)
            busy = True
            self.log.busy_change(+1)
            headers = read_request_head(r, rec, IDLE_TIMEOUT)
            rec.rid = self._rid(rec, headers)
            hv = {}
            for n, v in headers:  # the first of each: a corpus message may have absorbed B's lines after its own
                hv.setdefault(n, v)
            rec.variant = hv.get(b"x-fuzz-resp", b"").decode("latin-1")
            if rec.minor == 1 and b"host" not in hv:
                rec.notes.append("HTTP/1.1 request without Host")
            if sum(1 for n, _ in headers if n == b"host") > 1:
                raise BadRequest("several Host headers")
            kind, length = framing(headers, rec.minor)
            variant = variants.decode(rec.variant)
            expect = hv.get(b"expect", b"").lower() == b"100-continue"
            plan = variants.plan(rec.rid, rec.method, rec.minor, variant, expect)
            sub = variant.sub if variant else 0
            for interim in plan.interim:
                self._write(s, rec, interim, 0)
            if not plan.read_body:
                return self._answer_unread(s, r, rec, plan, sub)
            rec.body = read_body(r, kind, length)
            rec.status = "complete"
            self.log.add(rec)
            return self._answer(s, r, rec, plan, sub)
        except BadRequest as e:
            rec.status, rec.why = "unparseable", str(e)
            rec.raw = bytes(r.raw) + bytes(r.buf[:2000])
            self.log.add(rec)
            return False
        except (Closed, OSError) as e:  # OSError: a write (of a 1xx) to a proxy that went away
            if r.got or r.buf:
                rec.why = str(e)
                rec.raw = bytes(r.raw) + bytes(r.buf[:2000])
                m = TARGET_ID.match(rec.target)
                if rec.rid is None and m:
                    rec.rid = m.group(1).decode()
                self.log.add(rec)  # cut short (the proxy gave up on it)
            return False
        finally:
            if busy:
                self.log.busy_change(-1)

    @staticmethod
    def _rid(rec, headers):
        m = TARGET_ID.match(rec.target)
        if m:
            return m.group(1).decode()
        for n, v in headers:
            if n == b"x-fuzz-id" and re.match(rb"^[isz]\d+c\d+r\d+$", v):
                return v.decode()
        return None

    def _write(self, s, rec, data, sub, head_len=0):
        for piece, pause in variants.write_pieces(rec.rid or "anon", sub, data, head_len):
            if pause:
                time.sleep(pause)  # a gap in the stream is part of the test input
            s.sendall(piece)

    def _answer(self, s, r, rec, plan, sub):
        try:
            if not plan.answer:
                return False  # "drop": close without a word
            if plan.delay and self._wait_closed(s, plan.delay):
                return False  # the proxy gave up first (504)
            if plan.cut_at >= 0:
                self._write(s, rec, plan.head + plan.wire_body[:plan.cut_at], sub, len(plan.head))
                rec.answered = "partial"
                return False
            self._write(s, rec, plan.head + plan.wire_body, sub, len(plan.head))
            rec.answered = "full"
        except OSError:
            return False
        return not plan.close_after

    def _answer_unread(self, s, r, rec, plan, sub):
        """An answer (or silence) before reading the request body."""
        rec.status = "complete"  # the head is all we take
        self.log.add(rec)
        try:
            if plan.answer:
                self._write(s, rec, plan.head + plan.wire_body, sub)
                rec.answered = "full"
                s.shutdown(socket.SHUT_WR)
                self._drain(s, 1.5)  # lingering close, so no RST eats the answer
            else:
                self._wait_closed(s, variants.NOREAD_SECONDS, drain=False)
        except OSError:
            pass
        return False

    def _wait_closed(self, s, seconds, drain=True):
        """Waits up to seconds; True if the peer closed meanwhile."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or self.stopped.is_set():
                return False
            if not drain:
                # Never read: only notice a close (POLLRDHUP), not data.
                p = select.poll()
                p.register(s, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
                if p.poll(min(left, 0.1) * 1000):
                    return True
                continue
            rl, _, _ = select.select([s], [], [], min(left, 0.1))
            if rl:
                try:
                    if not s.recv(65536, socket.MSG_PEEK):
                        return True
                except OSError:
                    return True
                return False  # data arrived: answer now

    def _drain(self, s, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if not s.recv(65536):
                    return
            except OSError:
                return

    def stop(self):
        self.stopped.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.log.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Log:
    """The shared record of all backends, with the busy count for quiescence."""

    def __init__(self):
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.records = []
        self.busy = 0

    def add(self, rec):
        with self.lock:
            self.records.append(rec)

    def busy_change(self, d):
        with self.lock:
            self.busy += d
            self.cond.notify_all()

    def wait_idle(self, timeout):
        """True once no backend connection is in the middle of a request."""
        with self.lock:
            return self.cond.wait_for(lambda: self.busy == 0, timeout)

    def since(self, mark):
        with self.lock:
            return self.records[mark:], len(self.records)


class Backends:
    """Two recording servers sharing one log."""

    def __init__(self, n=2):
        self.log = Log()
        self.servers = [Backend("s%d" % (i + 1), self.log) for i in range(n)]

    def stop(self):
        for b in self.servers:
            b.stop()
