"""The failover drill of issue #7, as users run it (scripts/failover-drill):
three servers, four keep-alive clients for 6 s; one is killed (its port
refuses, its connections reset): no client sees an error; a second fails its
health endpoint while still serving: it gets no traffic within interval x
fall + one interval; healed, it is back within interval x rise + one
interval."""
import json
import os
import subprocess
import sys
import tempfile

from harness import BINARY, ROOT

INTERVAL, FALL, RISE = 0.3, 3, 2


def test_failover_drill_kill_sicken_heal():
    fd, out = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        run = subprocess.run(
            [sys.executable, os.path.join(ROOT, "scripts", "failover-drill"), "--binary", BINARY,
             "--seconds", "6s", "--servers", "3", "--clients", "4", "--rate", "200",
             "--interval", "%dms" % (INTERVAL * 1000), "--timeout", "200ms", "--fall", str(FALL),
             "--rise", str(RISE), "--schedule", "1s:kill s1, 2s:sick s2, 4s:heal s2", "--json", out],
            capture_output=True, text=True, timeout=60)
        with open(out) as f:
            text = f.read()
    finally:
        os.unlink(out)
    report = run.stdout + run.stderr
    assert text, "the drill wrote no JSON (exit %d):\n%s" % (run.returncode, report[-4000:])
    doc = json.loads(text)
    assert doc["requests"] > 800, report
    assert doc["errors"] == 0, report
    kill, sick, heal = doc["events"]
    assert kill["state_change_after_s"] is not None and kill["traffic_after_s"] <= 0.1, report
    assert sick["traffic_after_s"] <= INTERVAL * (FALL + 1), report  # no traffic after that
    assert heal["traffic_after_s"] is not None and heal["traffic_after_s"] <= INTERVAL * (RISE + 1), report
    assert "Sanitizer" not in doc["log"] and "runtime error" not in doc["log"], doc["log"]
