#!/usr/bin/env python3
"""Runs every tests/integration/test_*.py test function and prints
'integration: N passed, N failed'. Exit status 1 if any failed.
An argument selects tests whose name contains it; RINGLB_SKIP_MODULES
(comma-separated module names) leaves whole modules out."""
import importlib
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main(argv):
    only = argv[1] if len(argv) > 1 else ""
    passed = failed = 0
    skip = set(filter(None, os.environ.get("RINGLB_SKIP_MODULES", "").split(",")))
    for name in sorted(os.listdir(HERE)):
        if not (name.startswith("test_") and name.endswith(".py")) or name[:-3] in skip:
            continue
        mod = importlib.import_module(name[:-3])
        for fn_name in sorted(n for n in dir(mod) if n.startswith("test_")):
            full = "%s.%s" % (name[:-3], fn_name)
            if only not in full:
                continue
            t0 = time.monotonic()
            try:
                getattr(mod, fn_name)()
                passed += 1
                print("PASS %s (%.2fs)" % (full, time.monotonic() - t0), flush=True)
            except Exception:
                failed += 1
                print("FAIL %s" % full, flush=True)
                traceback.print_exc()
    print("integration: %d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
