#!/usr/bin/env python3
"""test_audit.py - audit logs end to end: a real `tlogd init --kind audit`,
tokens made with `tlogd token add`, and every endpoint of the contract's
"Audit logs" over HTTP/1.1 (stdlib http.client) against a real tlogd.

Every receipt and query result is verified here independently of the C code:
the commitment SHA-256(salt || JCS(event)) (JCS of ASCII-named members is
Python's sorted, separator-free json.dumps), the record's exact form, the leaf
hash, the inclusion proof (tltest's RFC 9162 oracle) and the checkpoint's
Ed25519 signature (tlrel). Bad input is refused with the exact status and a
one-line reason naming the member, and then the tree has not grown: nothing
was recorded. Access to the trail is itself in the trail.

Usage: test_audit.py BUILD_DIR
"""
import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
sys.path.insert(0, os.path.join(HERE, "..", "reliability"))
from tltest import (check, files_holding, leaf_hash, mkdtemp, summary,  # noqa: E402
                    verify_inclusion, wait_until)
import tlrel  # noqa: E402

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
TLOGD = os.path.join(BUILD, "tlogd")
TMP = mkdtemp("tlog-audit-")
ORIGIN = "example.test/audit"


def jcs(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Log:
    def __init__(self, d, *extra):
        self.d = d
        self.err = open(os.path.join(TMP, os.path.basename(d) + ".err"), "a+")
        self.err.seek(0, os.SEEK_END)
        start = self.err.tell()
        self.p = subprocess.Popen([TLOGD, "serve", "--dir", d, "--listen", "127.0.0.1:0",
                                   "--batch-interval", "5", *extra], stderr=self.err)
        self.port = None
        for _ in range(300):
            self.err.seek(start)
            m = re.findall(r"\(port (\d+)\)", self.err.read())
            if m:
                self.port = int(m[-1])
                break
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        if not self.port:
            self.err.seek(0)
            raise RuntimeError("tlogd did not start: " + self.err.read())
        self.vk = tlrel.parse_vkey(open(os.path.join(d, "log.vkey")).read())

    def req(self, method, path, body=None, token=None, ctype=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if ctype:
            h["Content-Type"] = ctype
        if isinstance(body, str):
            body = body.encode()
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def post(self, events, token, ctype="application/json"):
        if not isinstance(events, (bytes, str)):
            events = json.dumps(events)
        return self.req("POST", "/audit/v1/events", events, token, ctype)

    def size(self):
        st, _, b = self.req("GET", "/checkpoint")
        return int(b.split(b"\n")[1]) if st == 200 else 0

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        return self.p.wait(60)


def token_add(d, name, role):
    r = subprocess.run([TLOGD, "token", "add", "--dir", d, "--name", name, "--role", role],
                       capture_output=True, text=True)
    check(r.returncode == 0 and re.fullmatch(r"[A-Za-z0-9_-]{22,}\n", r.stdout),
          "tlogd token add %s %s" % (name, role))
    return r.stdout.strip()


def verify_receipt(log, rc, what):
    """Checks a receipt offline; returns its index."""
    ev, salt, rec, proof = rc["event"], tlrel.b64d(rc["salt"]), rc["record"], rc["proof"]
    m = re.fullmatch(r'\{"v":1,"time":(0|[1-9][0-9]*),"commitment":"([A-Za-z0-9+/=]{44})"\}', rec)
    if not m:
        check(False, what + ": record in the exact form (%s)" % rec)
        return None
    commit = hashlib.sha256(salt + jcs(ev)).digest()
    ok = len(salt) == 32 and tlrel.b64d(m.group(2)) == commit
    idx, path, note = tlrel.parse_tlogproof(proof.encode())
    _, size, root, _, _ = tlrel.verify_note(note, log.vk)
    ok = ok and verify_inclusion(leaf_hash(rec.encode()), idx, size, path, root)
    check(ok, what + ": receipt verifies (commitment, inclusion, signature)")
    return idx if ok else None


ADMIN = []  # the admin token, for reading back what was recorded
GOOD = {"actor": {"id": "alice", "type": "user"}, "action": "order.cancel",
        "resource": {"type": "order", "id": "42"}, "outcome": "success"}


def ev(**kw):
    e = json.loads(json.dumps(GOOD))
    for k, v in kw.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return e


def last_event(log):
    """The newest entry's record and its body (reader's view), or None."""
    n = log.size()
    if n == 0:
        return None
    st, _, b = log.req("GET", "/audit/v1/events/%d" % (n - 1), token=ADMIN[0])
    return json.loads(b)["event"] if st == 200 else None


def settle(log, want):
    for _ in range(100):
        if log.size() >= want:
            return
        time.sleep(0.02)


def quiet(log):
    """Waits until the published size stays put (the log's own records of
    earlier requests are in); returns it."""
    n = log.size()
    for _ in range(100):
        time.sleep(0.05)
        m = log.size()
        if m == n:
            return n
        n = m
    return n


def expect_refused(log, body, tok, status, reason, what, ctype="application/json"):
    """The exact status and reason; nothing of the batch recorded, only the
    log's own record of the refused write (a valid token's request)."""
    before = quiet(log)
    st, _, b = log.post(body, tok, ctype)
    line = b.decode(errors="replace")
    check(st == status and line.endswith("\n") and line.count("\n") == 1 and reason in line,
          "%s: %d with '%s' (got %d %r)" % (what, status, reason, st, line[:160]))
    settle(log, before + 1)
    after = quiet(log)
    # What came in since: the refusal's record, and possibly the records of
    # earlier reads that a loaded machine published late; nothing else.
    # (These reads are recorded too, after.)
    new = []
    for i in range(before, after):
        st, _, b = log.req("GET", "/audit/v1/events/%d" % i, token=ADMIN[0])
        new.append(json.loads(b)["event"] if st == 200 else None)
    writes = [e for e in new if e and e["action"] == "audit.write"]
    e = writes[-1] if writes else None
    check(new and all(x and x["submitter"] == "@log" and
                      x["action"] in ("audit.write", "audit.read", "audit.query") for x in new)
          and len(writes) == 1 and e["outcome"] == "failure" and
          e["details"]["status"] == status,
          what + ": nothing of it recorded, only the refusal (as audit.write) (%d -> %d: %s)" %
          (before, after, json.dumps(e)[:200] if e else None))


def own_events(log, rtok, action):
    st, _, b = log.req("GET", "/audit/v1/events?action=%s&limit=1000" % action, token=rtok)
    return json.loads(b)["events"] if st == 200 else []


def main():
    d = os.path.join(TMP, "log")
    r = subprocess.run([TLOGD, "init", "--dir", d, "--origin", ORIGIN, "--kind", "audit"],
                       capture_output=True, text=True)
    check(r.returncode == 0, "tlogd init --kind audit")
    wtok = token_add(d, "shop", "writer")
    rtok = token_add(d, "auditor", "reader")
    atok = token_add(d, "dpo", "admin")
    ADMIN.append(atok)
    log = Log(d)
    try:
        run(log, d, wtok, rtok, atok)
    finally:
        check(log.stop() == 0, "SIGTERM: exit 0")
    crash(d, wtok, rtok, atok)
    blob_and_flags()


def run(log, d, wtok, rtok, atok):
    st, h, b = log.req("GET", "/audit/v1/log")
    j = json.loads(b)
    check(st == 200 and j == {"origin": ORIGIN, "kind": "audit", "vkey": log.vk["line"],
                              "record": 1, "max_event": 131072, "max_batch": 1000},
          "GET /audit/v1/log")
    st, _, b = log.req("POST", "/add", b"x")
    check(st == 404, "POST /add on an audit log: 404")

    # ---- writes: one, an array, NDJSON; receipts verify -----------------------------
    st, _, b = log.post(ev(id="e-1", source="shop", time="2026-12-02T06:00:00.123Z"), wtok)
    check(st == 200, "one event: 200")
    r1 = json.loads(b)["receipts"]
    check(len(r1) == 1 and r1[0]["event"]["submitter"] == "shop", "submitter is the token's name")
    i1 = verify_receipt(log, r1[0], "one event")
    batch = [ev(actor={"id": "u%d" % k}, resource={"type": "doc", "id": "d%d" % (k % 3)})
             for k in range(10)]
    st, _, b = log.post(batch, wtok)
    rs = json.loads(b)["receipts"] if st == 200 else []
    check(st == 200 and len(rs) == 10, "an array of 10: 10 receipts in order")
    idx = [verify_receipt(log, x, "array") for x in rs]
    check(idx == list(range(idx[0], idx[0] + 10)), "a batch's events at consecutive indexes")
    check([x["event"]["actor"]["id"] for x in rs] == ["u%d" % k for k in range(10)],
          "receipts in the order submitted")
    nd = "\n".join(json.dumps(ev(action="doc.read", outcome="denied")) for _ in range(3))
    st, _, b = log.post(nd, wtok, "application/x-ndjson")
    check(st == 200 and len(json.loads(b)["receipts"]) == 3, "NDJSON, last LF optional")
    st, _, b = log.post(nd + "\n", wtok, "application/x-ndjson")
    check(st == 200 and len(json.loads(b)["receipts"]) == 3, "NDJSON, last LF present")
    recs = [json.loads(b)["receipts"]]
    ts = [int(re.search(r'"time":(\d+)', x["record"]).group(1)) for x in recs[0]]
    check(ts == sorted(ts), "log times never decrease")

    # ---- idempotency -------------------------------------------------------------
    st, _, b = log.post(ev(id="e-1", source="shop", time="2026-12-02T06:00:00.123Z"), wtok)
    again = json.loads(b)["receipts"][0] if st == 200 else {}
    check(st == 200 and again.get("salt") == r1[0]["salt"] and
          again.get("record") == r1[0]["record"] and again.get("event") == r1[0]["event"],
          "the same event again: the original's salt and record")
    check(verify_receipt(log, again, "repeat") == i1, "the repeat gets the original index")
    expect_refused(log, ev(id="e-1", source="shop", outcome="failure"), wtok, 409,
                   "event 0: an earlier event", "the same key, another event")
    expect_refused(log, [ev(id="e-9"), ev(id="e-1", source="shop", outcome="failure")], wtok,
                   409, "event 1:", "a conflict in a batch refuses all of it")
    st, _, b = log.post([ev(), ev()], wtok)
    rr = json.loads(b)["receipts"] if st == 200 else []
    check(st == 200 and len(rr) == 2 and rr[0]["record"] != rr[1]["record"],
          "two identical events without id: two occurrences")

    # ---- bad input: exact status, one line naming the member, nothing recorded ---------
    good999 = [ev(actor={"id": "bulk%d" % k}) for k in range(999)]
    bad = good999[:512] + [ev(action="bad action")] + good999[512:]
    expect_refused(log, bad, wtok, 400, "event 512: action", "one bad event among 999 good ones")
    expect_refused(log, ev(submitter="x"), wtok, 400, "event 0: submitter", "submitter given")
    expect_refused(log, ev(extra=1), wtok, 400, "event 0: extra", "an unknown member")
    expect_refused(log, ev(actor=None), wtok, 400, "event 0: actor", "no actor")
    expect_refused(log, ev(outcome="ok"), wtok, 400, "event 0: outcome", "a bad outcome")
    expect_refused(log, ev(time="2026-12-02T06:00:00+01:00"), wtok, 400, "event 0: time",
                   "a time not in UTC")
    expect_refused(log, ev(details={"price": 1.5}), wtok, 400, "event 0: details.price",
                   "a float")
    expect_refused(log, ev(details={"n": 2 ** 53}), wtok, 400, "event 0: details.n",
                   "an integer of 2^53")
    expect_refused(log, '{"actor":{"id":"a"},"action":"a","resource":{"type":"t","id":"i"},'
                   '"outcome":"success","details":{"n":123456789012345678901234567890}}', wtok,
                   400, "invalid JSON at byte", "a huge integer")
    expect_refused(log, '{"actor":{"id":"a"},"actor":{"id":"b"},"action":"a","resource":'
                   '{"type":"t","id":"i"},"outcome":"success"}', wtok, 400, "invalid JSON at byte",
                   "duplicate member names")
    expect_refused(log, b'{"actor":{"id":"\xc3\x28"},"action":"a","resource":{"type":"t",'
                   b'"id":"i"},"outcome":"success"}', wtok, 400, "invalid JSON at byte",
                   "invalid UTF-8")
    expect_refused(log, '{"actor":{"id":"\\ud800"},"action":"a","resource":{"type":"t",'
                   '"id":"i"},"outcome":"success"}', wtok, 400, "invalid JSON at byte",
                   "a lone surrogate")
    expect_refused(log, json.dumps(GOOD)[:-3], wtok, 400, "invalid JSON at byte", "truncated")
    expect_refused(log, '{"actor":{"id":"a"},"action":"a","resource":{"type":"t","id":"i"},'
                   '"outcome":"success","details":{"d":' + "[" * 3000 + "]" * 3000 + "}}", wtok,
                   400, "invalid JSON", "deeply nested")
    expect_refused(log, ev(details={"blob": "x" * 140000}), wtok, 413, "event 0:",
                   "a canonical event over --max-event")
    expect_refused(log, [GOOD] * 1001, wtok, 413, "1001 events", "over --max-batch")
    expect_refused(log, "[]", wtok, 400, "empty batch", "an empty array")
    expect_refused(log, json.dumps(GOOD) + "\n\n" + json.dumps(GOOD), wtok, 400,
                   "event 1: an empty line", "NDJSON with a blank line", "application/x-ndjson")
    expect_refused(log, json.dumps(GOOD) + "\n" + json.dumps(ev(details={"b": "y" * 140000})),
                   wtok, 413, "event 1:", "NDJSON with an over-long line", "application/x-ndjson")
    expect_refused(log, json.dumps(GOOD), wtok, 415, "application/json", "a wrong Content-Type",
                   "text/plain")
    # over 16 MiB (HTTP/2: tlogd's own one-line 413; over HTTP/1.1 libevent
    # refuses such a body itself, docs/FRONTEND.md)
    big = os.path.join(TMP, "big.json")
    with open(big, "wb") as fh:
        fh.write(b"[" + json.dumps(GOOD).encode() + b"]" + b" " * (17 << 20))
    before = log.size()
    r = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-o", "-", "-w", "\n%{http_code}",
                        "-H", "Authorization: Bearer " + wtok, "-H",
                        "Content-Type: application/json", "--data-binary", "@" + big,
                        "http://127.0.0.1:%d/audit/v1/events" % log.port],
                       capture_output=True, timeout=60)
    check(r.stdout.endswith(b"\n413"), "a body over 16 MiB: 413 (%r)" % r.stdout[-80:])
    time.sleep(0.2)
    check(log.size() <= before + 1, "a body over 16 MiB: nothing of it recorded")

    # ---- tokens and roles -----------------------------------------------------------
    st, h, b = log.post(GOOD, None)
    check(st == 401 and h.get("www-authenticate") == "Bearer", "no token: 401 + WWW-Authenticate")
    st, h, b = log.post(GOOD, "not-a-token")
    check(st == 401 and h.get("www-authenticate") == "Bearer", "an unknown token: 401")
    st, _, b = log.req("POST", "/audit/v1/events", json.dumps(GOOD), None, "application/json",
                       {"Authorization": "Basic dXNlcjpwYXNz"})
    check(st == 401, "a malformed Authorization: 401")
    st, _, b = log.post(GOOD, rtok)
    check(st == 403 and b.count(b"\n") == 1, "a reader's token may not write: 403")
    st, _, b = log.req("GET", "/audit/v1/events", token=wtok)
    check(st == 403, "a writer's token may not query: 403")
    st, _, b = log.req("GET", "/audit/v1/events?limit=1", token=None)
    check(st == 401, "no token, no query: 401")

    # ---- reads ------------------------------------------------------------------------
    st, _, b = log.req("GET", "/audit/v1/events/%d" % i1, token=rtok)
    check(st == 200 and json.loads(b)["event"] == r1[0]["event"], "GET one event")
    verify_receipt(log, json.loads(b), "GET one event")
    st, _, b = log.req("GET", "/audit/v1/events/%d" % (log.size() + 5), token=rtok)
    check(st == 404, "beyond the published tree: 404")
    st, _, b = log.req("GET", "/audit/v1/events/01", token=rtok)
    check(st == 404, "a non-canonical index: 404")

    # ---- queries --------------------------------------------------------------------
    st, _, b = log.req("GET", "/audit/v1/events?actor=u4", token=rtok)
    q = json.loads(b)
    check(st == 200 and [e["event"]["actor"]["id"] for e in q["events"]] == ["u4"] and
          q["next"] is None, "query by actor")
    _, size, root, _, _ = tlrel.verify_note(q["checkpoint"].encode(), log.vk)
    for e in q["events"]:
        rec = e["record"]
        ok = tlrel.b64d(json.loads(rec)["commitment"]) == hashlib.sha256(
            tlrel.b64d(e["salt"]) + jcs(e["event"])).digest()
        ok = ok and verify_inclusion(leaf_hash(rec.encode()), e["index"], size,
                                     [tlrel.b64d(p) for p in e["inclusion_proof"]], root)
        check(ok, "a query result verifies in the answer's checkpoint")
    st, _, b = log.req("GET", "/audit/v1/events?resource_type=doc&resource_id=d1", token=rtok)
    got = [e["event"]["actor"]["id"] for e in json.loads(b)["events"]]
    check(got == ["u7", "u4", "u1"], "query by resource, newest first (%s)" % got)
    # paging with cursors
    seen, cursor, pages = [], None, 0
    while True:
        qs = "action=order.cancel&limit=4" + ("&cursor=" + cursor if cursor else "")
        st, _, b = log.req("GET", "/audit/v1/events?" + qs, token=rtok)
        j = json.loads(b)
        seen += [e["index"] for e in j["events"]]
        pages += 1
        cursor = j["next"]
        if not cursor or pages > 20:
            break
    st, _, b = log.req("GET", "/audit/v1/events?action=order.cancel&limit=1000", token=rtok)
    allidx = [e["index"] for e in json.loads(b)["events"]]
    check(seen == allidx and allidx == sorted(allidx, reverse=True) and pages > 1,
          "pages with cursors give every result once, newest first")
    # time ranges
    first_t = int(re.search(r'"time":(\d+)', rs[0]["record"]).group(1))
    st, _, b = log.req("GET", "/audit/v1/events?actor=u0&since=%d&until=%d" %
                       (first_t, first_t + 1), token=rtok)
    check(st == 200 and len(json.loads(b)["events"]) == 1, "since (inclusive), until (exclusive)")
    st, _, b = log.req("GET", "/audit/v1/events?actor=u0&until=%d" % first_t, token=rtok)
    check(st == 200 and json.loads(b)["events"] == [], "until excludes that time")
    st, _, b = log.req("GET", "/audit/v1/events?actor=u0&since=2000-01-01T00:00:00Z", token=rtok)
    check(st == 200 and len(json.loads(b)["events"]) == 1, "since as RFC 3339")
    # several member filters (their indexes intersected): the same results, in the same order
    # and pages, as one filter's results filtered by hand; over 64 of each, past a read-ahead
    many = [{"actor": {"id": "mf%d" % (i % 3)}, "action": "doc.read" if i % 5 else "doc.edit",
             "resource": {"type": "doc", "id": "m%d" % (i % 7)},
             "outcome": ["success", "failure", "denied"][i % 4 % 3]} for i in range(400)]
    before = log.size()
    st, _, b = log.post(many, wtok)
    check(st == 200, "400 events for the multi-filter queries (%d %r)" % (st, b[:100]))
    settle(log, before + 400)
    for qs, keep in [("actor=mf1&outcome=denied", lambda e: e["outcome"] == "denied"),
                     ("actor=mf2&action=doc.edit&resource_type=doc",
                      lambda e: e["action"] == "doc.edit"),
                     ("actor=mf0&resource_type=doc&resource_id=m3&outcome=success",
                      lambda e: e["resource"]["id"] == "m3" and e["outcome"] == "success"),
                     ("actor=mf1&action=doc.read&outcome=failure",
                      lambda e: e["action"] == "doc.read" and e["outcome"] == "failure")]:
        st, _, b = log.req("GET", "/audit/v1/events?%s&limit=1000" % qs.split("&")[0], token=rtok)
        want = [e["index"] for e in json.loads(b)["events"] if keep(e["event"])]
        st, _, b = log.req("GET", "/audit/v1/events?%s&limit=1000" % qs, token=rtok)
        got = [e["index"] for e in json.loads(b)["events"]]
        check(st == 200 and got == want and len(want) > 5,
              "query %s: every match, newest first (%d, want %d)" % (qs, len(got), len(want)))
        seen, cursor, pages = [], None, 0
        while pages < 100:
            st, _, b = log.req("GET", "/audit/v1/events?%s&limit=9%s" %
                               (qs, "&cursor=" + cursor if cursor else ""), token=rtok)
            j = json.loads(b)
            seen += [e["index"] for e in j["events"]]
            pages += 1
            cursor = j["next"]
            if not cursor:
                break
        check(seen == want, "query %s in pages of 9: the same (%d pages)" % (qs, pages))
    for bad, why in [("nope=1", "unknown parameter"), ("limit=0", "limit"),
                     ("limit=1001", "limit"), ("since=yesterday", "since"),
                     ("actor=a&actor=b", "twice"), ("cursor=x", "cursor"), ("actor=", "actor")]:
        st, _, b = log.req("GET", "/audit/v1/events?" + bad, token=rtok)
        check(st == 400 and why in b.decode(), "query %s: 400 (%s)" % (bad, why))

    # ---- bodies ------------------------------------------------------------------------
    n = log.size()
    w = n if n < 256 else 256
    st, h, b = log.req("GET", "/audit/v1/bodies/000.p/%d" % w if w < 256 else
                       "/audit/v1/bodies/000", token=rtok)
    lines = [json.loads(x) for x in b.decode().splitlines()] if st == 200 else []
    check(st == 200 and h.get("content-type") == "application/x-ndjson" and
          [x["index"] for x in lines] == list(range(w)), "bodies of bundle 0")
    st, _, tile = log.req("GET", "/tile/entries/000.p/%d" % w if w < 256 else "/tile/entries/000")
    recs = []
    off = 0
    while off < len(tile):
        ln = int.from_bytes(tile[off:off + 2], "big")
        recs.append(tile[off + 2:off + 2 + ln])
        off += 2 + ln
    ok = len(recs) == len(lines)
    for rec, x in zip(recs, lines):
        if "event" in x:
            c = hashlib.sha256(tlrel.b64d(x["salt"]) + jcs(x["event"])).digest()
            ok = ok and json.loads(rec)["commitment"] == tlrel.b64e(c)
    check(ok, "every body's commitment is its record's, in the public bundle")
    check(b"alice" not in tile and b"order" not in tile, "the public bundle reveals no event")
    st, _, b = log.req("GET", "/audit/v1/bodies/001", token=rtok)
    check(st == 404, "a bundle beyond the tree: 404")

    # ---- erasure --------------------------------------------------------------------
    st, _, b = log.req("POST", "/audit/v1/events/%d/erase" % i1, "customer asked (GDPR art. 17)",
                       token=rtok)
    check(st == 403, "a reader may not erase: 403")
    st, _, b = log.req("POST", "/audit/v1/events/%d/erase" % i1, "customer asked (GDPR art. 17)",
                       token=atok)
    er = json.loads(b) if st == 200 else {}
    check(st == 200 and er.get("event", {}).get("action") == "audit.erase" and
          er["event"]["resource"] == {"type": "audit.event", "id": str(i1)} and
          er["event"]["details"]["reason"] == "customer asked (GDPR art. 17)" and
          er["event"]["submitter"] == "@log", "erase: 200 with the erasure's receipt")
    ei = verify_receipt(log, er, "erasure")
    st, _, b = log.req("GET", "/audit/v1/events/%d" % i1, token=rtok)
    check(st == 410 and ("erased by event %d" % ei) in b.decode(), "an erased event: 410")
    st, _, b = log.req("POST", "/audit/v1/events/%d/erase" % i1, "again", token=atok)
    check(st == 410, "erasing an erased event: 410")
    st, _, b = log.req("POST", "/audit/v1/events/%d/erase" % ei, "no", token=atok)
    check(st == 400, "erasing an erasure: 400")
    st, _, b = log.req("POST", "/audit/v1/events/%d/erase" % (log.size() + 9), "x", token=atok)
    check(st == 404, "erasing beyond the tree: 404")
    st, _, b = log.req("POST", "/audit/v1/events/%d/erase" % (i1 + 1), "", token=atok)
    check(st == 400, "an erasure without a reason: 400")
    st, _, b = log.req("GET", "/audit/v1/bodies/000.p/%d" % (i1 + 1), token=rtok)
    check(st == 200 and {"index": i1, "erased_by": ei} in
          [json.loads(x) for x in b.decode().splitlines()], "bodies show the erasure")
    st, _, b = log.req("GET", "/audit/v1/events?actor=alice", token=rtok)
    check(st == 200 and i1 not in [e["index"] for e in json.loads(b)["events"]],
          "queries leave erased events out")
    verify_receipt(log, r1[0], "a receipt given before the erasure still")
    st, _, b = log.post(ev(id="e-1", source="shop", time="2026-12-02T06:00:00.123Z"), wtok)
    check(st == 409, "the erased event's key, again: 409 (its body is gone)")

    # ---- the trail of access ---------------------------------------------------------
    time.sleep(0.2)
    reads = own_events(log, rtok, "audit.read")
    check(any(e["event"]["actor"] == {"id": "auditor", "type": "token"} and
              e["event"]["resource"] == {"type": "audit.event", "id": str(i1)} and
              e["event"]["outcome"] == "success" and e["event"]["submitter"] == "@log" and
              e["event"]["details"]["status"] == 200 for e in reads), "reads are recorded")
    check(any(e["event"]["outcome"] == "failure" and e["event"]["details"]["status"] == 410
              for e in reads), "a 410 read is recorded as a failure")
    queries = own_events(log, rtok, "audit.query")
    check(any(e["event"]["resource"] == {"type": "audit.log", "id": ORIGIN} and
              e["event"]["details"]["query"] == "actor=u4" for e in queries),
          "queries are recorded with their query")
    writes = own_events(log, rtok, "audit.write")
    check(any(e["event"]["outcome"] == "denied" and e["event"]["actor"]["id"] == "auditor"
              for e in writes), "a 403 is recorded as denied")
    check(any(e["event"]["outcome"] == "failure" and e["event"]["details"]["status"] == 409
              for e in writes), "a refused write is recorded")
    check(not any(e["event"]["actor"]["id"] == "@anonymous" for e in writes),
          "requests without a valid token are not recorded")
    erases = own_events(log, rtok, "audit.erase")
    check(len([e for e in erases if e["event"]["outcome"] == "success"]) == 1,
          "an erasure is recorded once")
    check(own_events(log, rtok, "order.cancel") and
          not any(e["event"]["submitter"] == "@log" for e in own_events(log, rtok,
                                                                         "order.cancel")),
          "a successful write is not recorded twice")

    # ---- revocation and reload ----------------------------------------------------------
    r = subprocess.run([TLOGD, "token", "revoke", "--dir", d, "--name", "auditor"],
                       capture_output=True, text=True)
    check(r.returncode == 0, "tlogd token revoke")
    time.sleep(1.2)
    st, _, b = log.req("GET", "/audit/v1/events?limit=1", token=rtok)
    check(st == 401, "a revoked token: 401 within a second, no restart")
    rtok2 = token_add(d, "auditor2", "reader")
    time.sleep(1.2)
    st, _, b = log.req("GET", "/audit/v1/events?limit=1", token=rtok2)
    check(st == 200, "a new token works within a second")
    # a token revoked while its request is in flight: checked once the whole
    # request has arrived, so a body still coming when the revocation lands is
    # refused, and nothing of it is recorded
    wtok2 = token_add(d, "shop2", "writer")
    time.sleep(1.2)
    body = json.dumps([ev(actor={"id": "inflight"})]).encode()
    before = log.size()
    sk = socket.create_connection(("127.0.0.1", log.port), timeout=30)
    sk.sendall(b"POST /audit/v1/events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               b"Authorization: Bearer " + wtok2.encode() + b"\r\nContent-Length: %d\r\n\r\n"
               % len(body) + body[:10])
    r = subprocess.run([TLOGD, "token", "revoke", "--dir", d, "--name", "shop2"],
                       capture_output=True, text=True)
    time.sleep(1.2)
    sk.sendall(body[10:])
    answer = sk.recv(4096)
    sk.close()
    check(r.returncode == 0 and answer.startswith(b"HTTP/1.1 401"),
          "a token revoked while its body arrives: 401 (%r)" % answer[:40])
    settle(log, before)
    st, _, b = log.req("GET", "/audit/v1/events?actor=inflight", token=rtok2)
    check(st == 200 and json.loads(b)["events"] == [], "... and nothing of it recorded")
    # an erased body's bytes leave the log's folder soon after the erasure's
    # answer (the log compacts them on its own thread), the others stay
    keep, gone = "keep-" + os.urandom(8).hex(), "gone-" + os.urandom(8).hex()
    st, _, b = log.post([ev(id="c-keep", details={"note": keep}),
                         ev(id="c-gone", details={"note": gone})], wtok)
    rs = json.loads(b)["receipts"] if st == 200 else []
    check(len(rs) == 2, "two marked events recorded")
    if len(rs) == 2:
        gi = verify_receipt(log, rs[1], "the event to erase")
        needles = [gone.encode(), tlrel.b64d(rs[1]["salt"])]
        st, _, b = log.req("POST", "/audit/v1/events/%d/erase" % gi, "compaction", token=atok)
        check(st == 200, "the marked event erased")
        wait_until(lambda: not files_holding(d, needles), 30 if tlrel.sanitized() else 10)
        left = files_holding(d, needles)
        check(not left, "no file of the log's folder holds the erased body or salt %s" % left[:5])
        check(files_holding(os.path.join(d, "db"), [keep.encode()]),
              "the log's database still holds the event not erased")

    # metrics and logs never show a token or an event
    st, _, m = log.req("GET", "/metrics")
    log.err.seek(0)
    text = log.err.read() + m.decode()
    check(wtok not in text and rtok not in text and atok not in text and "alice" not in text,
          "tokens and events are in no log line nor metric")
    check(re.search(r"^tlogd_audit_access_records_lost_total 0$", m.decode(), re.M) is not None,
          "every access of the run was recorded (no lost access record)")


def crash(d, wtok, rtok, atok):
    """kill -9 during batch ingestion and during an erasure."""
    log = Log(d)
    given = []
    import threading
    quiet(log)

    def writer():
        for k in range(30):
            try:
                st, _, b = log.post([ev(actor={"id": "crash%d-%d" % (k, j)})
                                     for j in range(50)], wtok)
            except OSError:  # the kill
                return
            if st != 200:
                return
            given.extend(json.loads(b)["receipts"])

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(0.4)
    # an erasure racing the kill
    st, _, b = log.req("GET", "/audit/v1/events?actor=u2", token=atok)
    target = json.loads(b)["events"][0]["index"] if st == 200 and json.loads(b)["events"] else 1
    res = {}

    def eraser():
        try:
            res["erase"] = log.req("POST", "/audit/v1/events/%d/erase" % target, "crash test",
                                   token=atok)
        except Exception as e:  # the server died mid-answer
            res["erase"] = (0, {}, str(e).encode())

    te = threading.Thread(target=eraser)
    te.start()
    time.sleep(0.05)
    log.stop(signal.SIGKILL)
    t.join()
    te.join()
    log = Log(d)
    try:
        check(len(given) > 0, "some receipts were given before the kill (%d)" % len(given))
        ok = all(verify_receipt(log, x, "after kill -9") is not None for x in given[:5] +
                 given[-5:])
        check(ok, "receipts given before kill -9 verify after restart")
        for x in given[-20:]:
            i = verify_receipt(log, x, "after kill -9")
            st, _, b = log.req("GET", "/audit/v1/events/%d" % i, token=atok)
            check(st == 200 and json.loads(b)["event"] == x["event"],
                  "its body is readable after restart")
            break
        # time order over the whole log, from the public bundles
        n = log.size()
        times = []
        for k in range((n + 255) // 256):
            w = min(256, n - k * 256)
            p = "/tile/entries/%03d" % k if w == 256 else "/tile/entries/%03d.p/%d" % (k, w)
            st, _, tile = log.req("GET", p)
            off = 0
            while off < len(tile):
                ln = int.from_bytes(tile[off:off + 2], "big")
                times.append(json.loads(tile[off + 2:off + 2 + ln])["time"])
                off += 2 + ln
        check(len(times) == n and times == sorted(times), "log times never decrease (%d)" % n)
        st, _, b = log.req("GET", "/audit/v1/events/%d" % target, token=atok)
        erased = st == 410
        erasures = [e for e in own_events(log, atok, "audit.erase")
                    if e["event"]["resource"]["id"] == str(target)]
        check(erased == (len(erasures) == 1) and len(erasures) <= 1,
              "an erasure happened with its event, or not at all")
        if res.get("erase", (0,))[0] == 200:
            check(erased, "an acknowledged erasure survives kill -9")
    finally:
        check(log.stop() == 0, "restarted log exits 0")


def blob_and_flags():
    d = os.path.join(TMP, "blob")
    subprocess.run([TLOGD, "init", "--dir", d, "--origin", "example.test/blob"], check=True,
                   capture_output=True)
    log = Log(d)
    try:
        st, _, _ = log.req("GET", "/audit/v1/log")
        check(st == 404, "the /audit/v1/ paths are 404 on a blob log")
    finally:
        log.stop()
    r = subprocess.run([TLOGD, "serve", "--dir", d, "--public-events"], capture_output=True,
                       text=True, timeout=30)
    check(r.returncode != 0 and "audit logs" in r.stderr, "--public-events on a blob log refused")
    # --anonymous-writes and --public-events
    d2 = os.path.join(TMP, "open")
    subprocess.run([TLOGD, "init", "--dir", d2, "--origin", "example.test/open", "--kind",
                    "audit"], check=True, capture_output=True)
    rtok = token_add(d2, "r", "reader")
    log = Log(d2, "--anonymous-writes", "--public-events")
    try:
        st, _, b = log.post(GOOD, None)
        check(st == 200 and json.loads(b)["receipts"][0]["event"]["submitter"] == "@anonymous",
              "--anonymous-writes: submitter @anonymous")
        st, _, b = log.post(GOOD, "bogus")
        check(st == 401, "--anonymous-writes: an unknown token is still 401")
        st, _, b = log.post(GOOD, rtok)
        check(st == 403, "--anonymous-writes: a reader's token is still 403")
        st, _, b = log.req("GET", "/audit/v1/events?limit=5")
        check(st == 200, "--public-events: anyone may query")
        time.sleep(0.2)
        st, _, b = log.req("GET", "/audit/v1/events?action=audit.query")
        anon = [e for e in json.loads(b)["events"] if e["event"]["actor"]["id"] == "@anonymous"]
        check(st == 200 and not anon, "--public-events: anonymous reads are not recorded")
    finally:
        log.stop()


def show_stderr():
    """tlogd's stderr of every log of the run, for a failed run's reader."""
    for name in sorted(os.listdir(TMP)):
        if name.endswith(".err"):
            with open(os.path.join(TMP, name), errors="replace") as f:
                tail = f.read()[-6000:]
            print("---- tlogd stderr (%s), last lines:\n%s" % (name, tail), file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        show_stderr()
        raise
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(summary("audit logs"))
