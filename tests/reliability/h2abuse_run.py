#!/usr/bin/env python3
"""h2abuse_run.py - runs the h2abuse client (h2abuse.c) against a fresh
tlogd (or tlog-witness with --witness) and watches the server (docs/RELIABILITY.md,
"HTTP/2 and network abuse").

Checks: every attack's expectation (reported by h2abuse: connection closed,
GOAWAY or streams reset; slowloris dropped at its deadline; the well-behaved
client served throughout, its latency reported); the server's RSS, sampled
every 50 ms from /proc/PID/status, stays below baseline + --rss-limit MB; and
afterwards the server is alive, healthy and still accepts an entry.

Usage: h2abuse_run.py BUILD_DIR [--witness] [--long] [--rss-limit MB]
"""
import argparse
import os
import shutil
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tlrel  # noqa: E402
from tlrel import Violation, log  # noqa: E402


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--witness", action="store_true")
    ap.add_argument("--long", action="store_true")
    ap.add_argument("--rss-limit", type=int, default=0, help="MB over the baseline")
    ap.add_argument("attacks", nargs="*")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    top = tlrel.tmpdir("h2abuse")
    port = tlrel.free_port()
    if a.witness:
        wdir = os.path.join(top, "witness")
        tlrel.init_witness(build, wdir, "reliability.test/h2abuse-witness")
        with open(os.path.join(top, "logs"), "w") as f:
            f.write("example.com/log/testdata example.com/log/testdata+33d7b496+"
                    "AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx\n")
        argv = [os.path.join(build, "tlog-witness"), "serve", "--dir", wdir, "--listen",
                "127.0.0.1:%d" % port, "--logs", os.path.join(top, "logs")]
        path = "/healthz"
    else:
        ldir = os.path.join(top, "log")
        tlrel.init_log(build, ldir, "reliability.test/h2abuse")
        argv = [os.path.join(build, "tlogd"), "serve", "--dir", ldir, "--listen",
                "127.0.0.1:%d" % port]
        path = "/checkpoint"
    limit = a.rss_limit or (768 if tlrel.sanitized() else 256)
    p = tlrel.Proc(argv, os.path.join(top, "server.stderr"))
    ok = False
    samples = []
    stop = threading.Event()
    try:
        tlrel.wait_healthy(port, p)
        if not a.witness:
            c = tlrel.Client(port)
            st, _, _ = c.post("/add", b"h2abuse warm-up entry")
            c.close()
            if st != 200:
                raise Violation("warm-up add: %d" % st)
        base = rss_kb(p.pid)

        def sampler():
            while not stop.is_set():
                r = rss_kb(p.pid)
                if r is not None:
                    samples.append((time.time(), r))
                time.sleep(0.05)

        th = threading.Thread(target=sampler, daemon=True)
        th.start()
        cmd = [os.path.join(build, "h2abuse"), "127.0.0.1", str(port), "--path", path,
               "--slow-limit", "45", "--idle", "500" if tlrel.sanitized() else "2000"]
        if not a.long:
            cmd.append("--quick")
        cmd += a.attacks
        t0 = time.time()
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=240)
        stop.set()
        th.join()
        out = r.stdout.decode(errors="replace")
        sys.stdout.write(out)
        peak = max(s[1] for s in samples) if samples else base
        log("server RSS: baseline %.1f MB, peak %.1f MB during %.0fs of abuse, now %.1f MB "
            "(limit +%d MB)" % (base / 1024, peak / 1024, time.time() - t0,
                                (rss_kb(p.pid) or 0) / 1024, limit))
        if not p.alive():
            raise Violation("the server died under abuse:\n%s" % p.tail())
        tlrel.wait_healthy(port, p, timeout=10)
        if not a.witness:
            c = tlrel.Client(port)
            st, _, _ = c.post("/add", b"h2abuse after the abuse")
            c.close()
            if st != 200:
                raise Violation("add after the abuse: %d" % st)
        if peak - base > limit * 1024:
            raise Violation("RSS grew by %.1f MB (limit %d MB)" % ((peak - base) / 1024, limit))
        if r.returncode != 0:
            raise Violation("h2abuse reported failed expectations (exit %d)" % r.returncode)
        p.term()
        tlrel.scan_logs(top)
        ok = True
    except (Violation, OSError, subprocess.TimeoutExpired) as e:
        log("VIOLATION: %s: %s" % (type(e).__name__, e))
        log("server stderr tail:\n%s" % p.tail())
    finally:
        stop.set()
        if p.alive():
            p.kill9()
    if ok:
        log("PASS")
        shutil.rmtree(top, ignore_errors=True)
        return 0
    log("FAIL; kept %s" % top)
    return 1


if __name__ == "__main__":
    sys.exit(main())
