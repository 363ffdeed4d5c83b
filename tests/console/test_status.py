#!/usr/bin/env python3
"""GET /console/v1/status against a running tlogd (blob and audit logs):
its figures match GET /checkpoint and GET /metrics, before and after writes.
Usage: test_status.py BUILD_DIR"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from tltest import check, summary  # noqa: E402

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
TLOGD = os.path.join(BUILD, "tlogd")
TMP = tempfile.mkdtemp(prefix="tl-console-")


def serve(d):
    p = subprocess.Popen([TLOGD, "serve", "--dir", d, "--listen", "127.0.0.1:0"],
                         stderr=subprocess.PIPE, text=True)
    lines = []
    while True:
        line = p.stderr.readline()
        if not line:
            raise RuntimeError("tlogd did not start: " + "".join(lines))
        lines.append(line)
        m = re.search(r"\(port (\d+)\)", line)
        if m:
            break
    threading.Thread(target=lambda: [lines.append(x) for x in p.stderr], daemon=True).start()
    return p, "http://127.0.0.1:%s" % m.group(1), lines


def get(url):
    r = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-D", "-", url],
                       capture_output=True, timeout=30)
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    return head.decode("latin-1").lower(), body


def metric(text, name):
    m = re.search(r"^%s (\d+)$" % name, text, re.M)
    return int(m.group(1)) if m else None


def check_status(u, kind, origin, what):
    head, body = get(u + "/console/v1/status")
    check("content-type: application/json" in head, what + ": JSON")
    check("cache-control: no-store" in head, what + ": no-store")
    s = json.loads(body)
    _, cp = get(u + "/checkpoint")
    _, met = get(u + "/metrics")
    met = met.decode()
    check(s["kind"] == kind, what + ": kind")
    check(s["origin"] == origin, what + ": origin")
    check(s["checkpoint"] == cp.decode(), what + ": checkpoint text is GET /checkpoint's")
    check(s["tree_size_published"] == metric(met, "tlogd_tree_size_published"),
          what + ": published size as in /metrics")
    check(s["tree_size_published"] == int(cp.decode().split("\n")[1]),
          what + ": published size as in the checkpoint")
    check(s["sequencer_stopped"] is False, what + ": running")
    return s


def main():
    d = os.path.join(TMP, "blob")
    subprocess.run([TLOGD, "init", "--dir", d, "--origin", "example.test/console"],
                   check=True, capture_output=True)
    p, u, lines = serve(d)
    try:
        s = check_status(u, "blob", "example.test/console", "blob, empty")
        check(s["tree_size_published"] == 0, "blob, empty: size 0")
        for i in range(3):
            subprocess.run(["curl", "-s", "--http2-prior-knowledge", "--data-binary",
                            "entry %d" % i, u + "/add"], check=True, capture_output=True)
        s = check_status(u, "blob", "example.test/console", "blob, 3 entries")
        check(s["tree_size_published"] == 3, "blob: size 3 after 3 adds")
    finally:
        p.terminate()
        p.wait(30)
    check(not any("Sanitizer" in x or "runtime error" in x for x in lines), "no sanitizer report")
    d = os.path.join(TMP, "audit")
    subprocess.run([TLOGD, "init", "--dir", d, "--origin", "example.test/console-audit",
                    "--kind", "audit"], check=True, capture_output=True)
    p, u, lines = serve(d)
    try:
        check_status(u, "audit", "example.test/console-audit", "audit")
    finally:
        p.terminate()
        p.wait(30)
    check(not any("Sanitizer" in x or "runtime error" in x for x in lines), "no sanitizer report")
    shutil.rmtree(TMP, ignore_errors=True)
    return summary("console status")


if __name__ == "__main__":
    sys.exit(main())
