#!/usr/bin/env python3
"""An audit log's erasure reaches the journal and the standbys (docs/HA.md,
"Erasure and the journal"): an etcd member and two tlogd nodes of one audit
log. Events are written, one of them (with a unique marker in its details)
is erased through the leader; then no file of the private store's journal
and no file of the standby's database holds the marker or the event's salt,
the standby serves the leader's checkpoint, and a third node made with
`tlogd init --keys` replays the rewritten journal to that checkpoint with no
trace of the body either. The events not erased are still in the journal
(the search finds what it looks for). Usage: test_erasure.py BUILD_DIR"""
import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hatest  # noqa: E402
from hatest import tltest  # noqa: E402

check = tltest.check
ORIGIN = "ha.test/audit"
SLOW = 3 if os.environ.get("TL_SANITIZED") == "1" else 1


def req(nodes, method, path, body, token, ctype="application/json"):
    """Sends to each live node in turn until one answers other than 503."""
    import urllib.request
    import urllib.error
    for _ in range(100):
        for nd in nodes:
            if not nd.alive():
                continue
            r = urllib.request.Request(nd.url(path), data=body, method=method, headers={
                "Authorization": "Bearer " + token, "Content-Type": ctype})
            try:
                with urllib.request.urlopen(r, timeout=10) as a:
                    return a.status, a.read()
            except urllib.error.HTTPError as e:
                if e.code != 503:
                    return e.code, e.read()
            except OSError:
                pass
        time.sleep(0.1)
    return 0, b""


def signed(nd):
    st, body = hatest.http("GET", nd.url("/metrics"), timeout=2)
    m = re.search(r"^tlogd_tree_size_signed ([0-9]+)$", body.decode(errors="replace"), re.M)
    return int(m.group(1)) if st == 200 and m else -1


def event(marker, i):
    return {"actor": {"id": "user-%d" % i, "type": "user"}, "action": "doc.read",
            "resource": {"type": "doc", "id": str(i)}, "outcome": "success",
            "details": {"note": marker}}


def main():
    build = sys.argv[1]
    tlogd = os.path.join(build, "tlogd")
    tmp = tltest.mkdtemp("tlogd-ha-erasure-")
    etcd = hatest.Etcd(tmp, n=1)
    d0, d1 = os.path.join(tmp, "node0"), os.path.join(tmp, "node1")
    subprocess.run([tlogd, "init", "--dir", d0, "--origin", ORIGIN, "--kind", "audit"],
                   check=True, stdout=subprocess.DEVNULL)
    def token(name, role):
        return subprocess.run([tlogd, "token", "add", "--dir", d0, "--name", name, "--role",
                               role], check=True, capture_output=True).stdout.decode().strip()
    admin, writer = token("ops", "admin"), token("app", "writer")
    shutil.copytree(d0, d1)
    origin, private = os.path.join(tmp, "origin"), os.path.join(tmp, "private")
    nodes = [hatest.Node(build, tmp, "n%d" % i, d, etcd.urls(), origin, private)
             for i, d in enumerate((d0, d1))]
    try:
        for nd in nodes:
            nd.start()
        leader = hatest.wait_leader(nodes)
        check(leader is not None, "one node leads")
        secret = "erase-me-" + secrets.token_hex(16)
        keep = "keep-me-" + secrets.token_hex(16)
        batch = [event(keep, 0), event(secret, 1), event(keep, 2)]
        st, body = req(nodes, "POST", "/audit/v1/events", json.dumps(batch).encode(), writer)
        check(st == 200, "a batch of 3 events is acknowledged (%d %r)" % (st, body[:100]))
        if st != 200:
            return tltest.summary("high-availability erasure")
        rc = json.loads(body)["receipts"][1]
        salt = base64.b64decode(rc["salt"])
        index = int(re.search(r"^index ([0-9]+)$", rc["proof"], re.M).group(1))
        for i in range(3, 6):  # more batches after it
            st, _ = req(nodes, "POST", "/audit/v1/events", json.dumps(event(keep, i)).encode(),
                        writer)
            check(st == 200, "event %d acknowledged" % i)
        check(tltest.files_holding(os.path.join(private, "journal"), [secret.encode()]),
              "before the erasure the journal holds the event")

        st, body = req(nodes, "POST", "/audit/v1/events/%d/erase" % index,
                       b"the customer asked (GDPR art. 17)", admin, "text/plain")
        check(st == 200 and json.loads(body)["event"]["action"] == "audit.erase",
              "the leader erases event %d (%d %r)" % (index, st, body[:120]))
        st, body = req(nodes, "GET", "/audit/v1/events/%d" % index, None, admin)
        check(st == 410, "the erased event is gone (%d %r)" % (st, body[:80]))

        leader = hatest.wait_leader(nodes)
        standby = [nd for nd in nodes if nd is not leader][0]
        ok = hatest.wait_until(lambda: signed(standby) == signed(leader) > 0, 15 * SLOW)
        check(ok, "the standby imported the erasure (size %d / %d)"
              % (signed(standby), signed(leader)))
        time.sleep(0.5)  # its compaction runs after the import
        needles = [secret.encode(), salt]
        left = tltest.files_holding(os.path.join(private, "journal"), needles)
        check(not left, "no journal object holds the erased body or salt %s" % left[:5])
        check(tltest.files_holding(os.path.join(private, "journal"), [keep.encode()]),
              "the journal still holds the events not erased")
        left = tltest.files_holding(os.path.join(standby.dir, "db"), needles)
        check(not left, "no file of the standby's database holds the erased body or salt %s"
              % left[:5])
        check(tltest.files_holding(os.path.join(standby.dir, "db"), [keep.encode()]),
              "the standby's database still holds the events not erased")
        # the leader compacts its own files after answering the erasure
        hatest.wait_until(lambda: not tltest.files_holding(os.path.join(leader.dir, "db"),
                                                           needles), 10 * SLOW)
        left = tltest.files_holding(os.path.join(leader.dir, "db"), needles)
        check(not left, "no file of the leader's database holds the erased body or salt %s"
              % left[:5])
        check(tltest.files_holding(os.path.join(leader.dir, "db"), [keep.encode()]),
              "the leader's database still holds the events not erased")

        # a node rebuilt from the keys replays the rewritten journal
        d2 = os.path.join(tmp, "node2")
        r = subprocess.run([tlogd, "init", "--dir", d2, "--origin", ORIGIN, "--kind", "audit",
                            "--keys", d0], capture_output=True)
        check(r.returncode == 0, "init --keys of an audit node (%r)" % r.stderr[-200:])
        n2 = hatest.Node(build, tmp, "n2", d2, etcd.urls(), origin, private, ["--standby"])
        nodes.append(n2)
        n2.start()
        ok = hatest.wait_until(lambda: signed(n2) == signed(leader) > 0, 20 * SLOW)
        check(ok, "the rebuilt node replays the rewritten journal to the leader's size (%d / %d)"
              % (signed(n2), signed(leader)))
        st0, cp0 = hatest.http("GET", leader.url("/checkpoint"))
        st2, cp2 = hatest.http("GET", n2.url("/checkpoint"))
        check(st0 == st2 == 200 and cp0 == cp2, "... and serves the leader's checkpoint")
        time.sleep(0.5)
        left = tltest.files_holding(d2, needles)
        check(not left, "no file of the rebuilt node holds the erased body or salt %s" % left[:5])
        check(tltest.files_holding(os.path.join(d2, "db"), [keep.encode()]),
              "the rebuilt node holds the events not erased")
    finally:
        hatest.stop_all(nodes, etcd)
    return tltest.summary("high-availability erasure")


if __name__ == "__main__":
    sys.exit(main())
