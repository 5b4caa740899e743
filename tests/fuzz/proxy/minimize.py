"""Shrinks a failing iteration: drop clients, drop requests, halve bodies and
response sizes, drop optional headers, write each stream in one piece; keep
each change while the same invariant still fails against a fresh ringlb.

Failures that depend on timing may not fail on every run, so a candidate is
tried up to ATTEMPTS times; the whole search is bounded in time."""
import time
from dataclasses import replace

import gen
import variants
from iteration import run_once

ATTEMPTS = 2
REPRO_ATTEMPTS = 3


class Minimizer:
    def __init__(self, binary, it, invariant, budget):
        self.binary, self.it, self.invariant = binary, it, invariant
        self.deadline = time.monotonic() + budget
        self.runs = 0

    def out_of_time(self):
        return time.monotonic() > self.deadline

    def fails(self, streams, attempts=ATTEMPTS):
        memory = self.invariant in ("fd-leak", "rss-growth")
        for _ in range(attempts):
            if self.out_of_time():
                return False
            self.runs += 1
            found, _ = run_once(self.binary, streams, self.it, memory=memory)
            if any(f.invariant == self.invariant for f in found):
                return True
        return False

    def reproduces(self, streams):
        return self.fails(streams, REPRO_ATTEMPTS)

    def run(self, streams):
        """The smallest failing streams found in the time budget."""
        cur = [gen.copy_stream(s) for s in streams]
        progress = True
        while progress and not self.out_of_time():
            progress = False
            # One write per stream (fewer timing effects in what follows).
            for si in range(len(cur)):
                if not cur[si].whole:
                    cand = cur[:si] + [replace(cur[si], whole=True)] + cur[si + 1:]
                    if self.fails(cand):
                        cur, progress = cand, True
            # Whole clients.
            for i in range(len(cur) - 1, -1, -1):
                if len(cur) > 1 and i < len(cur):
                    cand = cur[:i] + cur[i + 1:]
                    if self.fails(cand):
                        cur, progress = cand, True
            # Requests, last first (the failure usually needs what comes before).
            for si in range(len(cur)):
                for ri in range(len(cur[si].reqs) - 1, -1, -1):
                    if len(cur[si].reqs) > 1 and ri < len(cur[si].reqs):
                        s = cur[si]
                        cand = cur[:si] + [gen.copy_stream(s, s.reqs[:ri] + s.reqs[ri + 1:])] + cur[si + 1:]
                        if self.fails(cand):
                            cur, progress = cand, True
            # Simpler requests: each shrinker proposes candidates; the first that still fails is kept.
            for si in range(len(cur)):
                for ri in range(len(cur[si].reqs)):
                    for shrink in SHRINKERS:
                        while not self.out_of_time():
                            kept = None
                            for smaller in shrink(cur[si].reqs[ri]):
                                cand = self._with(cur, si, ri, smaller)
                                if self.fails(cand):
                                    kept = cand
                                    break
                            if kept is None:
                                break
                            cur, progress = kept, True
        return cur

    @staticmethod
    def _with(streams, si, ri, req):
        s = streams[si]
        reqs = list(s.reqs)
        reqs[ri] = req
        return streams[:si] + [gen.copy_stream(s, reqs)] + streams[si + 1:]



# Shrinkers: each yields simpler versions of a request (nothing if it cannot).

def _redo(req, **changes):
    rc = replace(req.recipe, **changes)
    return gen.rerender(replace(req, recipe=rc))


def halve_body(req):
    rc = req.recipe
    if rc is None or not rc.body or rc.bad in ("cllist", "badcl"):
        return
    body = rc.body[:len(rc.body) // 2]
    if rc.framing == "chunked" and not body:
        return
    new = _redo(req, body=body)
    new.smuggled = [sid for sid in req.smuggled if sid.encode() in body]
    yield new


def halve_response(req):
    v = variants.decode(req.variant)
    if req.recipe is not None and v is not None and v.length > 0:
        yield _redo(req, variant=variants.encode(v.kind, v.length // 2, v.sub))


def plain_variant(req):
    """A plain Content-Length answer instead of a fancier one."""
    v = variants.decode(req.variant)
    if req.recipe is not None and v is not None and v.kind != "cl":
        yield _redo(req, variant=variants.encode("cl", v.length, v.sub))


def drop_extra(req):
    rc = req.recipe
    for i in range(len(rc.extras) if rc is not None else 0):
        yield _redo(req, extras=rc.extras[:i] + rc.extras[i + 1:])


def drop_connection(req):
    if req.recipe is not None and req.recipe.conn is not None:
        yield _redo(req, conn=None)


def plain_target(req):
    rc = req.recipe
    plain = b"/f/" + req.rid.encode() if req.rid else None
    if rc is not None and plain and rc.target != plain and rc.bad not in ("badtarget", "bigtarget"):
        yield _redo(req, target=plain)


def no_lead(req):
    rc = req.recipe
    if rc is not None and rc.lead and rc.bad != "manycrlf" and req.why != "somecrlf":
        yield _redo(req, lead=0)


SHRINKERS = (halve_body, halve_response, plain_variant, drop_extra, drop_connection, plain_target, no_lead)


def describe(streams):
    """The streams as Python bytes literals, with each request's model and the
    server's answer variant."""
    out = []
    for s in streams:
        out.append("client %d, %s%s:" % (s.client, "pipelined" if s.mode == "pipe" else "one request after another",
                                          ", each stream in one write" if s.whole else ""))
        for r in s.reqs:
            v = variants.decode(r.variant)
            out.append("  # %s %s (%s%s); server answer: %s" % (r.rid or "(no id)", r.kind, r.why,
                                                               ", refuse at " + r.refuse if r.refuse else "",
                                                               describe_variant(v)))
            out.append("  " + literal(r.raw))
    return "\n".join(out)


def literal(raw, limit=4096):
    """A Python expression for raw: a long run of leading CRLFs as a
    product, the rest as a bytes literal (cut at limit)."""
    lead = 0
    while raw[2 * lead:2 * lead + 2] == b"\r\n":
        lead += 1
    prefix = ""
    if lead > 4:
        prefix, raw = "b'\\r\\n' * %d + " % lead, raw[2 * lead:]
    text = repr(raw[:limit])
    if len(raw) > limit:
        text += " + ... (%d more bytes)" % (len(raw) - limit)
    return prefix + text


def describe_variant(v):
    if v is None:
        return "default (200, small body)"
    what = {
        "cl": "Content-Length body", "ch": "chunked body", "1xx": "1xx then the final response",
        "204": "204", "304": "304", "connclose": "Content-Length body, Connection: close, then close",
        "eof": "body read until close", "early": "answer before reading the request body, then close",
        "midclose": "close in the middle of the body", "drop": "close after reading the request, no answer",
        "invalid": "invalid response", "slow": "answer after timeout_server", "noread": "never read, never answer",
    }[v.kind]
    return "%s, %d body bytes (%s)" % (what, v.length, v)
