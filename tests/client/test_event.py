#!/usr/bin/env python3
"""test_event.py - `tlog event add | verify | search` against a real audit log.

usage: test_event.py BUILD_DIR

Starts build/tlogd on a fresh `--kind audit` log (--max-batch 100, so that
tlog must split its input), with writer and reader tokens, and checks:
  add     one pretty-printed event and NDJSON over several batches, receipts
          verified and written to -o OUT or stdout, a repeat of events with
          ids gives the same receipts, a bad event is exit 2 naming its
          index in the input and records nothing, token errors are exit 3;
  verify  receipts hold, also reformatted by a JSON tool; a flipped event,
          salt, record or proof, or another log's key, fails (exit 1) naming
          the receipt and line and what failed;
  search  filters and paging across the log's 1000-a-page limit, newest
          first, results equal to GET /audit/v1/events, --json receipts that
          `event verify` accepts; through a proxy that alters answers, a
          changed event, an inclusion proof, a result the filter did not ask
          for, or results out of order fail (exit 1).
Every check fails when the behaviour breaks; nothing is skipped.
"""
import copy
import http.client
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tltest  # noqa: E402

BUILD = sys.argv[1]
TLOG = os.path.join(BUILD, "tlog")
TLOGD = os.path.join(BUILD, "tlogd")
S = tltest.Scratch("tlog-event-")
TMP, procs, fail, finish, expect, p = S.tmp, S.procs, S.fail, S.finish, S.expect, S.path
ORIGIN = "example.test/events"


def tlog(*args, rc=None, stdin=None):
    env = dict(os.environ)
    env.pop("TLOG_TOKEN", None)
    r = subprocess.run([TLOG] + list(args), input=stdin, capture_output=True, timeout=120,
                       env=env)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    if rc is not None and r.returncode != rc:
        fail("tlog %s: exit %d, expected %d\nstdout: %s\nstderr: %s"
             % (" ".join(args), r.returncode, rc, out[-2000:], err[-2000:]))
    return out, err


def run(*args):
    r = subprocess.run(list(args), capture_output=True, text=True)
    expect(r.returncode == 0, "%s: %s" % (" ".join(args), r.stderr))
    return r.stdout.strip()


def ev(actor, n, **kw):
    e = {"actor": {"id": actor}, "action": "doc.read",
         "resource": {"type": "doc", "id": "d%d" % n}, "outcome": "success"}
    e.update(kw)
    return e


class Proxy:
    """Forwards GETs to the log; alter(path, body) may change an answer."""

    def __init__(self, upstream):
        self.alter = None
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                path = self.path
                if outer.alter and outer.alter_query:
                    path = outer.alter_query(path)
                c = http.client.HTTPConnection("127.0.0.1", upstream, timeout=30)
                c.request("GET", path, headers={k: v for k, v in self.headers.items()
                                                if k.lower() in ("authorization", "accept")})
                r = c.getresponse()
                body = r.read()
                if outer.alter and r.status == 200:
                    body = outer.alter(self.path, body)
                self.send_response(r.status)
                self.send_header("Content-Type", r.getheader("Content-Type", "text/plain"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.alter_query = None
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()


def main():
    logdir = p("log")
    vkey = run(TLOGD, "init", "--dir", logdir, "--origin", ORIGIN, "--kind", "audit")
    tokens = {}
    for name, role in (("shop", "writer"), ("auditor", "reader")):
        tokens[role] = p(name + ".token")
        with open(tokens[role], "w") as f:
            f.write(run(TLOGD, "token", "add", "--dir", logdir, "--name", name, "--role", role)
                    + "\n")
    other = run(TLOGD, "init", "--dir", p("other"), "--origin", ORIGIN, "--kind", "audit")
    port = tltest.free_port()
    err = open(p("tlogd.err"), "w")
    procs.append(subprocess.Popen([TLOGD, "serve", "--dir", logdir, "--listen",
                                   "127.0.0.1:%d" % port, "--batch-interval", "5",
                                   "--max-batch", "100"], stderr=err))
    tltest.wait_port(port)
    url = "http://127.0.0.1:%d" % port
    W, R = ["--token-file", tokens["writer"]], ["--token-file", tokens["reader"]]
    K = ["--key", vkey]

    def get(path, tok):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        with open(tok) as f:
            c.request("GET", path, headers={"Authorization": "Bearer " + f.read().strip()})
        r = c.getresponse()
        return r.status, r.read()

    def size():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", "/checkpoint")
        return int(c.getresponse().read().decode().split("\n")[1])

    # ---- add ------------------------------------------------------------------
    with open(p("one.json"), "w") as f:
        json.dump(ev("alice", 1, id="one"), f, indent=2)  # one event, on several lines
    tlog("event", "add", url, p("one.json"), "-o", p("one.receipt.json"), *W, *K, rc=0)
    rec = json.load(open(p("one.receipt.json")))
    expect(rec["event"]["actor"]["id"] == "alice" and rec["event"]["submitter"] == "shop",
           "the receipt holds the event with its submitter: %r" % rec)
    # 250 events (3 batches of at most 100), two of them with blank lines between
    lines = [json.dumps(ev("u%d" % (i % 5), i, id="e%d" % i)) for i in range(250)]
    text = "\n".join(lines[:120]) + "\n\n" + "\n".join(lines[120:]) + "\n"
    with open(p("many.ndjson"), "w") as f:
        f.write(text)
    out, e = tlog("event", "add", url, p("many.ndjson"), *W, *K, rc=0)
    receipts = [json.loads(x) for x in out.splitlines()]
    expect(len(receipts) == 250, "250 receipts on stdout, got %d" % len(receipts))
    expect([r["event"]["id"] for r in receipts] == ["e%d" % i for i in range(250)],
           "receipts in input order")
    expect("250 events recorded, every receipt verified" in e, "summary: " + e)
    # stdin, and a repeat: the same occurrences get the same receipts' records
    out2, _ = tlog("event", "add", url, "-", *W, *K, rc=0, stdin=text.encode())
    again = [json.loads(x) for x in out2.splitlines()]
    expect([r["record"] for r in again] == [r["record"] for r in receipts] and
           [r["salt"] for r in again] == [r["salt"] for r in receipts],
           "a repeat of events with ids gives the original records and salts")
    n0 = size()
    # a bad event in the third batch: named by its index in the input; nothing of its batch
    bad = lines[:230] + ['{"actor":{"id":"x"},"action":"a b","resource":{"type":"t","id":"i"},'
                         '"outcome":"success"}'] + lines[230:]
    with open(p("bad.ndjson"), "w") as f:
        f.write("\n".join(l.replace('"e', '"f') for l in bad) + "\n")
    out, e = tlog("event", "add", url, p("bad.ndjson"), *W, rc=2)
    expect(re.search(r"event 230: action", e), "the reason names event 230 of the input: " + e)
    expect("the first 200 events were recorded" in e, "says what was recorded: " + e)
    expect(len(out.splitlines()) == 200, "the first two batches' receipts are given")
    time.sleep(0.3)
    expect(size() <= n0 + 200 + 2, "nothing of the refused batch recorded")
    tlog("event", "add", url, p("one.json"), rc=3)  # no token: 401
    _, e = tlog("event", "add", url, p("one.json"), *R, rc=3)  # a reader: 403
    expect("403" in e, "a reader's write is a 403: " + e)
    with open(p("empty.ndjson"), "w") as f:
        f.write("\n\n")
    tlog("event", "add", url, p("empty.ndjson"), *W, rc=2)
    tlog("event", "add", url, p("nonexistent"), *W, rc=3)
    tlog("event", "add", url, "a", "b", *W, rc=2)
    tlog("event", "add", url, p("one.json"), "--state", "x", *W, rc=2)

    # ---- verify ---------------------------------------------------------------
    out, _ = tlog("event", "verify", *K, p("one.receipt.json"), rc=0)
    expect(out.startswith("OK: ") and "event 0 of " + ORIGIN in out, "verify says OK: " + out)
    with open(p("many.receipts"), "w") as f:
        f.write("\n".join(json.dumps(r) for r in receipts) + "\n")
    out, _ = tlog("event", "verify", *K, p("many.receipts"), rc=0)
    expect(out.count("OK: ") == 250, "every receipt of the NDJSON file verifies")
    # reformatted by a JSON tool: members reordered, indented, \u escapes
    r0 = receipts[7]
    pretty = {"proof": r0["proof"], "record": r0["record"],
              "event": dict(reversed(list(r0["event"].items()))), "salt": r0["salt"]}
    with open(p("pretty.receipt.json"), "w") as f:
        json.dump(pretty, f, indent=4, ensure_ascii=True)
    tlog("event", "verify", *K, p("pretty.receipt.json"), rc=0)
    tlog("event", "verify", "--key", other, p("one.receipt.json"), rc=1)

    def tampered(name, change, why):
        r = copy.deepcopy(receipts[3])
        change(r)
        with open(p(name), "w") as f:
            f.write(json.dumps(receipts[2]) + "\n" + json.dumps(r) + "\n")
        _, e = tlog("event", "verify", *K, p(name), rc=1)
        expect(name + ":2: " in e and why in e, "%s: names line 2 and %r: %s" % (name, why, e))
        expect(name + ":1" not in e, "%s: line 1 holds" % name)

    tampered("t-event", lambda r: r["event"]["actor"].update(id="mallory"), "commitment")
    tampered("t-salt", lambda r: r.update(salt=receipts[4]["salt"]), "commitment")
    tampered("t-record", lambda r: r.update(record=receipts[4]["record"]), "commitment")
    tampered("t-proof", lambda r: r.update(proof=receipts[4]["proof"]), "inclusion")
    tampered("t-shape", lambda r: r.pop("salt"), "salt")
    with open(p("t-float"), "w") as f:
        f.write(json.dumps(receipts[2]) + "\n" +
                json.dumps(receipts[3]).replace('"success"', '1.5', 1) + "\n")
    _, e = tlog("event", "verify", *K, p("t-float"), rc=1)
    expect(":2: " in e, "a float in an event fails: " + e)
    tlog("event", "verify", *K, p("nonexistent"), rc=3)
    tlog("event", "verify", p("one.receipt.json"), rc=2)  # no trust

    # ---- search -------------------------------------------------------------
    out, e = tlog("event", "search", url, *K, *R, "--actor", "u2", "--limit", "7", rc=0)
    rows = out.splitlines()
    expect(rows[0].split()[:3] == ["INDEX", "LOG", "TIME"], "a table header: " + out)
    idx = [int(x.split()[0]) for x in rows[1:]]
    st, body = get("/audit/v1/events?actor=u2&limit=7", tokens["reader"])
    expect(st == 200, "GET /audit/v1/events: %d" % st)
    want = [x["index"] for x in json.loads(body)["events"]]
    expect(idx == want and len(idx) == 7, "the table's rows are the log's: %r vs %r" % (idx, want))
    expect(all(" u2 " in x and "doc/d" in x and "success" in x for x in rows[1:]),
           "rows show actor, resource and outcome: " + out)
    out, e = tlog("event", "search", url, *K, *R, "--resource-type", "doc", "--resource-id",
                  "d17", "--json", rc=0)
    got = [json.loads(x) for x in out.splitlines()]
    # d17: event e17, and f17 of the refused input's first, recorded, batches
    expect(len(got) == 2 and all(g["event"]["resource"]["id"] == "d17" for g in got) and
           got[1]["record"] == receipts[17]["record"] and got[0]["event"]["id"] == "f17",
           "--json gives the results as receipts, newest first: %r" % got)
    with open(p("found.receipt.json"), "w") as f:
        f.write(out)
    tlog("event", "verify", *K, p("found.receipt.json"), rc=0)
    # paging past the log's 1000 a page: 1100 events of one actor
    big = "\n".join(json.dumps(ev("pager", i)) for i in range(1100)) + "\n"
    tlog("event", "add", url, "-", *W, rc=0, stdin=big.encode())
    out, e = tlog("event", "search", url, *K, *R, "--actor", "pager", "--limit", "5000",
                  "-q", "--json", rc=0)
    idx = [json.loads(x)["record"] for x in out.splitlines()]
    expect(len(idx) == 1100 and len(set(idx)) == 1100, "1100 results over two pages: %d"
           % len(idx))
    out, _ = tlog("event", "search", url, *K, *R, "--actor", "pager", "--limit", "1050",
                  "--json", rc=0)
    expect(len(out.splitlines()) == 1050, "--limit bounds the results across pages")
    # a time range: since = the 100th pager event's log time, until its next millisecond
    mid = json.loads(out.splitlines()[100])
    t = json.loads(mid["record"])["time"]
    out, _ = tlog("event", "search", url, *K, *R, "--actor", "pager", "--since", str(t),
                  "--until", str(t + 1), "--json", "--limit", "5000", rc=0)
    times = {json.loads(json.loads(x)["record"])["time"] for x in out.splitlines()}
    expect(times == {t}, "since/until select that millisecond: %r" % times)
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t // 1000)) + ".%03dZ" % (t % 1000)
    out2, _ = tlog("event", "search", url, *K, *R, "--actor", "pager", "--since", iso,
                   "--until", str(t + 1), "--json", "--limit", "5000", rc=0)
    recs = [json.loads(x)["record"] for x in out.splitlines()]
    expect([json.loads(x)["record"] for x in out2.splitlines()] == recs,
           "RFC 3339 and milliseconds are the same bound")
    out, _ = tlog("event", "search", url, *K, *R, "--actor", "nobody", rc=0)
    expect(len(out.splitlines()) == 1, "no result: only the header")
    tlog("event", "search", url, *K, *R, "--since", "yesterday", rc=2)
    tlog("event", "search", url, *K, *W, rc=3)
    tlog("event", "search", url, *K, rc=3)
    tlog("event", "search", url, *R, rc=2)  # no trust
    tlog("event", "search", url, *K, *R, "--limit", "0", rc=2)
    tlog("event", "search", url, "--key", other, *R, rc=1)

    # ---- search through a proxy that alters answers -----------------------------
    px = Proxy(port)
    purl = "http://127.0.0.1:%d" % px.port

    def altered(name, alter, why, query=None, args=("--actor", "u1")):
        px.alter, px.alter_query = alter, query
        _, e = tlog("event", "search", purl, *K, *R, *args, "--limit", "20", rc=1)
        px.alter = px.alter_query = None
        expect(why in e, "%s: %r in %s" % (name, why, e))

    def on_events(f):
        def alter(path, body):
            if not path.startswith("/audit/v1/events"):
                return body
            j = json.loads(body)
            f(j)
            return json.dumps(j).encode()
        return alter

    altered("event", on_events(lambda j: j["events"][3]["event"].update(outcome="failure")),
            "commitment")
    altered("proof", on_events(lambda j: j["events"][2]["inclusion_proof"].reverse()),
            "inclusion")
    altered("order", on_events(lambda j: j["events"].reverse()), "newest first")
    altered("checkpoint", on_events(lambda j: j.update(
        checkpoint=j["checkpoint"].replace(ORIGIN + "\n", ORIGIN + "\n", 1)[:-10] + "AAAAAAAAA\n")),
        "checkpoint")

    def drop_actor(path):
        u = urllib.parse.urlsplit(path)
        q = [kv for kv in urllib.parse.parse_qsl(u.query) if kv[0] != "actor"]
        return u.path + "?" + urllib.parse.urlencode(q)

    altered("filter", lambda path, body: body, "does not match the filter actor",
            query=drop_actor)
    px.srv.shutdown()
    print("ok: tlog event add, verify and search")
    finish(0)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException as e:  # a crash of the test is a failure, with its cause
        import traceback
        traceback.print_exc()
        fail("unexpected %s: %s" % (type(e).__name__, e))
