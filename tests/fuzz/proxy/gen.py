"""Seeded generation of client streams: valid requests from a grammar, known-bad
mutations a strict proxy must refuse, and (optionally) mutated messages from
Node's llhttp corpus.

Every request is built from a Recipe and rendered to bytes by render(), so the
minimiser can shrink a body or drop a header and render again. A request's
kind says what the proxy must do with it:

  valid      must be forwarded, body intact
  ambiguous  may be refused (400) or forwarded; if forwarded, body intact
  bad        must be refused with an error answer and the connection closed;
             refuse="head": nothing of it may reach a server; refuse="body"
             (bad chunked framing, seen only while streaming): its head and a
             prefix of its body may reach a server, never a complete request
  corpus     an llhttp corpus message: anything but a desync
"""
import random
from dataclasses import dataclass, field, replace

import variants

IDEMPOTENT = {b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"}
REFUSE_HEAD, REFUSE_BODY = "head", "body"
TCHARS = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Methods RFC 2326/7826 define for RTSP: ringlb refuses them, as llhttp does.
RTSP = {b"ANNOUNCE", b"DESCRIBE", b"GET_PARAMETER", b"PAUSE", b"PLAY", b"PLAY_NOTIFY", b"RECORD",
        b"REDIRECT", b"SETUP", b"SET_PARAMETER", b"TEARDOWN"}
EXTENSION_METHODS = [b"PURGE", b"PROPFIND", b"MKCOL", b"LOCK", b"UNLOCK", b"REPORT", b"M-SEARCH",
                     b"X-FUZZ", b"BREW", b"LINK", b"SEARCH", b"TRACE"]
EXTRA_NAMES = [b"Accept", b"User-Agent", b"Cookie", b"Cache-Control", b"Accept-Language", b"If-None-Match",
               b"Authorization", b"X-Forwarded-For", b"X-Request-Id", b"X-A", b"X-B", b"X-Empty", b"Referer",
               b"Keep-Alive", b"Proxy-Connection", b"TE", b"Via", b"X-Forwarded-Proto"]


@dataclass
class Recipe:
    """How to write one request (the parts the minimiser may shrink)."""
    rid: str
    method: bytes = b"GET"
    minor: int = 1
    target: bytes = b"/"
    lead: int = 0                 # leading CRLFs
    hosts: list = field(default_factory=lambda: [b"example.test"])
    conn: bytes = None            # Connection header value
    extras: list = field(default_factory=list)   # (name, value)
    framing: str = "none"         # none | cl | chunked
    body: bytes = b""
    cl_text: bytes = None         # Content-Length value as written (default: len(body))
    te: list = field(default_factory=lambda: [b"chunked"])
    chunk_seed: int = 0
    expect: bool = False
    variant: str = ""
    bad: str = ""                 # mutation applied while rendering
    bad_seed: int = 0
    order_seed: int = 0


@dataclass
class Req:
    """One request as sent, and what the model says about it."""
    rid: str
    raw: bytes
    body_at: int                  # where the body starts in raw (Expect: the client waits there)
    method: bytes
    minor: int
    body: bytes                   # decoded body a server must receive; None: not known
    kind: str                     # valid | ambiguous | bad | corpus
    refuse: str = ""              # bad: REFUSE_HEAD or REFUSE_BODY
    why: str = ""
    variant: str = ""
    closes: bool = False          # the client asked to close after this one
    expect: bool = False
    smuggled: list = field(default_factory=list)
    recipe: Recipe = None

    @property
    def idempotent(self):
        return self.method in IDEMPOTENT


@dataclass
class Stream:
    client: int
    mode: str                     # pipe: all bytes at once; seq: wait for each response
    reqs: list
    split_seed: int
    corpus: bool = False
    whole: bool = False           # minimiser: every write in one piece, no pauses


def rid_of(it, client, n, prefix="i"):
    return "%s%dc%dr%d" % (prefix, it, client, n)


# ---------------------------------------------------------------- rendering

def chunk_body(body, seed, zero_pad=False):
    """Valid chunked framing: random sizes (hex case, leading zeros), strict
    RFC 9112 extensions, trailers. zero_pad: one size written with 17+ digits
    of leading zeros (valid by the grammar, refused by some parsers)."""
    rng = random.Random(seed)
    out, i, first = [], 0, True
    while i < len(body):
        n = rng.randint(1, len(body) - i) if rng.random() < 0.5 else min(len(body) - i, rng.choice([1, 2, 16, 255, 4096, 65536]))
        digits = ("%x" if rng.random() < 0.7 else "%X") % n
        if zero_pad and first:
            digits = "0" * rng.randint(17 - len(digits), 20) + digits
        elif rng.random() < 0.1:
            digits = "0" * rng.randint(1, 3) + digits
        ext = rng.choice([b""] * 6 + [b";a", b";a=b", b';name="q\\"uoted"', b";x=1;y=2"])
        out.append(digits.encode() + ext + b"\r\n" + body[i:i + n] + b"\r\n")
        i += n
        first = False
    out.append(rng.choice([b"0", b"0", b"000"]) + rng.choice([b"", b"", b";last"]) + b"\r\n")
    out.append(rng.choice([b"", b"", b"", b"X-Checksum: 1234\r\n", b"X-T1: a\r\nX-T2: b b\r\n"]))
    out.append(b"\r\n")
    return b"".join(out)


BAD_CHUNK = ["size_nonhex", "size_huge", "size_17", "size_neg", "size_0x", "no_crlf", "short_data",
             "bare_lf", "bad_trailer", "bad_ext", "size_space"]


def bad_chunks(body, seed, how):
    """Chunked framing with one error a strict parser must refuse."""
    rng = random.Random(seed)
    body = body or b"x"
    cut = rng.randint(1, len(body))
    if cut < len(body) and rng.random() < 0.5:  # a valid first chunk, so the error comes mid-body
        pre, rest = b"%x\r\n%s\r\n" % (cut, body[:cut]), body[cut:]
    else:
        pre, rest = b"", body
    n = len(rest)
    if how == "size_nonhex":
        bad = b"%xz\r\n%s\r\n0\r\n\r\n" % (n, rest) if rng.random() < 0.5 else b"zz\r\n%s\r\n0\r\n\r\n" % rest
    elif how == "size_huge":
        bad = b"10000000000000000\r\n" + rest + b"\r\n0\r\n\r\n"  # 2^64
    elif how == "size_17":
        bad = b"F" * rng.randint(17, 24) + b"\r\n" + rest + b"\r\n0\r\n\r\n"
    elif how == "size_neg":
        bad = b"-%x\r\n%s\r\n0\r\n\r\n" % (n, rest)
    elif how == "size_0x":
        bad = b"0x%x\r\n%s\r\n0\r\n\r\n" % (n, rest)
    elif how == "no_crlf":
        bad = b"%x\r\n%s0\r\n\r\n" % (n, rest)
    elif how == "short_data":
        bad = b"%x\r\n%s\r\n0\r\n\r\n" % (max(1, n - rng.randint(1, 3)) if n > 1 else 0x10, rest)
        if n <= 1:
            bad = b"1\r\n" + rest + b"XX\r\n0\r\n\r\n"
    elif how == "bare_lf":
        bad = b"%x\n%s\r\n0\r\n\r\n" % (n, rest) if rng.random() < 0.5 else b"%x\r\n%s\n0\r\n\r\n" % (n, rest)
    elif how == "bad_trailer":
        bad = b"%x\r\n%s\r\n0\r\n" % (n, rest) + rng.choice([b"X-T : v\r\n\r\n", b"X-T: v\r\n folded\r\n\r\n",
                                                            b"X-T: a\x00b\r\n\r\n", b"X-T v\r\n\r\n"])
    elif how == "bad_ext":
        bad = b"%x;a@b\r\n%s\r\n0\r\n\r\n" % (n, rest) if rng.random() < 0.5 else b'%x;a="unterminated\r\n%s\r\n0\r\n\r\n' % (n, rest)
    else:  # size_space: no whitespace is allowed before CRLF without an extension
        bad = b"%x \r\n%s\r\n0\r\n\r\n" % (n, rest)
    return pre + bad


def render(rc):
    """Renders a recipe; returns (raw bytes, offset of the body)."""
    rng = random.Random(rc.bad_seed)
    target = rc.target
    version = b"HTTP/1." + str(rc.minor).encode()
    if rc.bad == "badversion":
        version = rng.choice([b"HTTP/1.2", b"HTTP/2.0", b"http/1.1", b"HTTP/1.1x", b"HTTP/1", b"HTTP/3.0",
                              b"HTTP/1.1 ", b"HTTP/01.1"])
    line = rc.method + b" " + target + b" " + version
    headers = [(b"Host", h) for h in rc.hosts]
    headers += [(b"X-Fuzz-Id", rc.rid.encode()), (b"X-Fuzz-Resp", rc.variant.encode())]
    headers += list(rc.extras)
    if rc.conn is not None:
        headers.append((b"Connection", rc.conn))
    if rc.expect:
        headers.append((b"Expect", b"100-continue"))
    if rc.framing == "cl":
        headers.append((b"Content-Length", rc.cl_text if rc.cl_text is not None else str(len(rc.body)).encode()))
    order = random.Random(rc.order_seed)
    fixed, rest = headers[:1], headers[1:]
    order.shuffle(rest)
    headers = fixed + rest if order.random() < 0.8 else rest + fixed
    if rc.framing == "chunked":
        # Several Transfer-Encoding lines form one list: they keep their order.
        k = order.randint(0, len(headers))
        headers[k:k] = [(b"Transfer-Encoding", v) for v in rc.te]
    lines = [name + b": " + value for name, value in headers]
    lead = b"\r\n" * rc.lead
    bad = rc.bad
    # Head mutations that change lines.
    if bad == "fold":
        k = rng.randrange(len(lines))
        lines.insert(k + 1, rng.choice([b" folded", b"\tfolded value"]))
    elif bad == "wscolon":
        k = rng.randrange(len(lines))
        name, _, value = lines[k].partition(b": ")
        lines[k] = name + rng.choice([b" ", b"\t", b"  "]) + b": " + value
    elif bad == "ctl":
        k = rng.randrange(len(lines))
        ch = bytes([rng.choice([0, 1, 8, 0x0b, 0x0c, 0x0d, 0x1b, 0x1f, 0x7f])])
        name, _, value = lines[k].partition(b": ")
        pos = rng.randint(0, len(value))
        # A CR inside a value must not be followed by LF (that would just end the line).
        lines[k] = name + b": " + value[:pos] + ch + (b"x" if ch == b"\r" else b"") + value[pos:]
    elif bad == "badname":
        lines.insert(rng.randint(0, len(lines)), rng.choice([b"X(A: v", b": empty-name", b"X A: v", b"X\x01A: v",
                                                             b"X\"A: v", b"X-\xffA: v"]))
    elif bad == "manyheaders":
        lines[1:1] = [b"X-H%d: v" % i for i in range(rng.randint(101, 140))]
    elif bad == "bighead":
        lines.insert(1, b"X-Big: " + b"b" * rng.randint(16400, 20000))
    head = lead + line + b"\r\n" + b"".join(l + b"\r\n" for l in lines) + b"\r\n"
    if bad == "barelf":
        parts = head.split(b"\r\n")
        if rng.random() < 0.5:
            head = b"\n".join(parts)
        else:  # one line end only (not the leading empty lines: those would just shift the start)
            k = rng.randrange(rc.lead, len(parts) - 2)
            head = b"\r\n".join(parts[:k + 1]) + b"\n" + b"\r\n".join(parts[k + 1:])
    if rc.framing == "chunked":
        if bad in BAD_CHUNK:
            body = bad_chunks(rc.body, rc.chunk_seed, bad)
        else:
            body = chunk_body(rc.body, rc.chunk_seed, zero_pad=bad == "zeropad")
    elif rc.framing == "cl":
        body = rc.body
    else:
        body = b""
    return head + body, len(head)


def to_req(rc, kind, why="", refuse="", smuggled=()):
    raw, body_at = render(rc)
    conn_tokens = [t.strip().lower() for t in (rc.conn or b"").split(b",")]
    closes = b"close" in conn_tokens or (rc.minor == 0 and b"keep-alive" not in conn_tokens)
    return Req(rc.rid, raw, body_at, rc.method, rc.minor, rc.body if rc.framing != "none" else b"",
               kind, refuse, why, rc.variant, closes, rc.expect, list(smuggled), rc)


def rerender(req):
    """The request again after its recipe changed (minimiser)."""
    return to_req(req.recipe, req.kind, req.why, req.refuse, req.smuggled)


# ---------------------------------------------------------------- grammar

def weighted(rng, pairs):
    total = sum(w for _, w in pairs)
    x = rng.random() * total
    for v, w in pairs:
        x -= w
        if x < 0:
            return v
    return pairs[-1][0]


def random_token(rng, n):
    while True:
        t = bytes(rng.choice(TCHARS) for _ in range(n))
        if t.upper() not in RTSP and t not in (b"PRI", b"CONNECT"):
            return t


def random_value(rng):
    n = rng.choice([0, 1, 5, 20, 60])
    pool = b"abcdefghijklmnopqrstuvwxyz0123456789 -_.;=/,\"'()"
    v = bytearray(rng.choice(pool) for _ in range(n))
    if v and rng.random() < 0.1:
        v[rng.randrange(len(v))] = rng.randint(0x80, 0xFF)  # obs-text is allowed
    if v and rng.random() < 0.1:
        v.insert(rng.randrange(len(v)), 0x09)
    return bytes(v).strip(b" \t") + rng.choice([b"", b"", b" ", b"\t "])


def random_body(rng, rid, smuggle_id):
    """A body: rid-derived bytes, random bytes, or one that starts with a
    complete request (id smuggle_id) that no server may ever see as a request."""
    n = weighted(rng, [(0, 3), (rng.randint(1, 100), 40), (rng.randint(100, 5000), 40),
                       (rng.randint(5000, 200000), 8)])
    style = rng.random()
    if style < 0.3:
        return rng.randbytes(n), []
    unit = rid.encode() + b";"
    data = unit * (n // len(unit) + 1)
    if style < 0.6 or n == 0:
        return data[:n], []
    smuggled = (b"GET /f/" + smuggle_id.encode() + b" HTTP/1.1\r\nHost: s\r\nX-Fuzz-Id: " + smuggle_id.encode() +
                b"\r\nX-Fuzz-Resp: cl.30.1\r\n\r\n")
    return (smuggled + data)[:max(n, len(smuggled))], [smuggle_id]


def pick_variant(rng, has_body):
    """The server's answer: mostly well-behaved, sometimes a server that misbehaves."""
    kind = weighted(rng, [("cl", 32), ("ch", 16), ("1xx", 6), ("204", 3), ("304", 3), ("connclose", 4),
                          ("eof", 6), ("early", 5 if has_body else 1), ("midclose", 4), ("drop", 5),
                          ("invalid", 3), ("slow", 0.3), ("noread", 0.3)])
    length = weighted(rng, [(0, 3), (rng.randint(1, 200), 50), (rng.randint(200, 20000), 35),
                            (rng.randint(20000, 200000), 6)])
    return variants.encode(kind, length, rng.randint(0, 999))


def valid_recipe(rng, rid, smuggle_id):
    rc = Recipe(rid)
    rc.minor = 0 if rng.random() < 0.15 else 1
    rc.method = weighted(rng, [(b"GET", 25), (b"POST", 18), (b"HEAD", 8), (b"PUT", 7), (b"DELETE", 5),
                               (b"OPTIONS", 4), (b"PATCH", 5), (b"head", 5), (b"get", 3), (b"post", 4),
                               (rng.choice(EXTENSION_METHODS), 5), (random_token(rng, rng.randint(1, 12)), 3)])
    query = b"" if rng.random() < 0.7 else b"?q=" + bytes(rng.choice(b"abcXYZ019-._~=&") for _ in range(rng.randint(0, 30)))
    rc.target = b"/f/" + rid.encode() + query
    rc.hosts = [rng.choice([b"example.test", b"a.test:8080", b"127.0.0.1", b"x", b"[::1]:80"])]
    if rc.minor == 0 and rng.random() < 0.5:
        rc.hosts = []
    names = []
    for _ in range(weighted(rng, [(0, 3), (rng.randint(1, 3), 5), (rng.randint(4, 12), 2)])):
        name = rng.choice(EXTRA_NAMES) if rng.random() < 0.7 else b"X-" + random_token(rng, rng.randint(1, 10))
        if rng.random() < 0.2:
            name = name.lower()
        rc.extras.append((name, random_value(rng) if name != b"TE" else b"trailers"))
        names.append(name)
    # Connection: a random list of options.
    tokens = []
    upgrade = False
    if rng.random() < 0.4:
        for _ in range(rng.randint(1, 4)):
            t = weighted(rng, [(b"close", 1.5), (b"keep-alive", 4 if rc.minor == 0 else 1.5), (b"upgrade", 0.6),
                               (rng.choice(names) if names else b"X-Absent", 2), (b"X-" + random_token(rng, 4), 1)])
            if t == b"upgrade":
                upgrade = True
            tokens.append(rng.choice([t, t.lower(), t.upper()]))
        if upgrade:
            rc.extras.append((b"Upgrade", rng.choice([b"websocket", b"h2c", b"foo/2"])))
        rc.conn = rng.choice([b", ", b",", b" , ", b",\t"]).join(tokens)
    # The body.
    has_body = (rc.method not in (b"GET", b"HEAD", b"get", b"head") or rng.random() < 0.1) and not upgrade
    smuggled = []
    if has_body and rng.random() < 0.85:
        rc.body, smuggled = random_body(rng, rid, smuggle_id)
        rc.framing = "chunked" if rc.minor == 1 and rng.random() < 0.4 else "cl"
        rc.chunk_seed = rng.randint(0, 1 << 30)
        if rc.framing == "chunked":
            rc.te = rng.choice([[b"chunked"], [b"chunked"], [b"Chunked"], [b"gzip, chunked"], [b"gzip", b"chunked"]])
        elif rng.random() < 0.1:
            rc.cl_text = b"0" * rng.randint(1, 4) + str(len(rc.body)).encode()
        rc.expect = rc.minor == 1 and bool(rc.body) and rng.random() < 0.15
    elif has_body and rng.random() < 0.5:
        rc.framing = "cl"  # Content-Length: 0
    if rng.random() < 0.1:
        rc.lead = rng.randint(1, 8)
    rc.variant = pick_variant(rng, bool(rc.body))
    rc.order_seed = rng.randint(0, 1 << 30)
    return rc, smuggled


# ---------------------------------------------------------------- bad and ambiguous

BAD_HEAD = ["clte", "dupcl", "conflictcl", "cllist", "badcl", "tenotlast", "te10", "fold", "wscolon", "ctl",
            "barelf", "nohost", "duphost", "manycrlf", "badmethod", "badtarget", "badversion", "badname",
            "bigtarget", "bighead", "manyheaders", "connframing"]
AMBIGUOUS = ["zeropad"]  # 17+ hex digits of leading zeros: valid grammar, refused by ringlb


def bad_request(rng, rid, smuggle_id):
    """A valid request with one mutation: (recipe, kind, why, refuse)."""
    rc, _ = valid_recipe(rng, rid, smuggle_id)
    rc.expect = False
    rc.variant = variants.encode("cl", rng.randint(0, 100), rng.randint(0, 999))
    rc.bad_seed = rng.randint(0, 1 << 30)
    if rng.random() < 0.3:
        how = rng.choice(BAD_CHUNK)
        rc.minor = 1
        rc.hosts = rc.hosts or [b"x"]
        rc.framing, rc.te = "chunked", [b"chunked"]
        rc.body = rc.body or rid.encode() * rng.randint(1, 40)
        rc.bad = how
        return rc, "bad", "chunked body: " + how, REFUSE_BODY
    if rng.random() < 0.15:
        how = rng.choice(AMBIGUOUS)
        rc.minor = 1
        rc.hosts = rc.hosts or [b"x"]
        rc.framing, rc.te = "chunked", [b"chunked"]
        rc.body = rc.body or rid.encode() * rng.randint(1, 40)
        rc.bad = "zeropad"
        return rc, "ambiguous", how, ""
    how = rng.choice(BAD_HEAD)
    if how == "connframing":
        # README, "What ringlb refuses": Connection naming a framing header.
        rc.minor = 1
        rc.hosts = rc.hosts or [b"x"]
        named = rng.choice([b"Content-Length", b"content-length", b"Transfer-Encoding", b"Host", b"HOST"])
        if named.lower() == b"transfer-encoding":
            rc.framing, rc.te = "chunked", [b"chunked"]
        elif named.lower() == b"content-length":
            rc.framing = "cl"
        if rc.framing != "none" and not rc.body:
            rc.body = (rid.encode() + b";") * rng.randint(1, 30)
        rc.conn = rng.choice([b"", b"keep-alive, ", b"close, "]) + named
        return rc, "bad", how, REFUSE_HEAD
    rc.bad = how
    if how in ("clte", "dupcl", "conflictcl", "cllist", "badcl", "tenotlast", "te10") and not rc.body:
        rc.body = (rid.encode() + b";") * rng.randint(1, 20)
    n = str(len(rc.body)).encode()
    if how == "clte":
        rc.minor, rc.hosts = 1, rc.hosts or [b"x"]
        rc.framing, rc.te = "chunked", [b"chunked"]
        rc.extras.insert(rng.randint(0, len(rc.extras)), (rng.choice([b"Content-Length", b"content-length"]), n))
    elif how in ("dupcl", "conflictcl"):
        rc.framing = "cl"
        other = n if how == "dupcl" else str(len(rc.body) + rng.randint(1, 50)).encode()
        rc.extras.insert(rng.randint(0, len(rc.extras)), (b"Content-Length", other))
    elif how == "cllist":
        rc.framing = "cl"
        rc.cl_text = rng.choice([n + b", " + n, n + b"," + n, n + b", 0"])
    elif how == "badcl":
        rc.framing = "cl"
        rc.cl_text = rng.choice([b"+" + n, n + b"a", b"0x" + n, b"-" + n, b"1e3", b"", b"9" * 25, n + b" " + n,
                                 b"\xef\xbc\x95"])
    elif how == "tenotlast":
        rc.minor, rc.hosts = 1, rc.hosts or [b"x"]
        rc.framing = "chunked"
        rc.te = rng.choice([[b"chunked, gzip"], [b"gzip"], [b"identity"], [b"chunked", b"gzip"],
                            [b"chunked, chunked"], [b"chunked", b"chunked"], [b""]])
    elif how == "te10":
        rc.minor, rc.framing, rc.te = 0, "chunked", [b"chunked"]
    elif how == "nohost":
        rc.minor, rc.hosts = 1, []
        rc.conn = None if rc.conn and b"host" in rc.conn.lower() else rc.conn
    elif how == "duphost":
        rc.hosts = [b"a.test", rng.choice([b"a.test", b"b.test"])]
    elif how == "manycrlf":
        rc.lead = rng.randint(9, 2000)  # ringlb skips at most 8
    elif how == "badmethod":
        rc.method = rng.choice([b"GE(T", b"G\x00T", b"GET\t", b"", b"G\xffT", b"\x00"])
    elif how == "badtarget":
        rc.target = rc.target + rng.choice([b" x", b"\x01", b"\x7f", b"\xff"])
    elif how == "bigtarget":
        rc.target = rc.target + b"?" + b"a" * rng.randint(8200, 12000)
    return rc, "bad", how, REFUSE_HEAD


# ---------------------------------------------------------------- corpus

def corpus_message(rng, rid, case, mutate):
    """An llhttp corpus message; its first request line gets our id headers."""
    data = bytearray(case)
    if mutate:
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            if not data:
                break
            i = rng.randrange(len(data))
            if op < 0.3:
                data[i] = rng.randrange(256)
            elif op < 0.5:
                del data[rng.randint(1, len(data)):]
            elif op < 0.7:
                j = rng.randint(i, min(len(data), i + 64))
                data[i:i] = data[i:j]
            elif op < 0.85:
                data[i:i] = rng.choice([b"\r\n", b"\n", b"\r", b" ", b"\x00", b":", b";"])
            else:
                del data[i]
    data = bytes(data)
    nl = data.find(b"\n")
    first = data[:nl] if nl >= 0 else b""
    parts = first.split(b" ")
    has_line = nl > 0 and len(parts) >= 3 and parts[-1].rstrip(b"\r").startswith(b"HTTP/")
    if has_line:
        variant = variants.encode("cl", rng.randint(0, 300), rng.randint(0, 999))
        data = data[:nl + 1] + b"X-Fuzz-Id: " + rid.encode() + b"\r\nX-Fuzz-Resp: " + variant.encode() + b"\r\n" + data[nl + 1:]
        method = parts[0]
        minor = 1 if parts[-1].rstrip(b"\r") == b"HTTP/1.1" else 0
        return Req(rid, data, len(data), method, minor, None, "corpus", why="corpus", variant=variant)
    return Req(None, data, len(data), b"", -1, None, "corpus", why="corpus (no request line)")


def simple_valid(rng, rid):
    """A plain keep-alive HTTP/1.1 request with a well-behaved answer (corpus framing)."""
    rc = Recipe(rid, method=rng.choice([b"GET", b"POST"]), target=b"/f/" + rid.encode())
    if rc.method == b"POST":
        rc.framing, rc.body = "cl", (rid.encode() + b";") * rng.randint(0, 20)
    rc.variant = variants.encode(rng.choice(["cl", "ch"]), rng.randint(0, 300), rng.randint(0, 999))
    rc.order_seed = rng.randint(0, 1 << 30)
    return to_req(rc, "valid", "grammar")


# ---------------------------------------------------------------- streams

def iteration(seed, it, max_clients, corpus_cases):
    """The streams of one iteration: a pure function of (seed, it)."""
    rng = random.Random("%s:%d" % (seed, it))
    streams = []
    for c in range(rng.randint(1, max_clients)):
        split_seed = rng.randint(0, 1 << 30)
        if corpus_cases and rng.random() < 0.15:
            a = simple_valid(rng, rid_of(it, c, 0))
            case = rng.choice(corpus_cases)
            mid = corpus_message(rng, rid_of(it, c, 1), case[1], mutate=rng.random() < 0.5)
            mid.why = "corpus: " + case[0]
            b = simple_valid(rng, rid_of(it, c, 2))
            streams.append(Stream(c, "pipe", [a, mid, b], split_seed, corpus=True))
            continue
        reqs = []
        for r in range(rng.randint(1, 6)):
            rid, sid = rid_of(it, c, r), rid_of(it, c, r, "s")
            if rng.random() < 0.14:
                rc, kind, why, refuse = bad_request(rng, rid, sid)
                reqs.append(to_req(rc, kind, why, refuse))
            else:
                rc, smuggled = valid_recipe(rng, rid, sid)
                reqs.append(to_req(rc, "valid", "grammar", smuggled=smuggled))
        mode = "pipe" if rng.random() < 0.55 else "seq"
        streams.append(Stream(c, mode, reqs, split_seed))
    return streams


def write_plan(stream, data, part):
    """How the bytes of a stream (or of one request, in seq mode) are cut into
    writes: (bytes, pause before) pairs, deterministic per stream and part."""
    if stream.whole:
        return [(data, 0.0)]
    rng = random.Random("split/%d/%d" % (stream.split_seed, part))
    out, i = [], 0
    while i < len(data):
        n = len(data) - i if rng.random() < 0.35 else rng.randint(1, max(1, min(len(data) - i, rng.choice([3, 40, 700, 20000]))))
        out.append((data[i:i + n], 0.001 if rng.random() < 0.2 else 0.0))
        i += n
    return out


def copy_stream(s, reqs=None):
    return replace(s, reqs=list(s.reqs if reqs is None else reqs))
