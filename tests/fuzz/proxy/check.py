"""The invariants, checked after every iteration against what the clients
received (client.Transcript) and what the servers received (recorder.Record).

Each failure names its invariant, so the minimiser can keep the same one.
Where the behaviour contract leaves room (a 502/504 for a misbehaving
server, a refusal of an ambiguous request, a close after `Connection: close`)
nothing is flagged; such observations go to notes at most.
"""
import re
from dataclasses import dataclass, field

from proxy_process import RETRIES

# An idempotent request may reach servers once, once more on a fresh
# connection when its pooled one was dead, and once per retry after a
# reset (retry_on's default); a non-idempotent one only once.
MAX_RECEIPTS = 2 + RETRIES

import variants

# What ringlb itself may answer (README); all of them end the connection.
PROXY_ERRORS = {400, 408, 414, 431, 500, 501, 502, 503, 504, 505}
# Refusals of the request itself (as opposed to a failing server).
REFUSALS = {400, 414, 431, 501, 505}
ID_RE = re.compile(rb"([isz])(\d+)c(\d+)r\d")


@dataclass
class Failure:
    invariant: str
    client: int               # -1: not one client's
    message: str
    evidence: str = ""

    def __str__(self):
        who = "client %d: " % self.client if self.client >= 0 else ""
        return "[%s] %s%s%s" % (self.invariant, who, self.message,
                                ("\n    " + self.evidence.replace("\n", "\n    ")) if self.evidence else "")


@dataclass
class ClientView:
    """What one client's transcript says about its requests."""
    limit: int = 0            # requests after this index must not have reached a server
    desynced: bool = False    # the transcript failed: where the connection "ended" is not known
    refused: set = field(default_factory=set)   # indices the proxy refused
    got_502: list = field(default_factory=list)


def short(b, n=300):
    if b is None:
        return "None"
    return repr(b[:n]) + ("... (%d bytes)" % len(b) if len(b) > n else "")


def first_diff(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def diff_evidence(got, want):
    i = first_diff(got, want)
    return ("got %d bytes, expected %d; first difference at offset %d:\n  got:      %s\n  expected: %s"
            % (len(got), len(want), i, short(got[max(0, i - 20):i + 120], 200),
               short(want[max(0, i - 20):i + 120], 200)))


def ends_connection(r):
    return r.echo is None or r.conn_close or r.framing == "eof" or not r.complete


def check_content(req, r, client, fails, notes):
    """A backend response relayed to its own client: status, 1xx and body."""
    v = variants.decode(req.variant)
    for status, echo in r.interim:
        if echo != req.rid:
            fails.append(Failure("foreign-interim", client, "a %d for %s carries echo %r" % (status, req.rid, echo)))
    if v is None:
        return
    if v.kind in ("drop", "noread"):
        fails.append(Failure("answer-from-silent-server", client,
                             "%s (%s) got a response, but its server never answers" % (req.rid, v), short(r.head)))
        return
    if v.kind == "invalid":
        fails.append(Failure("invalid-response-relayed", client,
                             "%s: the server's invalid response was relayed instead of a 502" % req.rid, short(r.head)))
        return
    p = variants.plan(req.rid, req.method, req.minor, v, req.expect)
    if r.status != p.status:
        fails.append(Failure("response-status-mismatch", client,
                             "%s (%s): status %d, the server sent %d" % (req.rid, v, r.status, p.status), short(r.head)))
        return
    if not p.has_body:
        return
    if r.complete:
        if r.body != p.body:
            name = "fabricated-end" if v.kind == "midclose" else "response-body-mismatch"
            fails.append(Failure(name, client, "%s (%s, method %r): body differs from what the server sent"
                                 % (req.rid, v, req.method), diff_evidence(r.body, p.body) + "\n  head: " + short(r.head)))
        return
    if v.kind != "midclose":
        fails.append(Failure("truncated-response", client, "%s (%s, method %r): response cut short (%d of %d body "
                             "bytes, %s framing not ended) although the server sent it whole"
                             % (req.rid, v, req.method, len(r.body), len(p.body), r.framing),
                             "head: %s\n  body: %s" % (short(r.head), short(r.body))))
    elif not p.body.startswith(r.body):
        fails.append(Failure("response-body-mismatch", client, "%s (%s): truncated body is not a prefix of the "
                             "server's" % (req.rid, v), diff_evidence(r.body, p.body)))


def check_client(t, it, fails, notes):
    """Invariants 3 and 4 for one transcript; returns the ClientView the
    server-side checks need."""
    before = len(fails)
    view = _check_client(t, it, fails, notes)
    view.desynced = len(fails) > before
    return view


def _check_client(t, it, fails, notes):
    s = t.stream
    c = s.client
    reqs = s.reqs
    view = ClientView(limit=len(reqs) - 1)
    ids = {r.rid: k for k, r in enumerate(reqs) if r.rid}
    # Never a byte of another client's response (ids carry iteration and client).
    for m in ID_RE.finditer(t.raw):
        if (int(m.group(2)), int(m.group(3))) != (it, c):
            i = m.start()
            fails.append(Failure("foreign-bytes", c, "received another client's id %r" % m.group(0),
                                 "context: " + short(t.raw[max(0, i - 150):i + 150], 400)))
            break
    due = 0          # next request whose final response is due
    ended = False
    for r in t.responses:
        if r.echo is None:
            req = reqs[due] if due < len(reqs) else None
            if r.status not in PROXY_ERRORS:
                fails.append(Failure("response-without-echo", c, "status %d without X-Fuzz-Echo" % r.status, short(r.head)))
            elif req is not None and req.kind == "valid" and r.status in REFUSALS and not (s.corpus and due > 0):
                # (after a corpus message the refusal may be for its leftover bytes, not for B)
                fails.append(Failure("valid-request-refused", c, "%s (%s) refused with %d" % (req.rid, req.why, r.status),
                                     short(req.raw, 400)))
            if r.status == 502 and req is not None:
                view.got_502.append(due)
            if r.status in REFUSALS:  # (not 408: a timeout, the request may have been forwarded)
                view.refused.add(due)
            # A refused head may not have parsed, so its method is unknown and
            # the refusal carries a body (harmless: the connection closes). A
            # 502/503/504 answers a parsed HEAD and must have none.
            if req is not None and req.method == b"HEAD" and r.body and r.status not in REFUSALS:
                notes.append("error answer to a HEAD request carries a body (%d)" % r.status)
            view.limit = due
            ended = True
            break
        if r.echo == "anon":
            if not s.corpus:
                fails.append(Failure("anonymous-response", c, "a response for a request without id", short(r.head)))
                return view
            if r.complete and r.framing != "none" and r.body != variants.ANON_BODY:
                fails.append(Failure("response-body-mismatch", c, "anonymous response body",
                                     diff_evidence(r.body, variants.ANON_BODY)))
            if ends_connection(r):
                view.limit, ended = r.idx, True
                break
            continue
        j = ids.get(r.echo)
        if j is None:
            m = ID_RE.match(r.echo.encode())
            own = m and (int(m.group(2)), int(m.group(3))) == (it, c)
            fails.append(Failure("unknown-echo" if own else "foreign-response", c,
                                 "got a response for %r, expected one for %r" % (r.echo, reqs[due].rid if due < len(reqs) else None),
                                 short(r.head)))
            return view
        if j != due:
            skipped_ok = s.corpus and all(reqs[k].kind == "corpus" for k in range(due, j))
            if not skipped_ok:
                fails.append(Failure("response-order", c, "got the response for %s while %s's was due"
                                     % (r.echo, reqs[due].rid if due < len(reqs) else "none"), short(r.head)))
                return view
        req = reqs[j]
        if req.kind == "bad":
            fails.append(Failure("refused-request-answered", c, "%s (%s) must be refused, got a server's %d"
                                 % (req.rid, req.why, r.status), short(req.raw, 400)))
        check_content(req, r, c, fails, notes)
        due = j + 1
        if ends_connection(r):
            view.limit, ended = j, True
            break
        if req.closes and req.kind == "valid":
            notes.append("response to a request with Connection: close (or HTTP/1.0 without keep-alive) kept "
                         "the connection open (%s, Connection: %r)" % (req.rid, req.recipe.conn if req.recipe else None))
    if t.end == "hang":
        fails.append(Failure("hang", c, "no response for %s, connection open, nothing moved (%s)"
                             % (reqs[due].rid if due < len(reqs) else "?", t.why), last_response(t)))
        view.limit = len(reqs)
        return view
    if t.end == "malformed":
        fails.append(Failure("malformed-response", c, t.why, short(t.raw[-600:], 600)))
        view.limit = len(reqs)
        return view
    if t.end == "connect_failed":
        fails.append(Failure("connect-failed", c, t.why))
        return view
    if ended:
        if t.end == "not_closed":
            fails.append(Failure("not-closed-after-end", c, "the connection stayed open after a response that ends it",
                                 last_response(t)))
        if t.extra:
            fails.append(Failure("extra-bytes-after-end", c, "bytes after the last response", short(t.extra)))
        return view
    if due < t.sent:
        if reqs[due].kind in ("bad", "ambiguous") and not (s.corpus and due >= 1):
            # README: refused "with 400 and the connection closed"; a bare close leaves the client guessing
            fails.append(Failure("refused-without-answer", c, "connection closed at %s (%s) without an error "
                                 "answer" % (reqs[due].rid, reqs[due].why), last_response(t)))
            view.refused.add(due)
        elif not (s.corpus and due >= 1):
            fails.append(Failure("closed-without-reason", c, "connection closed with %s unanswered (%s)"
                                 % (reqs[due].rid, reqs[due].why), last_response(t) +
                                 ("\n partial head: " + short(t.partial_head) if t.partial_head else "")))
        view.limit = due
    else:
        view.limit = t.sent - 1
        if t.extra:
            fails.append(Failure("extra-bytes", c, "bytes after the last response", short(t.extra)))
    return view


def last_response(t):
    if not t.responses:
        return "no response at all"
    r = t.responses[-1]
    return "last response: %s body=%s complete=%s" % (short(r.head, 200), short(r.body, 120), r.complete)


@dataclass
class Registry:
    """Every request generated in this run, by id; receipt counts per id."""
    reqs: dict = field(default_factory=dict)       # rid -> (req, stream, iteration, index)
    receipts: dict = field(default_factory=dict)   # rid -> heads received by a server
    by_pos: dict = field(default_factory=dict)     # (iteration, client, index) -> same as reqs

    def add(self, streams, it):
        for s in streams:
            for k, r in enumerate(s.reqs):
                if r.rid:
                    self.reqs[r.rid] = self.by_pos[(it, s.client, k)] = (r, s, it, k)


AMBIGUOUS_BODY_LEVEL = {"zeropad"}


def check_servers(records, registry, views, iter_has_corpus, fails, notes):
    """Invariants 1 and 2: what reached the servers.

    views: {(iteration, client): ClientView} for the streams just run."""
    by_rid = {}
    for rec in records:
        if rec.status == "unparseable":
            fails.append(Failure("unparseable-at-server", -1, "server %s conn %d request #%d: %s"
                                 % (rec.server, rec.conn, rec.seq, rec.why), "bytes: " + short(rec.raw, 600)))
            continue
        for n in rec.notes:
            notes.append("%s (%s)" % (n, rec.rid))
        if rec.rid is None:
            if rec.status == "complete" and rec.head and not iter_has_corpus:
                fails.append(Failure("request-without-id-at-server", -1, "server %s got a request nobody sent"
                                     % rec.server, short(rec.head, 500)))
            continue
        if rec.rid.startswith("s"):
            fails.append(Failure("smuggled-request-reached-server", -1, "server %s got %s, a request that was only "
                                 "ever part of a body" % (rec.server, rec.rid), short(rec.head, 500)))
            continue
        entry = registry.reqs.get(rec.rid)
        if entry is None:
            fails.append(Failure("unknown-id-at-server", -1, "server %s got id %s" % (rec.server, rec.rid),
                                 short(rec.head, 500)))
            continue
        req, stream, it, k = entry
        c = stream.client
        view = views.get((it, c))
        whole_head = bool(rec.head)
        by_rid.setdefault(rec.rid, []).append(rec)
        refused = req.kind == "bad" or (view is not None and k in view.refused)
        # Refused while streaming its body (bad chunked framing): its head may have gone ahead.
        body_level = (req.refuse == "body" or req.kind == "corpus" or
                      (req.kind == "ambiguous" and req.why in AMBIGUOUS_BODY_LEVEL))
        if refused and (not body_level or rec.status == "complete"):
            fails.append(Failure("refused-request-reached-server", c, "%s (%s) reached server %s (%s)"
                                 % (rec.rid, req.why, rec.server, rec.status),
                                 "sent: %s\n  received head: %s" % (short(req.raw, 400), short(rec.head, 400))))
        elif view is not None and k > view.limit and not view.desynced:
            fails.append(Failure("request-after-end-reached-server", c, "%s reached server %s although its "
                                 "connection ended at request #%d" % (rec.rid, rec.server, view.limit),
                                 short(rec.head, 400)))
        if whole_head:
            n = registry.receipts.get(rec.rid, 0) + 1
            registry.receipts[rec.rid] = n
            if n > 1 and not req.idempotent and req.method:
                fails.append(Failure("replayed-non-idempotent", c, "%s %s reached a server %d times"
                                     % (req.method.decode("latin-1"), rec.rid, n),
                                     receipts_evidence(by_rid[rec.rid], req)))
            elif n > MAX_RECEIPTS:
                fails.append(Failure("replayed-too-often", c, "%s reached a server %d times" % (rec.rid, n),
                                     receipts_evidence(by_rid[rec.rid], req)))
        if rec.status != "complete" or req.kind == "corpus":
            continue
        if rec.method != req.method:
            if stream.corpus:
                continue  # the corpus message before it may have taken its first bytes as a body
            fails.append(Failure("method-changed", c, "%s sent as %r, received as %r" % (rec.rid, req.method, rec.method),
                                 short(rec.head, 400)))
        elif rec.minor != req.minor:
            fails.append(Failure("version-changed", c, "%s sent as HTTP/1.%d, received as HTTP/1.%d"
                                 % (rec.rid, req.minor, rec.minor), short(rec.head, 400)))
        elif rec.body is not None and req.body is not None and rec.body != req.body:
            fails.append(Failure("body-mismatch-at-server", c, "%s (%s): the server got another body"
                                 % (rec.rid, req.why), diff_evidence(rec.body, req.body) +
                                 "\n  sent: " + short(req.raw, 400) + "\n  received head: " + short(rec.head, 400)))
    # A 502 for a request every copy of which the server answered well.
    for (it, c), view in views.items():
        for k in view.got_502:
            entry = registry.by_pos.get((it, c, k))
            if entry is None:
                continue
            req = entry[0]
            v = variants.decode(req.variant)
            got = by_rid.get(req.rid, [])
            if (req.kind == "valid" and v is not None and v.kind in variants.GOOD and got and
                    all(g.status == "complete" and g.answered == "full" for g in got)):
                fails.append(Failure("unexplained-502", c, "%s (%s) got 502 although its server answered it "
                                     "correctly" % (req.rid, v), receipts_evidence(got, req)))


def receipts_evidence(recs, req):
    lines = ["sent: " + short(req.raw, 300)]
    for r in recs:
        lines.append("server %s conn %d request #%d on it: %s, answered %s" % (r.server, r.conn, r.seq, r.status, r.answered))
    return "\n  ".join(lines)
