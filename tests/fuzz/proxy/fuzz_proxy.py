#!/usr/bin/env python3
"""Differential fuzzer of ringlb as a whole HTTP/1.1 reverse proxy.

Starts the given ringlb binary (workers = 1) in front of two recording
backends of its own, then runs iterations until --seconds have passed: each
iteration is 1..--clients concurrent client connections, each sending a
stream of 1..6 requests (pipelined, or one after another) built from a
grammar of valid requests, known-bad mutations a strict proxy must refuse,
and mutated messages of Node's llhttp corpus (--corpus, when the file
exists). The backends record what reaches them and answer as each request
asks (X-Fuzz-Resp: well-behaved, or a server that misbehaves). After every
iteration the invariants of check.py are checked: nothing refused or
unknown reaches a server, bodies arrive intact, no non-idempotent replay,
each client gets exactly its own responses in order, connections end when
they must, ringlb stays alive with no sanitizer report; periodically and at
the end, ringlb's open fds return to their start value (and its RSS stays
bounded, release build).

Usage:
  python3 tests/fuzz/proxy/fuzz_proxy.py --binary build/asan/ringlb [--seconds 20]
      [--seed N] [--clients 4] [--corpus build/llhttp_cases.tsv]
      [--replay SEED:ITER] [--verbose] [--keep-going] [--minimize-seconds 60]

Iteration ITER of seed SEED is a pure function of (SEED, ITER): --replay
SEED:ITER runs just that iteration against a fresh ringlb. On a failure the
driver prints the invariant with its evidence and the replay command, then
minimises the iteration (bounded by --minimize-seconds) and prints the
minimal streams as Python bytes literals. Exit status 0 when clean, 1 on any
invariant failure, 2 on a usage or start-up error. Loopback only; every
socket has a timeout and the run stops by itself.
"""
import argparse
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import corpus  # noqa: E402
import gen  # noqa: E402
import minimize  # noqa: E402
from iteration import Env, run_iteration, run_once  # noqa: E402

MEMORY_CHECK_EVERY = 15.0   # seconds of fuzzing between fd/RSS checks


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", required=True, help="the ringlb binary to test")
    ap.add_argument("--seconds", type=float, default=20, help="fuzzing time (default 20)")
    ap.add_argument("--seed", type=int, help="run seed (default: random, printed)")
    ap.add_argument("--clients", type=int, default=4, help="most concurrent clients per iteration (default 4)")
    ap.add_argument("--corpus", help="llhttp cases file (KIND TAB EXPECT TAB NAME TAB HEX); skipped if absent")
    ap.add_argument("--replay", metavar="SEED:ITER", help="run only this iteration, against a fresh ringlb")
    ap.add_argument("--verbose", action="store_true", help="one line per iteration, notes, failure details")
    ap.add_argument("--keep-going", action="store_true",
                    help="after a failure, restart ringlb and go on (each invariant minimised once)")
    ap.add_argument("--minimize-seconds", type=float, default=60, help="time bound of minimisation (0: none)")
    a = ap.parse_args(argv)
    if not os.access(a.binary, os.X_OK):
        ap.error("not an executable: %s" % a.binary)
    a.binary = os.path.abspath(a.binary)
    if a.clients < 1:
        ap.error("--clients must be at least 1")
    return a


def summary_line(it, streams, fails, elapsed):
    reqs = sum(len(s.reqs) for s in streams)
    kinds = ",".join("%s%d" % (s.mode[0], len(s.reqs)) + ("C" if s.corpus else "") for s in streams)
    return "iter %d: %d clients [%s], %d requests, %.2fs%s" % (
        it, len(streams), kinds, reqs, elapsed, ", %d FAILURES" % len(fails) if fails else "")


def report_failure(a, seed, it, streams, fails, corpus_cases, minimised):
    new = [f for f in fails if f.invariant not in minimised]
    if not new:
        # Every invariant here was reported in full before in this run: one line is enough.
        print("FAILURE in seed %d iteration %d: %s" % (seed, it, "; ".join(
            "[%s] %s" % (f.invariant, f.message[:150]) for f in fails[:3])))
        return
    print("\n" + "=" * 78)
    print("FAILURE in seed %d iteration %d: %d invariant violation(s)" % (seed, it, len(fails)))
    for f in fails[:8]:
        print("  " + str(f))
    if len(fails) > 8:
        print("  ... and %d more" % (len(fails) - 8))
    corpus_opt = " --corpus %s" % a.corpus if a.corpus and corpus_cases else ""
    print("replay: python3 %s --binary %s --replay %d:%d --clients %d%s"
          % (os.path.relpath(os.path.abspath(__file__)), a.binary, seed, it, a.clients, corpus_opt))
    first = new[0].invariant
    minimised.update(f.invariant for f in fails)
    if a.minimize_seconds <= 0:
        return
    print("minimising on [%s] (at most %gs)..." % (first, a.minimize_seconds))
    m = minimize.Minimizer(a.binary, it, first, a.minimize_seconds)
    t0 = time.monotonic()
    if not m.reproduces(streams):
        print("it did not fail again alone against a fresh ringlb (%d runs): it depends on timing or on earlier "
              "iterations. The streams of the iteration:" % m.runs)
        print(minimize.describe(streams))
        return
    small = m.run(streams)
    print("minimal streams after %d runs in %.0fs (still failing with [%s]):" % (m.runs, time.monotonic() - t0, first))
    print(minimize.describe(small))
    found, _ = run_once(a.binary, small, it, memory=first in ("fd-leak", "rss-growth"))
    for f in found:
        if f.invariant == first:
            print("  which gives: " + str(f))
            break
    print("=" * 78)


def replay(a, corpus_cases):
    seed, it = (int(x) for x in a.replay.split(":"))
    streams = gen.iteration(seed, it, a.clients, corpus_cases)
    print("replaying seed %d iteration %d: %d clients, %d requests"
          % (seed, it, len(streams), sum(len(s.reqs) for s in streams)))
    if a.verbose:
        print(minimize.describe(streams))
    fails, notes = run_once(a.binary, streams, it, memory=True)
    for n in sorted(set(notes)):
        print("note: " + n)
    if fails:
        report_failure(a, seed, it, streams, fails, corpus_cases, set())
        return 1
    print("replay: no failure")
    return 0


def main(argv=None):
    a = parse_args(argv)
    corpus_cases = corpus.load(a.corpus)
    if a.corpus and not corpus_cases:
        print("fuzz-proxy: no corpus at %s: corpus messages skipped" % a.corpus)
    if a.replay:
        return replay(a, corpus_cases)
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 31)
    print("fuzz-proxy: binary %s, seed %d, %gs, up to %d clients, corpus %d cases"
          % (a.binary, seed, a.seconds, a.clients, len(corpus_cases)))
    env = Env(a.binary)
    if a.verbose:
        print("ringlb pid %d, %d fds at start" % (env.proxy.proc.pid, env.proxy.fd_baseline))
    start = time.monotonic()
    paused = 0.0   # time spent reporting, minimising and restarting: not fuzzing
    next_memory = start + MEMORY_CHECK_EVERY
    n_streams = n_reqs = n_iters = 0
    failures, minimised, notes_seen, kinds = 0, set(), {}, {}
    it = 0
    try:
        while time.monotonic() - start - paused < a.seconds:
            streams = gen.iteration(seed, it, a.clients, corpus_cases)
            t0 = time.monotonic()
            fails, notes, _ = run_iteration(env, streams, it)
            n_iters += 1
            n_streams += len(streams)
            n_reqs += sum(len(s.reqs) for s in streams)
            for n in notes:
                notes_seen[n.split(" (")[0]] = notes_seen.get(n.split(" (")[0], 0) + 1
            if a.verbose:
                print(summary_line(it, streams, fails, time.monotonic() - t0))
            if not fails and time.monotonic() > next_memory:
                fails = env.memory_check()
                if a.verbose:
                    print("memory after iteration %d: %s" % (it, env.memory_figures()))
                next_memory = time.monotonic() + MEMORY_CHECK_EVERY
            if fails:
                t_pause = time.monotonic()
                failures += len(fails)
                for f in fails:
                    kinds[f.invariant] = kinds.get(f.invariant, 0) + 1
                fails += env.close()
                env = None
                report_failure(a, seed, it, streams, fails, corpus_cases, minimised)
                if not a.keep_going:
                    break
                env = Env(a.binary)
                paused += time.monotonic() - t_pause
                next_memory += time.monotonic() - t_pause
            it += 1
        elapsed = time.monotonic() - start - paused
        if env is not None:
            fails = env.memory_check()
            if a.verbose:
                print("memory at the end: %s" % env.memory_figures())
            fails += env.close()
            env = None
            if fails:
                failures += len(fails)
                print("\nFAILURE at the end of the run (seed %d, after iteration %d):" % (seed, it - 1))
                for f in fails:
                    print("  " + str(f))
    finally:
        if env is not None:
            env.close()
    for n, k in sorted(notes_seen.items()):
        print("note (%dx): %s" % (k, n))
    if kinds:
        print("failures by invariant: " + ", ".join("%s %d" % kv for kv in sorted(kinds.items())))
    print("fuzz-proxy: %d iterations, %d streams, %d requests in %.1fs: %.0f streams/min; %d failures (seed %d)"
          % (n_iters, n_streams, n_reqs, elapsed, n_streams * 60.0 / max(elapsed, 1e-9), failures, seed))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
