#!/usr/bin/env python3
"""test_multilog.py - several logs in one `tlogd serve` (repeated --dir): each
log under the URL prefix of its origin's path, the longest prefix winning;
each answers as it does alone (its own checkpoint, entries, kind, tokens and
policy: DIR/policy before --policy); a path under no prefix is a 404 naming
the prefixes; --publish puts each log under its prefix at the origin;
`tlog audit` verifies each log through its prefix; the configurations that
cannot work are refused with a reason.
Usage: test_multilog.py BUILD_DIR
"""
import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from tltest import check, free_port, http, mkdtemp, run, summary, wait_port  # noqa: E402

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
TLOGD = os.path.join(BUILD, "tlogd")
TLOG = os.path.join(BUILD, "tlog")
TMP = mkdtemp("tl-multilog-")
EVENT = {"actor": {"id": "alice"}, "action": "doc.read", "resource": {"type": "doc", "id": "1"},
         "outcome": "success"}


def init(name, origin, kind="blob"):
    d = os.path.join(TMP, name)
    r = run(TLOGD, "init", "--dir", d, "--origin", origin, "--kind", kind)
    check(r.returncode == 0, "init %s" % origin)
    return d, r.stdout.strip()


def token(d, name, role):
    r = run(TLOGD, "token", "add", "--dir", d, "--name", name, "--role", role)
    return r.stdout.strip()


def witness_vkey():
    """A cosignature/v1 verifier key of a witness that never answers."""
    kp = os.path.join(TMP, "w.pem")
    run("openssl", "genpkey", "-algorithm", "ed25519", "-out", kp)
    der = subprocess.run(["openssl", "pkey", "-in", kp, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    pub = b"\x04" + der[-32:]
    name = "witness.example"
    kid = hashlib.sha256(name.encode() + b"\n" + pub).digest()[:4].hex()
    return "%s+%s+%s" % (name, kid, base64.b64encode(pub).decode())


def wait_size(url, size, tries=100):
    for _ in range(tries):
        st, body = http(url + "/checkpoint")
        if st == 200 and int(body.split(b"\n")[1]) >= size:
            return True
        time.sleep(0.1)
    return False


def main():
    blobs, blobs_key = init("blobs", "example.test/blobs")
    more, more_key = init("more", "example.test/blobs/more")
    h1, h1_key = init("h1", "example.test/audit-2027h1", "audit")
    h2, _ = init("h2", "example.test/audit-2027h2", "audit")
    witnessed, _ = init("witnessed", "example.test/witnessed")
    w1 = token(h1, "app", "writer")
    r1 = token(h1, "auditor", "reader")
    w2 = token(h2, "app", "writer")
    # Only this log waits for a witness that never answers: its own policy.
    with open(os.path.join(witnessed, "policy"), "w") as f:
        f.write("witness w1 %s http://127.0.0.1:9/\nquorum w1\n" % witness_vkey())
    pubdir = os.path.join(TMP, "origin")
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    err = open(os.path.join(TMP, "tlogd.err"), "w")
    p = subprocess.Popen([TLOGD, "serve", "--dir", blobs, "--dir", more, "--dir", h1, "--dir", h2,
                          "--dir", witnessed, "--listen", "127.0.0.1:%d" % port,
                          "--publish", "file://" + pubdir], stderr=err)
    try:
        check(wait_port(port), "tlogd serve with five logs listens")
        st, body = http(base + "/blobs/add", b"one entry")
        check(st == 200 and b"index 0" in body, "POST /blobs/add goes to the blobs log (%d)" % st)
        for i in range(3):
            st, body = http(base + "/blobs/more/add", b"entry %d" % i)
            check(st == 200 and (b"index %d" % i) in body,
                  "POST /blobs/more/add %d: the longer prefix wins" % i)
        check(wait_size(base + "/blobs", 1) and wait_size(base + "/blobs/more", 3),
              "both blob logs publish their checkpoints")
        st, body = http(base + "/blobs/checkpoint")
        check(st == 200 and body.split(b"\n")[:2] == [b"example.test/blobs", b"1"],
              "/blobs/checkpoint is the blobs log's, size 1")
        st, body = http(base + "/blobs/more/checkpoint")
        check(st == 200 and body.split(b"\n")[:2] == [b"example.test/blobs/more", b"3"],
              "/blobs/more/checkpoint is its own log's, size 3")
        for path in ("/checkpoint", "/blobsx/checkpoint", "/audit-2027h3/checkpoint", "/"):
            st, body = http(base + path)
            check(st == 404 and b"/blobs/" in body and b"/audit-2027h1/" in body
                  and body.count(b"\n") == 1,
                  "%s: 404 naming the logs' prefixes (%d %r)" % (path, st, body[:80]))
        # Audit logs: each with its own tokens.
        hj = {"Authorization": "Bearer " + w1, "Content-Type": "application/json"}
        st, body = http(base + "/audit-2027h1/audit/v1/events", json.dumps(EVENT).encode(), hj)
        check(st == 200 and json.loads(body)["receipts"][0]["event"]["submitter"] == "app",
              "an event recorded in audit-2027h1 with its writer token (%d)" % st)
        hj2 = {"Authorization": "Bearer " + w1, "Content-Type": "application/json"}
        st, body = http(base + "/audit-2027h2/audit/v1/events", json.dumps(EVENT).encode(), hj2)
        check(st == 401, "audit-2027h1's token is unknown to audit-2027h2: 401 (%d)" % st)
        hj2["Authorization"] = "Bearer " + w2
        st, body = http(base + "/audit-2027h2/audit/v1/events", json.dumps(EVENT).encode(), hj2)
        check(st == 200, "audit-2027h2 takes its own writer token (%d)" % st)
        st, body = http(base + "/audit-2027h1/audit/v1/events?actor=alice",
                        headers={"Authorization": "Bearer " + r1})
        ev = json.loads(body)["events"] if st == 200 else []
        check(len(ev) == 1 and ev[0]["index"] == 0 and ev[0]["event"]["actor"]["id"] == "alice",
              "a query of audit-2027h1 finds its one event (%d)" % st)
        st, body = http(base + "/blobs/audit/v1/events?actor=alice")
        check(st == 404, "a blob log under its prefix has no audit endpoints (%d)" % st)
        # The witnessed log's own policy holds its checkpoint back; the others publish.
        st, body = http(base + "/witnessed/checkpoint")
        check(st == 503, "DIR/policy applies to its log only: no published checkpoint (%d)" % st)
        # tlog audit through each prefix.
        for url, key, size in ((base + "/blobs", blobs_key, 1), (base + "/blobs/more", more_key, 3)):
            r = run(TLOG, "audit", url, "--key", key, "--json", "-q")
            ok = r.returncode == 0 and json.loads(r.stdout or "{}").get("size") == size
            check(ok, "tlog audit %s verifies size %d (%d %s)" % (url, size, r.returncode,
                                                                  r.stderr.strip()[:200]))
        # Publication: each log under its prefix at the origin.
        for _ in range(100):
            if os.path.exists(os.path.join(pubdir, "blobs", "more", "checkpoint")):
                break
            time.sleep(0.1)
        for rel, origin in (("blobs", b"example.test/blobs"), ("blobs/more", b"example.test/blobs/more"),
                            ("audit-2027h1", b"example.test/audit-2027h1")):
            path = os.path.join(pubdir, rel, "checkpoint")
            for _ in range(100):
                if os.path.exists(path):
                    break
                time.sleep(0.1)
            ok = os.path.exists(path) and open(path, "rb").read().split(b"\n")[0] == origin
            check(ok, "published %s/checkpoint is %s's" % (rel, origin.decode()))
        check(not os.path.exists(os.path.join(pubdir, "checkpoint")),
              "nothing published at the origin's root")
        st, body = http(base + "/blobs/more/tile/entries/000.p/3")
        path = os.path.join(pubdir, "blobs", "more", "tile", "entries", "000.p", "3")
        check(st == 200 and os.path.exists(path) and open(path, "rb").read() == body,
              "the published bundle under the prefix is the one served")
        check(h1_key.startswith("example.test/audit-2027h1+"), "audit-2027h1's key names it")
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(60)
        err.close()
        check(rc == 0, "tlogd with five logs exits 0 on SIGTERM")
    # Configurations refused with a reason.
    bare, _ = init("bare", "example.test")
    r = run(TLOGD, "serve", "--dir", blobs, "--dir", bare, "--listen", "127.0.0.1:%d" % free_port())
    check(r.returncode != 0 and "no path after its host" in r.stderr,
          "an origin without a path cannot be served beside others (%d)" % r.returncode)
    dup, _ = init("dup", "other.example/blobs")
    r = run(TLOGD, "serve", "--dir", blobs, "--dir", dup, "--listen", "127.0.0.1:%d" % free_port())
    check(r.returncode != 0 and "same URL prefix /blobs" in r.stderr,
          "two logs with one URL prefix are refused (%d)" % r.returncode)
    r = run(TLOGD, "serve", "--dir", blobs, "--dir", blobs)
    check(r.returncode == 2 and "given twice" in r.stderr, "the same --dir twice: exit 2")
    r = run(TLOGD, "serve", "--dir", blobs, "--dir", more, "--etcd", "http://127.0.0.1:1",
            "--node", "n1", "--publish", "file://" + pubdir)
    check(r.returncode == 2 and "one --dir" in r.stderr, "--etcd with several logs: exit 2")
    r = run(TLOGD, "init", "--dir", os.path.join(TMP, "x"), "--dir", os.path.join(TMP, "y"),
            "--origin", "example.test/x")
    check(r.returncode == 2 and not os.path.exists(os.path.join(TMP, "x")),
          "init with two --dir: exit 2, nothing created")
    return summary("several logs in one process")


if __name__ == "__main__":
    sys.exit(main())
