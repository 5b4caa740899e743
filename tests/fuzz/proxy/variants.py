"""Backend response variants: what the recording backend sends for a request,
and what a client may then receive through the proxy.

One module describes both sides so they cannot drift apart: the backend calls
plan() to build its answer, the checker calls the same plan() to know the
status and body the client must get. Everything here is a pure function of
the request id, method, version and the variant string the client put in
`X-Fuzz-Resp`, so a replayed request gets the same answer.

A variant string is `KIND.LEN.SUB`: KIND below, LEN the body length, SUB a
small number that seeds the backend's free choices (status, chunking, how the
bytes are split into writes).
"""
import random
from dataclasses import dataclass, field

# Well-behaved answers: the proxy must relay them exactly.
GOOD = ("cl", "ch", "1xx", "204", "304", "connclose")
# Answers by a misbehaving server: the proxy may answer 5xx instead.
BAD_SERVER = ("eof", "early", "midclose", "drop", "invalid", "slow", "noread")
KINDS = GOOD + BAD_SERVER

# How long the "slow" server waits (timeout_server is 1 s in our config).
SLOW_SECONDS = 1.4
# How long a "noread" server holds the connection at most.
NOREAD_SECONDS = 2.5
# The body of the answer to a request without id (an accepted corpus message).
ANON_BODY = b"anon\n"


def encode(kind, length, sub):
    return "%s.%d.%d" % (kind, length, sub)


@dataclass
class Variant:
    kind: str
    length: int
    sub: int

    def __str__(self):
        return encode(self.kind, self.length, self.sub)


def decode(text):
    """The variant named by an X-Fuzz-Resp value, or None."""
    try:
        kind, length, sub = text.split(".")
        if kind in KINDS:
            return Variant(kind, int(length), int(sub))
    except ValueError:
        pass
    return None


def body_for(rid, length, sub):
    """The response body for request rid: rid-derived bytes, so a client that
    receives them can tell whose they are. One in four bodies carries a
    complete HTTP response (echo `z<rid>`) inside it, so a proxy that leaves
    body bytes on a pooled connection hands a parseable foreign response to
    the next client."""
    unit = rid.encode() + b";"
    if sub % 4 == 0:
        fake = (b"HTTP/1.1 200 OK\r\nX-Fuzz-Echo: z" + rid[1:].encode() +
                b"\r\nContent-Length: 0\r\n\r\n")
        data = fake + unit * (length // len(unit) + 1)
    else:
        data = unit * (length // len(unit) + 1)
    return data[:length]


@dataclass
class Plan:
    """What the backend does for one request, and what it sends."""
    kind: str
    interim: list = field(default_factory=list)  # 1xx heads, sent first
    status: int = 200
    head: bytes = b""           # the final response head, as sent
    body: bytes = b""           # the entity body (decoded), what the client must get
    wire_body: bytes = b""      # the body bytes as sent (chunked framing included)
    has_body: bool = True       # the response carries a body at all (not HEAD/204/304)
    read_body: bool = True      # the backend reads the request body before answering
    answer: bool = True         # the backend sends a response at all
    close_after: bool = False   # the backend closes the connection after this
    cut_at: int = -1            # midclose: bytes of wire_body sent before closing
    delay: float = 0.0          # slow: wait before answering


def _rng(rid, sub):
    return random.Random("%s/%d" % (rid, sub))


def _chunked(rng, body):
    """Chunked framing of body with random chunk sizes, extensions and trailers."""
    out, i = [], 0
    while i < len(body):
        n = min(len(body) - i, rng.choice([1, 7, 100, 1000, 5000, 20000, 70000]) if rng.random() < 0.7
                else rng.randint(1, max(1, len(body) - i)))
        size = b"%x" % n if rng.random() < 0.8 else b"%X" % n
        ext = rng.choice([b"", b"", b"", b";a=b", b";name", b';q="x y"'])
        out.append(size + ext + b"\r\n" + body[i:i + n] + b"\r\n")
        i += n
    out.append(b"0" + rng.choice([b"", b";end"]) + b"\r\n")
    out.append(rng.choice([b"", b"", b"X-Trailer: t\r\n", b"X-T1: a\r\nX-T2: b\r\n"]) + b"\r\n")
    return b"".join(out)


def plan(rid, method, minor, variant, expect_continue=False):
    """The backend's answer to a request with id rid (None: anonymous).

    method is the method as the backend received it (bytes, exact case): only
    `HEAD` means HEAD. minor is the request's HTTP minor version: an HTTP/1.0
    request never gets 1xx or chunked (a 1.0 client cannot read them)."""
    if rid is None or variant is None:
        return _anon_plan(method, minor)
    rng = _rng(rid, variant.sub)
    kind = variant.kind
    head_req = method == b"HEAD"
    echo = b"X-Fuzz-Echo: " + rid.encode() + b"\r\n"
    p = Plan(kind)
    if kind in ("drop",):
        p.answer, p.close_after = False, True
        return p
    if kind == "noread":
        p.answer, p.read_body, p.close_after = False, False, True
        return p
    if kind == "invalid":
        p.status = 0
        p.close_after = True
        p.head = rng.choice([
            b"HTTP/1.1 200 OK\r\n" + echo + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            b"HTTP/1.1 200 OK\n" + echo.replace(b"\r\n", b"\n") + b"Content-Length: 2\n\nok",
            b"\x16\x03\x01garbage " + echo + b"\r\n\r\n",
            b"HTTP/1.1 2x0 OK\r\n" + echo + b"Content-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n" + echo + b"Content-Length : 2\r\n\r\nok",
            b"HTTP/1.1 200 OK\r\n" + echo + b"Content-Length: 2\r\n folded\r\n\r\nok",
        ])
        return p
    status = {"204": 204, "304": 304, "early": rng.choice([401, 413, 417])}.get(kind)
    if status is None:
        status = rng.choice([200] * 8 + [201, 203, 404, 500])
    p.status = status
    p.has_body = not head_req and status not in (204, 304)
    p.body = body_for(rid, variant.length, variant.sub) if p.has_body else b""
    chunked = kind == "ch" or (kind in ("1xx", "midclose") and rng.random() < 0.5)
    chunked = chunked and minor == 1
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, rng.choice([b"OK", b"Fuzz", b"", b"Reason with spaces"])), echo]
    if rng.random() < 0.3:
        lines.append(b"X-Extra: " + bytes(rng.choice(b"abc xyz") for _ in range(rng.randint(0, 20))) + b"\r\n")
    if kind == "eof":
        p.close_after = True
        if rng.random() < 0.5:
            lines.append(b"Connection: close\r\n")
    elif kind == "204":
        pass
    elif kind == "304":
        if rng.random() < 0.5:
            lines.append(b"Content-Length: %d\r\n" % variant.length)
    elif chunked:
        lines.append(b"Transfer-Encoding: chunked\r\n")
    else:
        lines.append(b"Content-Length: %d\r\n" % len(body_for(rid, variant.length, variant.sub)))
    if kind in ("connclose", "early"):
        lines.append(b"Connection: close\r\n")
        p.close_after = True
    if kind == "early":
        p.read_body = False
    if kind == "1xx" and minor == 1:
        for _ in range(rng.randint(1, 3)):
            p.interim.append(rng.choice([b"HTTP/1.1 100 Continue\r\n" + echo + b"\r\n",
                                         b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n" + echo + b"\r\n"]))
    elif expect_continue and minor == 1 and kind not in ("early",):
        p.interim.append(b"HTTP/1.1 100 Continue\r\n" + echo + b"\r\n")
    p.head = b"".join(lines) + b"\r\n"
    if p.has_body:
        p.wire_body = _chunked(rng, p.body) if chunked else p.body
    if kind == "midclose":
        p.close_after = True
        if p.has_body and len(p.wire_body) > 1:
            p.cut_at = rng.randint(0, len(p.wire_body) - 1)
    if kind == "slow":
        p.delay = SLOW_SECONDS
    return p


def _anon_plan(method, minor):
    """Requests without an id (accepted corpus messages): a small 200."""
    p = Plan("anon")
    p.has_body = method != b"HEAD"
    p.body = ANON_BODY if p.has_body else b""
    p.wire_body = p.body
    p.head = (b"HTTP/1.1 200 OK\r\nX-Fuzz-Echo: anon\r\nX-Fuzz-Method: " + method[:40] +
              b"\r\nContent-Length: %d\r\n\r\n" % len(ANON_BODY))
    return p


def write_pieces(rid, sub, data, head_len=0):
    """Splits data into the pieces the backend writes, with rare short pauses.
    In one answer of three the body follows its head after a few ms: a proxy
    that thinks the response ended with its head may then pool the connection
    while the body is still on its way (and hand it to the next client)."""
    rng = random.Random("w/%s/%d" % (rid, sub))
    out, i, pause = [], 0, 0.0
    if 0 < head_len < len(data) and rng.random() < 0.33:
        out.append((data[:head_len], 0.0))
        i, pause = head_len, rng.choice([0.001, 0.003, 0.008])
    while i < len(data):
        n = len(data) - i if rng.random() < 0.5 else rng.randint(1, len(data) - i)
        out.append((data[i:i + n], pause or (0.002 if rng.random() < 0.15 else 0.0)))
        pause = 0.0
        i += n
    return out
