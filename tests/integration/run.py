#!/usr/bin/env python3
"""Runs the integration scenarios: every tests/integration/test_*.py (or the
ones named on the command line). A scenario module defines setup() -> fixture,
test_* functions taking the fixture, and teardown(fixture) -> {gw: problem}
(crashes or sanitizer reports found after the run; each counts as a failure).
Prints one line per test and closes with 'N passed, N failed'."""
import importlib.util
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def load(path):
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


USAGE = """usage: run.py [--help] [SCENARIO.py ...]

Runs every tests/integration/test_*.py, or the scenario files named. The
gateway binary is $AILGATE_BIN, else the first of build/asan, build/release,
build/clang that has an ailgate. $RUN_ONLY, when set, keeps only the tests
whose names contain one of its comma-separated words. Exit status 0 when every test passed, 1
otherwise, 2 on bad usage."""


def main(argv):
    if any(a in ("-h", "--help") for a in argv):
        print(USAGE)
        return 0
    for a in argv:
        if a.startswith("-") or not os.path.isfile(a):
            print("run.py: %s is not a scenario file (run.py --help)" % a, file=sys.stderr)
            return 2
    files = argv or sorted(os.path.join(HERE, f) for f in os.listdir(HERE)
                           if f.startswith("test_") and f.endswith(".py"))
    passed = failed = 0
    for path in files:
        mod = load(path)
        name = os.path.basename(path)
        t0 = time.time()
        try:
            fixture = mod.setup() if hasattr(mod, "setup") else None
        except Exception:
            print("FAIL %s setup\n%s" % (name, traceback.format_exc()), flush=True)
            failed += 1
            continue
        try:
            only = [w for w in os.environ.get("RUN_ONLY", "").split(",") if w]
            for tname in [n for n in dir(mod) if n.startswith("test_") and
                          (not only or any(w in n for w in only))]:
                t1 = time.time()
                try:
                    getattr(mod, tname)(fixture)
                    passed += 1
                    print("ok   %s::%s (%.2fs)" % (name, tname, time.time() - t1), flush=True)
                except Exception:
                    failed += 1
                    print("FAIL %s::%s\n%s" % (name, tname, traceback.format_exc()), flush=True)
        finally:
            problems = mod.teardown(fixture) if hasattr(mod, "teardown") else {}
            for gw, what in (problems or {}).items():
                failed += 1
                print("FAIL %s: gateway %s: %s" % (name, gw, what), flush=True)
        print("---- %s done in %.1fs" % (name, time.time() - t0), flush=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
