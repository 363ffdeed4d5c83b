#!/usr/bin/env python3
"""console_bench.py - the web console's figures in headless chromium
(docs/PERFORMANCE.md "Web console"): page weight of everything the console
loads, time to first render of the status page, time from "Search" to a
rendered 100-row page, and the in-page verification of those 100 rows
(checkpoint signature and cosignatures once, then 100 commitments, leaves
and inclusion proofs, WebCrypto). Fills a fresh audit log with N events
first (default 100000), over HTTP in batches of 1000; with N of 10^6 or more
(or TL_BENCH_FILL=direct), straight into the log's folder with
bench_client_fill before serving it (the same kind of events, in a fraction
of the time).

Usage: console_bench.py BUILD_DIR [N] [RUNS]
Needs puppeteer-core (tests/console/puppeteer_install.sh, the test cache)
and chromium; prints one line per figure (median of RUNS, default 7).
"""
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
N = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
RUNS = int(sys.argv[3]) if len(sys.argv) > 3 else 7
PUPPETEER = os.environ.get("TL_PUPPETEER_DIR") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
    "tlogd-test", "puppeteer")


def main():
    tmp = tempfile.mkdtemp(prefix="tl-console-bench-")
    tlogd = os.path.join(BUILD, "tlogd")
    subprocess.run(["sh", os.path.join(HERE, "..", "tests", "console", "puppeteer_install.sh"),
                    PUPPETEER], check=True)
    d = os.path.join(tmp, "log")
    direct = N >= 1000000 or os.environ.get("TL_BENCH_FILL") == "direct"
    if direct:
        t0 = time.time()
        subprocess.run([os.path.join(BUILD, "bench_client_fill"), d, str(N), "example.test/bench",
                        "audit"], check=True)
        print("filled %d events directly in %.1f s" % (N, time.time() - t0), flush=True)
    else:
        subprocess.run([tlogd, "init", "--dir", d, "--origin", "example.test/bench", "--kind",
                        "audit"], check=True, capture_output=True)
    tok = {}
    for name, role in (("w", "writer"), ("r", "reader")):
        tok[role] = subprocess.run([tlogd, "token", "add", "--dir", d, "--name", name, "--role",
                                    role], check=True, capture_output=True,
                                   text=True).stdout.strip()
    err = open(os.path.join(tmp, "tlogd.log"), "w+")
    p = subprocess.Popen([tlogd, "serve", "--dir", d, "--listen", "127.0.0.1:0"], stderr=err)
    try:
        port = None
        for _ in range(200):
            err.seek(0)
            m = re.search(r"\(port (\d+)\)", err.read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.05)
        t0 = time.time()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for b in range(0, 0 if direct else N, 1000):
            n = min(1000, N - b)
            body = "\n".join(json.dumps({
                "actor": {"id": "user%d" % (i % 100)}, "action": "order.update",
                "resource": {"type": "order", "id": str(i)}, "outcome": "success",
                "details": {"amount": i, "note": "x" * 40}}) for i in range(b, b + n))
            c.request("POST", "/audit/v1/events", body,
                      {"Authorization": "Bearer " + tok["writer"],
                       "Content-Type": "application/x-ndjson"})
            r = c.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError("POST: %d" % r.status)
        if not direct:
            print("filled %d events in %.1f s" % (N, time.time() - t0), flush=True)
        # bench_client_fill's actors are user-0..user-999, the HTTP fill's user0..user99
        actor, share = ("user-7", "1 event in 1000") if direct else ("user7", "1 event in 100")
        cfg = {"base": "http://127.0.0.1:%d" % port, "reader": tok["reader"], "runs": RUNS,
               "actor": actor, "actor_share": share,
               "tmp": tmp, "chromium": shutil.which("chromium")}
        env = dict(os.environ, NODE_PATH=os.path.join(PUPPETEER, "node_modules"))
        r = subprocess.run(["node", os.path.join(HERE, "console_bench.js"), json.dumps(cfg)],
                           env=env)
        return r.returncode
    finally:
        p.terminate()
        p.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
