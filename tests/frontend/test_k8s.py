#!/usr/bin/env python3
"""test_k8s.py - POST /audit/v1/k8s end to end: curl posts the EventLists a
real kube-apiserver sent (../shared/testdata/k8s-audit, see its SOURCE) and
lists built here from the audit.k8s.io/v1 Event type (every stage, with and
without objectRef, responseStatus, sourceIPs, subresources, nonResourceURLs,
impersonation, huge request/response objects, floats and huge integers) to a
real `tlogd serve` of an audit log, the way the webhook does (bearer token,
application/json), retries included. Then, with a reader token, every item is
read back through GET /audit/v1/events and compared with the contract's
mapping computed here independently: each is recorded exactly once. A list
with one malformed item is a 400 naming the item and records nothing of it;
no token is a 401, a reader's token a 403. The same lists mapped on the
event loop (--map-workers 0) give the same canonical events. With the
mapping workers: lists posted while a large one is being mapped are answered
as alone, and a client that goes away while its list is mapped is forgotten:
nothing of it is recorded until its retry.

Usage: test_k8s.py BUILD_DIR SOURCE_DIR
"""
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
from tltest import check, mkdtemp, summary  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
SRC = os.path.abspath(sys.argv[2])
TLOGD = os.path.join(BUILD, "tlogd")
# Data others produced lives beside the repo, in ../shared/testdata (see its SOURCE).
DATA = os.path.join(os.path.dirname(SRC), "shared", "testdata", "k8s-audit")
TMP = mkdtemp("tlog-k8s-")
WRITER = "kube-apiserver"


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def token_add(d, name, role):
    r = subprocess.run([TLOGD, "token", "add", "--dir", d, "--name", name, "--role", role],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail("tlogd token add: " + r.stderr)
    return r.stdout.strip()


def curl(url, body=None, token=None, ctype="application/json"):
    """POSTs body (bytes) as the webhook does: status, headers (lower), body."""
    args = ["curl", "-sS", "-D", "-", "-o", os.path.join(TMP, "body"), url]
    if body is not None:
        path = os.path.join(TMP, "post.json")
        with open(path, "wb") as f:
            f.write(body)
        args += ["--data-binary", "@" + path, "-H", "Content-Type: " + ctype]
    if token:
        args += ["-H", "Authorization: Bearer " + token]
    r = subprocess.run(args, capture_output=True)
    if r.returncode != 0:
        fail("curl: " + r.stderr.decode())
    head = r.stdout.decode("latin-1").split("\r\n\r\n")[-2]
    status = int(head.split("\r\n")[0].split()[1])
    hdrs = {}
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    with open(os.path.join(TMP, "body"), "rb") as f:
        return status, hdrs, f.read()


def load_num(text):
    """JSON as the contract records it: numbers that are not integers of
    magnitude below 2^53 become strings of their literal text."""
    def as_int(s):
        return int(s) if abs(int(s)) < 2 ** 53 else s
    return json.loads(text, parse_float=lambda s: s, parse_int=as_int,
                      parse_constant=lambda s: s)


def expected(item):
    """The contract's mapping of one item (values here are short ASCII)."""
    o = item.get("objectRef")
    actor = {"id": (item.get("user") or {}).get("username") or "-", "type": "kubernetes"}
    if item.get("sourceIPs"):
        actor["ip"] = item["sourceIPs"][0]
    if item.get("userAgent"):
        actor["user_agent"] = item["userAgent"]
    if o:
        action = o["resource"] + "." + item["verb"]
        rtype = (o["apiGroup"] + "/" if o.get("apiGroup") else "") + o["resource"]
        rid = (o["namespace"] + "/" if o.get("namespace") else "") + (o.get("name") or "-")
    else:
        action, rtype, rid = item["verb"], "url", item["requestURI"]
    code = (item.get("responseStatus") or {}).get("code")
    outcome = ("unknown" if code is None else "success" if code < 400
               else "denied" if code in (401, 403) else "failure")
    ev = {"actor": actor, "action": re.sub(r"[^A-Za-z0-9._:/-]", "_", action)[:128],
          "resource": {"type": rtype, "id": rid}, "outcome": outcome,
          "source": "kubernetes", "id": (item["auditID"] + "/" + item["stage"])[:128],
          "request_id": item["auditID"], "details": item, "submitter": WRITER}
    t = item.get("stageTimestamp") or item.get("requestReceivedTimestamp")
    if t:
        ev["time"] = t
    return ev


def built_list():
    """An EventList of our own: every stage and shape."""
    base = {"level": "RequestResponse", "requestURI": "/api/v1/namespaces/ns1/pods/p1",
            "verb": "update", "user": {"username": "alice", "groups": ["dev"]},
            "sourceIPs": ["10.1.2.3", "10.9.9.9"], "userAgent": "kubectl/v1.30.0",
            "objectRef": {"resource": "pods", "namespace": "ns1", "name": "p1",
                          "apiVersion": "v1"},
            "requestReceivedTimestamp": "2026-12-02T06:00:00.100000Z"}
    items = []
    for i, stage in enumerate(["RequestReceived", "ResponseStarted", "ResponseComplete",
                               "Panic"]):
        it = copy.deepcopy(base)
        it.update(auditID="0000-stage-%d" % i, stage=stage,
                  stageTimestamp="2026-12-02T06:00:00.%06dZ" % (200000 + i))
        if stage == "ResponseComplete":
            it["responseStatus"] = {"metadata": {}, "code": 200}
        if stage == "Panic":
            it["responseStatus"] = {"metadata": {}, "status": "Failure", "code": 500}
        items.append(it)
    # a non-resource URL, no objectRef, no sourceIPs, a 403
    items.append({"level": "Metadata", "auditID": "0001-nonresource", "stage": "ResponseComplete",
                  "requestURI": "/metrics", "verb": "get",
                  "user": {"username": "system:anonymous"},
                  "responseStatus": {"metadata": {}, "code": 403},
                  "stageTimestamp": "2026-12-02T06:00:01.000000Z"})
    # failed authentication: user {}, 401, no responseStatus code at all next
    items.append({"level": "Metadata", "auditID": "0002-unauth", "stage": "ResponseStarted",
                  "requestURI": "/api", "verb": "list", "user": {}, "sourceIPs": ["10.0.0.7"],
                  "responseStatus": {"metadata": {}, "code": 401}})
    # impersonation and a subresource, in a group
    it = copy.deepcopy(base)
    it.update(auditID="0003-impersonate", stage="ResponseComplete", verb="patch",
              impersonatedUser={"username": "bob", "groups": ["ops"]},
              objectRef={"resource": "deployments", "namespace": "kube-system",
                         "name": "coredns", "apiGroup": "apps", "apiVersion": "v1",
                         "subresource": "scale"},
              responseStatus={"metadata": {}, "code": 404})
    items.append(it)
    # huge request and response objects, floats and huge integers
    it = copy.deepcopy(base)
    it.update(auditID="0004-huge", stage="ResponseComplete", verb="create",
              objectRef={"resource": "configmaps", "namespace": "ns1", "apiVersion": "v1"},
              responseStatus={"metadata": {}, "code": 201})
    it["requestObject"] = {"kind": "ConfigMap", "data": {"k%03d" % k: "v" * 400
                                                         for k in range(100)}}
    it["responseObject"] = dict(it["requestObject"], metadata={"uid": "u", "generation": 3})
    items.append(it)
    text = json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {},
                       "items": items}, separators=(",", ":"))
    # numbers an event may not hold, as a Go encoder would write them
    text = text.replace('"generation":3',
                        '"generation":3,"ratio":0.25,"big":18446744073709551615,'
                        '"exp":1e21,"neg":-9007199254740993,"ok":-9007199254740991')
    return text.encode()


def query_all(port, reader):
    st, _, b = curl("http://127.0.0.1:%d/audit/v1/events?limit=1000" % port, token=reader)
    check(st == 200, "GET /audit/v1/events with a reader token (%d)" % st)
    return [e["event"] for e in json.loads(b)["events"]] if st == 200 else []


def start(d, err, *extra):
    p = subprocess.Popen([TLOGD, "serve", "--dir", d, "--listen", "127.0.0.1:0",
                          "--batch-interval", "5", *extra], stderr=err)
    for _ in range(300):
        err.seek(0)
        m = re.findall(r"\(port (\d+)\)", err.read())
        if m:
            return p, int(m[-1])
        if p.poll() is not None:
            break
        time.sleep(0.05)
    err.seek(0)
    fail("tlogd did not start: " + err.read())


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        check(p.wait(60) == 0, "tlogd exits 0 on SIGTERM (%s)" % p.returncode)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        check(False, "tlogd exits on SIGTERM")


def publish_before_answer():
    """With --publish-before-answer the answer waits for the origin."""
    d = os.path.join(TMP, "log2")
    origin = os.path.join(TMP, "origin")
    os.mkdir(origin)
    subprocess.run([TLOGD, "init", "--dir", d, "--origin", "example.test/k8s2", "--kind",
                    "audit"], check=True, capture_output=True)
    writer = token_add(d, WRITER, "writer")
    err = open(os.path.join(TMP, "tlogd2.err"), "w+")
    p, port = start(d, err, "--publish", "file://" + origin, "--publish-before-answer")
    try:
        body = built_list()
        n = len(load_num(body)["items"])
        st, _, b = curl("http://127.0.0.1:%d/audit/v1/k8s" % port, body, writer)
        size = 0
        cp = os.path.join(origin, "checkpoint")
        if os.path.exists(cp):
            size = int(open(cp, "rb").read().split(b"\n")[1])
        check(st == 200 and size >= n,
              "--publish-before-answer: answered (%d %r) once the origin's checkpoint covers "
              "the list (size %d, %d items)" % (st, b, size, n))
    finally:
        stop(p)


def metric(port, name):
    """The value of one line of /metrics (name with its labels), or None."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    return None


def tree_size(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/checkpoint" % port, timeout=10) as r:
        return int(r.read().split(b"\n")[1])


def large_list(tag, n):
    """n distinct items of ~2.5 KiB (a request object each): long to map."""
    items = [{"level": "Request", "auditID": "%s-%06d" % (tag, i), "stage": "ResponseComplete",
              "requestURI": "/api/v1/namespaces/team-a/configmaps/c%d" % i, "verb": "update",
              "user": {"username": "system:serviceaccount:team-a:deployer",
                       "groups": ["system:serviceaccounts", "system:authenticated"]},
              "sourceIPs": ["10.244.3.17"], "userAgent": "kubectl/v1.30.2",
              "objectRef": {"resource": "configmaps", "namespace": "team-a",
                            "name": "c%d" % i, "apiVersion": "v1"},
              "responseStatus": {"metadata": {}, "code": 200},
              "requestObject": {"kind": "ConfigMap", "data": {"k%02d" % k: "v%d" % (i * k) * 12
                                                              for k in range(40)}},
              "stageTimestamp": "2026-12-02T06:00:00.125678Z"} for i in range(n)]
    return json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {},
                       "items": items}, separators=(",", ":")).encode()


def wait_metric(port, name, pred, what, secs=60):
    v = None
    for _ in range(int(secs / 0.005)):
        v = metric(port, name)
        if v is not None and pred(v):
            return v
        time.sleep(0.005)
    check(False, "%s (%s = %r)" % (what, name, v))
    return v


def same_as_on_loop(lists):
    """The lists answered and recorded by a server mapping on its event loop
    (--map-workers 0): the same answers and the same canonical events, byte
    for byte (salts aside), as with the workers, whose parts of 50 items a
    list of 300 spreads over; with two malformed items in different parts,
    the first is named."""
    many = large_list("cmp", 300)
    twice = json.loads(large_list("cmp2", 300))
    del twice["items"][260]["stage"]
    twice["items"][120]["user"] = "alice"
    # large lists are parsed in parts; malformed ones whole, for the exact reason
    at = many.index(b'{"level":"Request","auditID":"cmp-000150"')
    broken = many[:at] + b"x" + many[at:]
    at = many.index(b'"verb":"update"', many.index(b'"cmp-000200"'))
    dup = many[:at] + b'"verb":"get",' + many[at:]
    lists = lists + [("broken", broken), ("a duplicate name", dup), ("300 items", many),
                     ("two bad items", json.dumps(twice).encode())]
    got, answers = {}, {}
    for mode in ("0", "2"):
        d = os.path.join(TMP, "log-w" + mode)
        subprocess.run([TLOGD, "init", "--dir", d, "--origin", "example.test/k8s-w", "--kind",
                        "audit"], check=True, capture_output=True)
        writer = token_add(d, WRITER, "writer")
        reader = token_add(d, "auditor", "reader")
        err = open(os.path.join(TMP, "tlogd-w%s.err" % mode), "w+")
        p, port = start(d, err, "--map-workers", mode)
        try:
            answers[mode] = [curl("http://127.0.0.1:%d/audit/v1/k8s" % port, body, writer)[::2]
                             for _, body in lists]
            evs = []
            for _ in range(100):
                evs = [e for e in query_all(port, reader) if e.get("source") == "kubernetes"]
                if len(evs) >= 300:
                    break
                time.sleep(0.05)
            got[mode] = sorted(json.dumps(e, sort_keys=True) for e in evs)
        finally:
            stop(p)
    check(answers["0"] == answers["2"] and answers["2"][-1] ==
          (400, b"item 120: user: must be an object\n") and
          answers["2"][-4][0] == 400 and answers["2"][-3][0] == 400 and
          b"duplicate" in answers["2"][-3][1],
          "--map-workers 0 and 2 give the same answers (%r)" % (answers["2"][-4:],))
    check(got["0"] == got["2"] and len(got["0"]) > 300,
          "--map-workers 0 and 2 record the same events (%d, %d)" %
          (len(got["0"]), len(got["2"])))


def workers():
    """Lists posted while another is being mapped; a client gone meanwhile."""
    d = os.path.join(TMP, "log3")
    subprocess.run([TLOGD, "init", "--dir", d, "--origin", "example.test/k8s3", "--kind",
                    "audit"], check=True, capture_output=True)
    writer = token_add(d, WRITER, "writer")
    err = open(os.path.join(TMP, "tlogd3.err"), "w+")
    p, port = start(d, err, "--max-batch", "4096")
    url = "http://127.0.0.1:%d/audit/v1/k8s" % port
    try:
        check(metric(port, "tlogd_map_workers") == 2, "two mapping workers by default")
        big = large_list("big", 4096)
        small = json.loads(large_list("small", 10))
        bad = json.loads(large_list("bad", 30))
        del bad["items"][17]["verb"]
        ans = {}

        def post_big():
            ans["big"] = curl(url, big, writer)
        t = threading.Thread(target=post_big)
        t.start()
        wait_metric(port, "tlogd_map_running", lambda v: v >= 1, "the large list is mapped")
        ans["small"] = curl(url, json.dumps(small).encode(), writer)
        ans["bad"] = curl(url, json.dumps(bad).encode(), writer)
        t.join()
        check(ans["big"][0] == 200 and ans["big"][2] == b'{"accepted":4096}',
              "the large list: 200 {\"accepted\":4096} (%d %r)" % (ans["big"][0],
                                                                   ans["big"][2][:100]))
        check(ans["small"][0] == 200 and ans["small"][2] == b'{"accepted":10}',
              "a list posted while it was mapped: 200 (%d %r)" % (ans["small"][0],
                                                                  ans["small"][2]))
        check(ans["bad"][0] == 400 and ans["bad"][2].decode().strip() ==
              "item 17: verb: missing or empty (it is required)",
              "a malformed list posted meanwhile: 400 naming its item (%d %r)" %
              (ans["bad"][0], ans["bad"][2]))

        # a client that goes away while its list is mapped (HTTP/2: the
        # stream ends with the connection)
        gone = large_list("gone", 4096)
        path = os.path.join(TMP, "gone.json")
        with open(path, "wb") as f:
            f.write(gone)
        mapped = metric(port, 'tlogd_map_jobs_total{result="mapped"}')
        c = subprocess.Popen(["curl", "-sS", "--http2-prior-knowledge", "-o", os.devnull,
                              "--data-binary", "@" + path, "-H",
                              "Content-Type: application/json", "-H",
                              "Authorization: Bearer " + writer, url],
                             stderr=subprocess.DEVNULL)
        wait_metric(port, "tlogd_map_running", lambda v: v >= 1, "the list of the client to go "
                    "is mapped")
        c.kill()
        c.wait()
        wait_metric(port, 'tlogd_map_jobs_total{result="mapped"}', lambda v: v > mapped,
                    "its mapping ends")
        check(metric(port, 'tlogd_map_jobs_total{result="forgotten"}') == 1,
              "the list of a client gone while it was mapped is forgotten")
        # the log: the large and small lists, the 400's access record, nothing of the gone one
        want = 4096 + 10 + 1
        for _ in range(100):
            if tree_size(port) >= want:
                break
            time.sleep(0.05)
        time.sleep(0.2)
        check(tree_size(port) == want, "nothing of the forgotten list recorded (size %d, want "
              "%d)" % (tree_size(port), want))
        st, _, b = curl(url, gone, writer)
        check(st == 200 and b == b'{"accepted":4096}', "its retry: 200 (%d %r)" % (st, b[:100]))
        st, _, b = curl(url, gone, writer)
        check(st == 200 and b == b'{"accepted":4096}', "and the retry's retry (%d)" % st)
        for _ in range(100):
            if tree_size(port) >= want + 4096:
                break
            time.sleep(0.05)
        check(tree_size(port) == want + 4096, "the retried list recorded once (size %d)" %
              tree_size(port))
    finally:
        stop(p)


def main():
    if not os.path.isdir(DATA):
        fail("the recorded EventLists are missing: %s (they belong in ../shared/testdata "
             "beside the source tree)" % DATA)
    d = os.path.join(TMP, "log")
    r = subprocess.run([TLOGD, "init", "--dir", d, "--origin", "example.test/k8s", "--kind",
                        "audit"], capture_output=True, text=True)
    if r.returncode != 0:
        fail("tlogd init: " + r.stderr)
    writer = token_add(d, WRITER, "writer")
    reader = token_add(d, "auditor", "reader")
    err = open(os.path.join(TMP, "tlogd.err"), "w+")
    p, port = start(d, err)
    try:
        url = "http://127.0.0.1:%d/audit/v1/k8s" % port
        lists = []
        for name in sorted(os.listdir(DATA)):
            if name.endswith(".json"):
                with open(os.path.join(DATA, name), "rb") as f:
                    lists.append((name, f.read()))
        check(len(lists) >= 2, "the recorded EventLists are there (%d)" % len(lists))
        lists.append(("built", built_list()))
        items = []
        for name, body in lists:
            n = len(load_num(body)["items"])
            answers = []
            for attempt in range(2):  # the webhook retries a list it got no answer for
                st, _, b = curl(url, body, writer)
                answers.append((st, b))
            check(answers[0] == (200, json.dumps({"accepted": n}, separators=(",", ":")).encode())
                  and answers[1] == answers[0],
                  "%s: 200 {\"accepted\": %d}, and the same for its retry (%r)" %
                  (name, n, answers))
            items += load_num(body)["items"]

        # one malformed item: 400 naming it, nothing of the list recorded
        bad = load_num(built_list())
        bad["items"] = bad["items"][:3]
        for i, it in enumerate(bad["items"]):
            it["auditID"] = "0009-bad-%d" % i
        del bad["items"][2]["verb"]
        st, _, b = curl(url, json.dumps(bad).encode(), writer)
        check(st == 400 and b.decode().strip() ==
              "item 2: verb: missing or empty (it is required)",
              "a malformed item: 400 naming it (%d %r)" % (st, b))
        # the same id for another occurrence: 409 naming the item, nothing recorded
        other = load_num(built_list())
        other["items"] = other["items"][:1]
        other["items"][0]["auditID"] = "0009-bad-conflict"
        st, _, _ = curl(url, json.dumps(other).encode(), writer)
        check(st == 200, "a new list (%d)" % st)
        items += copy.deepcopy(other["items"])
        other["items"].insert(0, {"auditID": "0009-bad-first", "stage": "Panic", "verb": "get",
                                  "requestURI": "/"})
        other["items"][1]["verb"] = "delete"
        st, _, b = curl(url, json.dumps(other).encode(), writer)
        check(st == 409 and b.startswith(b"item 1: an earlier event (index "),
              "the same auditID and stage for another occurrence: 409 naming the item (%d %r)"
              % (st, b))
        # tokens: none, a reader's, a content type that is not JSON
        st, h, _ = curl(url, built_list())
        check(st == 401 and h.get("www-authenticate", "").startswith("Bearer"),
              "no token: 401 with WWW-Authenticate: Bearer (%d)" % st)
        st, _, _ = curl(url, built_list(), reader)
        check(st == 403, "a reader's token: 403 (%d)" % st)
        st, _, _ = curl(url, built_list(), writer, ctype="text/plain")
        check(st == 415, "not application/json: 415 (%d)" % st)
        st, _, _ = curl(url, b'{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}',
                        writer)
        check(st == 200, "an empty list: 200 (%d)" % st)

        # every item recorded exactly once, as the contract maps it
        want = {(it["auditID"] + "/" + it["stage"]): expected(it) for it in items}
        got = []
        for _ in range(100):
            got = [e for e in query_all(port, reader) if e.get("source") == "kubernetes"]
            if len(got) >= len(want):
                break
            time.sleep(0.1)
        ids = [e["id"] for e in got]
        check(sorted(ids) == sorted(want),
              "every item recorded exactly once (%d events for %d items; none of the refused "
              "lists)" % (len(ids), len(want)))
        for e in got:
            w = want.get(e["id"])
            if e != w:
                check(False, "item %s recorded as mapped:\n got %s\nwant %s" %
                      (e["id"], json.dumps(e)[:600], json.dumps(w)[:600]))
                break
        else:
            check(True, "every recorded event is the contract's mapping of its item")
        huge = [e for e in got if e["id"] == "0004-huge/ResponseComplete"]
        check(huge and huge[0]["details"]["responseObject"]["metadata"]["big"] ==
              "18446744073709551615" and huge[0]["details"]["responseObject"]["metadata"]
              ["ratio"] == "0.25", "numbers an event may not hold kept as their text")
    finally:
        stop(p)
    publish_before_answer()
    workers()
    same_as_on_loop(lists)
    rc = summary("k8s webhook")
    if rc:
        err.seek(0)
        print("tlogd's stderr:\n" + err.read()[-4000:])
    else:
        shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
