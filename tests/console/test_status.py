#!/usr/bin/env python3
"""GET /console/v1/status against a running tlogd (blob and audit logs):
its figures match GET /checkpoint and GET /metrics, before and after writes;
its verifier key, history, witnesses and security headers; the console's files.
Usage: test_status.py BUILD_DIR"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

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
    check(s["entries_added"] == metric(met, "tlogd_entries_added_total"),
          what + ": entries added as in /metrics")
    check(re.match(r"^%s\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*$" % re.escape(origin), s["vkey"] or ""),
          what + ": the log's verifier key")
    check(s["witnesses"] == [] and s["quorum"] == {"policy": False, "met": None, "reason": None},
          what + ": no policy, no witnesses")
    h = s["history"]
    check(h["step_s"] == 10 and h["max_points"] == 360 and 1 <= len(h["points"]) <= 360,
          what + ": history of at most 360 points of 10 s")
    check(all(p["size"] <= s["tree_size_published"] for p in h["points"]),
          what + ": history sizes up to the published size")
    check(isinstance(s["published_age_s"], float) and 0 <= s["published_age_s"] < 60,
          what + ": the checkpoint's age")
    for k in ("content-security-policy: default-src 'self'; frame-ancestors 'none'",
              "x-content-type-options: nosniff", "referrer-policy: no-referrer"):
        check(k in head, what + ": " + k.split(":")[0])
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
        # The next history point (10 s after the first) holds those adds: their
        # rate and their latency from tlogd_add_seconds.
        for _ in range(150 if os.environ.get("TL_SANITIZED") == "1" else 60):
            pts = json.loads(get(u + "/console/v1/status")[1])["history"]["points"]
            if len(pts) >= 2:
                break
            time.sleep(0.25)
        dt = pts[1]["t"] - pts[0]["t"] if len(pts) > 1 else 0
        check(len(pts) == 2 and 9900 <= dt <= 15000,
              "blob: a second history point 10 s after the first (%d ms)" % dt)
        p1 = pts[1] if len(pts) > 1 else {}
        check(p1.get("size") == 3 and dt and abs(p1.get("rate", 0) - 3000 / dt) < 0.02,
              "blob: that point has the size and the rate of the 3 adds (%r)" % p1)
        _, met = get(u + "/metrics")
        inf = metric(met.decode(), 'tlogd_add_seconds_bucket{le="\\+Inf"}')
        check(inf == 3 and p1.get("p50") is not None and 0 < p1["p50"] <= p1["p99"] <= 30,
              "blob: and the p50/p99 of their latency (%r)" % p1)
    finally:
        p.terminate()
        p.wait(30)
    check(not any("Sanitizer" in x or "runtime error" in x for x in lines), "no sanitizer report")
    d = os.path.join(TMP, "audit")
    subprocess.run([TLOGD, "init", "--dir", d, "--origin", "example.test/console-audit",
                    "--kind", "audit"], check=True, capture_output=True)
    p, u, lines = serve(d)
    try:
        s = check_status(u, "audit", "example.test/console-audit", "audit")
        _, lg = get(u + "/audit/v1/log")
        check(s["vkey"] == json.loads(lg)["vkey"], "audit: the vkey of GET /audit/v1/log")
        for path, ctype in (("/", "text/html"), ("/console/console.js", "text/javascript"),
                            ("/console/console.css", "text/css"),
                            ("/console/icon.svg", "image/svg+xml")):
            head, body = get(u + path)
            check(head.startswith("http/2 200") and ("content-type: " + ctype) in head and
                  "content-security-policy: default-src 'self'; frame-ancestors 'none'" in head
                  and re.search(r'^etag: "[0-9a-f]{16}"', head, re.M) is not None and body,
                  "audit: GET %s, %s with CSP and ETag" % (path, ctype))
        head, _ = get(u + "/console/nope")
        check(head.startswith("http/2 404"), "audit: an unknown console file is 404")
    finally:
        p.terminate()
        p.wait(30)
    check(not any("Sanitizer" in x or "runtime error" in x for x in lines), "no sanitizer report")
    # Several logs in one process: the console under each log's prefix, with
    # relative URLs only.
    one, two = os.path.join(TMP, "one"), os.path.join(TMP, "two")
    subprocess.run([TLOGD, "init", "--dir", one, "--origin", "example.test/one"],
                   check=True, capture_output=True)
    subprocess.run([TLOGD, "init", "--dir", two, "--origin", "example.test/two", "--kind",
                    "audit"], check=True, capture_output=True)
    p = subprocess.Popen([TLOGD, "serve", "--dir", one, "--dir", two, "--listen", "127.0.0.1:0"],
                         stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in p.stderr:
            lines.append(line)
            m = re.search(r"\(port (\d+)\)", line)
            if m and len([x for x in lines if "(port" in x]) == 2:
                break
        u = "http://127.0.0.1:%s" % m.group(1)
        for name, kind in (("one", "blob"), ("two", "audit")):
            head, html = get(u + "/%s/" % name)
            check(head.startswith("http/2 200") and b"<title>tlogd console</title>" in html,
                  "two logs: GET /%s/ is the console" % name)
            head, _ = get(u + "/%s/console/console.js" % name)
            check(head.startswith("http/2 200"), "two logs: /%s/console/console.js" % name)
            head, body = get(u + "/%s/console/v1/status" % name)
            st = json.loads(body)
            check(st["origin"] == "example.test/" + name and st["kind"] == kind,
                  "two logs: /%s/console/v1/status is its log's" % name)
        _, js = get(u + "/one/console/console.js")
        check(not re.search(rb'(src|href)="/', html) and
              not re.search(rb"(apiText|apiJSON)\('/", js),
              "the page and its script use relative URLs only")
    finally:
        p.terminate()
        p.wait(30)
    shutil.rmtree(TMP, ignore_errors=True)
    return summary("console status")


if __name__ == "__main__":
    sys.exit(main())
