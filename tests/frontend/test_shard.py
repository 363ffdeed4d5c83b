#!/usr/bin/env python3
"""test_shard.py - temporal shards: a log with a closing time, served beside
the next one in one process (`tlogd init --closes-at`, `tlogd close`).

Before its closing time the shard takes events; from it on every write is a
410 naming the time, nothing more is recorded from outside (its checkpoint
stays at its size, the next shard takes the events), every record's log time
is below the closing time, and reads with a reader token go on (and are
recorded in the shard's own access trail, which a closed log keeps). A blob
log closed offline with `tlogd close` answers POST /add with 410 and keeps
its size across a restart; a closed log stays closed; `close` on a served
log, a closing time in the past and misplaced options are refused.
Usage: test_shard.py BUILD_DIR
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from tltest import check, free_port, http, mkdtemp, run, summary, wait_port  # noqa: E402

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
TLOGD = os.path.join(BUILD, "tlogd")
TMP = mkdtemp("tl-shard-")
EVENT = {"actor": {"id": "alice"}, "action": "doc.read", "resource": {"type": "doc", "id": "1"},
         "outcome": "success"}


def rfc3339(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def size(url):
    st, body = http(url + "/checkpoint")
    return int(body.split(b"\n")[1]) if st == 200 else -1


def serve(dirs, name):
    port = free_port()
    args = [TLOGD, "serve", "--listen", "127.0.0.1:%d" % port, "--batch-interval", "5"]
    for d in dirs:
        args += ["--dir", d]
    err = open(os.path.join(TMP, name + ".err"), "w")
    p = subprocess.Popen(args, stderr=err)
    check(wait_port(port), "tlogd serve %s listens" % name)
    return p, "http://127.0.0.1:%d" % port


def stop(p):
    p.terminate()
    check(p.wait(30) == 0, "tlogd exits 0 on SIGTERM")


def main():
    sanitized = os.environ.get("TL_SANITIZED") == "1"
    ahead = 6000 if sanitized else 3000
    closes = int(time.time() * 1000) + ahead
    h1 = os.path.join(TMP, "h1")
    h2 = os.path.join(TMP, "h2")
    r = run(TLOGD, "init", "--dir", h1, "--origin", "example.test/audit-2026h2", "--kind",
            "audit", "--closes-at", rfc3339(closes))
    check(r.returncode == 0, "init --closes-at (%s)" % r.stderr.strip())
    r = run(TLOGD, "init", "--dir", h2, "--origin", "example.test/audit-2027h1", "--kind", "audit")
    check(r.returncode == 0, "init of the next shard")
    tok = {}
    for d in (h1, h2):
        for name, role in (("app", "writer"), ("auditor", "reader")):
            tok[d, role] = run(TLOGD, "token", "add", "--dir", d, "--name", name, "--role",
                               role).stdout.strip()
    p, base = serve([h1, h2], "audit")
    u1, u2 = base + "/audit-2026h2", base + "/audit-2027h1"

    def post(u, d):
        return http(u + "/audit/v1/events", json.dumps(EVENT).encode(),
                    {"Authorization": "Bearer " + tok[d, "writer"],
                     "Content-Type": "application/json"})

    n = 0
    while int(time.time() * 1000) < closes - 1000 and n < 20:
        st, _ = post(u1, h1)
        check(st == 200, "before its closing time the shard takes events (%d)" % st)
        n += 1
    check(n > 0, "events recorded before the closing time")
    time.sleep(max(0, closes - time.time() * 1000) / 1000 + 0.2)
    st, body = post(u1, h1)
    check(st == 410 and b"closed" in body and body.count(b"\n") <= 1,
          "after it: 410 with a one-line reason (%d %r)" % (st, body[:100]))
    st, body = http(u1 + "/audit/v1/k8s", b'{"kind":"EventList","apiVersion":"audit.k8s.io/v1",'
                    b'"items":[]}', {"Authorization": "Bearer " + tok[h1, "writer"],
                                     "Content-Type": "application/json"})
    check(st in (200, 410), "an empty webhook list changes nothing (%d)" % st)
    st, _ = post(u2, h2)
    check(st == 200, "the next shard takes the events (%d)" % st)
    s1 = size(u1)
    check(s1 == n, "the closed shard's checkpoint holds the %d events (%d)" % (n, s1))
    rh = {"Authorization": "Bearer " + tok[h1, "reader"]}
    st, body = http(u1 + "/audit/v1/events?limit=1000", None, rh)
    check(st == 200, "a closed shard is still read with a reader token (%d)" % st)
    evs = json.loads(body)["events"]
    times = [json.loads(e["record"])["time"] for e in evs if e["event"]["submitter"] == "app"]
    check(len(times) == n and max(times) < closes,
          "every event from outside has a log time below the closing time")
    time.sleep(0.3)
    st, body = http(u1 + "/audit/v1/events?action=audit.query&limit=10", None, rh)
    check(st == 200 and len(json.loads(body)["events"]) >= 1,
          "the read is recorded in the shard's own access trail")
    st, body = http(u1 + "/console/v1/status")
    j = json.loads(body) if st == 200 else {}
    check(j.get("closed") is True and j.get("closes_at_ms") == closes,
          "the console's status says the shard is closed, and when")
    st, body = http(u2 + "/console/v1/status")
    j = json.loads(body) if st == 200 else {}
    check(st == 200 and j.get("closed") is False and j.get("closes_at_ms") is None,
          "the next shard never closes")
    r = run(TLOGD, "close", "--dir", h1)
    check(r.returncode == 1 and "in use" in r.stderr, "close of a served log refused")
    stop(p)
    r = run(TLOGD, "close", "--dir", h1)
    check(r.returncode == 0 and "closed already" in r.stderr,
          "close of a closed log: nothing to do (%s)" % r.stderr.strip())
    r = run(TLOGD, "close", "--dir", h2, "--at", rfc3339(int(time.time() * 1000) + 86400000))
    check(r.returncode == 0, "a closing time ahead for the next shard")
    r = run(TLOGD, "close", "--dir", h2, "--at", "2020-01-01T00:00:00Z")
    check(r.returncode == 2 and "past" in r.stderr, "a closing time in the past: exit 2")

    # A blob log closed offline.
    b = os.path.join(TMP, "blob")
    check(run(TLOGD, "init", "--dir", b, "--origin", "example.test/blob").returncode == 0,
          "init blob")
    p, base = serve([b], "blob1")
    check(http(base + "/add", b"first")[0] == 200, "a blob log takes an entry")
    stop(p)
    r = run(TLOGD, "close", "--dir", b)
    check(r.returncode == 0 and "closes at" in r.stderr, "tlogd close (%s)" % r.stderr.strip())
    p, base = serve([b], "blob2")
    st, body = http(base + "/add", b"second")
    check(st == 410 and b"closed" in body, "POST /add to a closed log: 410 (%d)" % st)
    st, body = http(base + "/add", b"first")
    check(st == 410, "even a repeat: the log takes nothing (%d)" % st)
    check(size(base) == 1, "its checkpoint stays at size 1")
    stop(p)
    err = open(os.path.join(TMP, "blob2.err")).read()
    check("closed at" in err and "read-only" in err, "serve says the log is closed")
    r = run(TLOGD, "close", "--dir", b, "--at", rfc3339(int(time.time() * 1000) + 60000))
    check(r.returncode == 0 and "closed already" in r.stderr, "a closed log stays closed")
    for args, what in (((TLOGD, "serve", "--dir", b, "--at", "2030-01-01T00:00:00Z"), "serve --at"),
                       ((TLOGD, "init", "--dir", os.path.join(TMP, "x"), "--origin", "x/y",
                         "--at", "2030-01-01T00:00:00Z"), "init --at"),
                       ((TLOGD, "close", "--dir", b, "--closes-at", "2030-01-01T00:00:00Z"),
                        "close --closes-at"),
                       ((TLOGD, "close", "--dir", b, "--at", "soon"), "a bad time"),
                       ((TLOGD, "close"), "close without --dir")):
        r = run(*args)
        check(r.returncode == 2 and r.stderr.count("\n") == 1, "%s: exit 2, one line" % what)
    r = run(TLOGD, "close", "--dir", os.path.join(TMP, "none"))
    check(r.returncode == 1 and "no log" in r.stderr, "close of a folder without a log")
    return summary("temporal shards")


if __name__ == "__main__":
    sys.exit(main())
