#!/usr/bin/env python3
"""test_audit_kind.py - `tlog audit` and `tlog monitor` on audit logs.

usage: test_audit_kind.py BUILD_DIR SOURCE_DIR CASE

Drives the real build/tlog against a real build/tlogd (`init --kind audit`,
tokens from `tlogd token add`, events posted to /audit/v1/events, erasures):
  tokens   with a reader token every commitment is checked and erasures are
           reported by index; without one only the public part, and tlog says
           so; a writer's or an unknown token is a clear exit 3; --kind; the
           log time kept in --state (and state files without it still load);
  tokens_h2c  the same with --h2c: the tiles, bundles and bodies (and the
           token) through tlog's HTTP/2 fetcher (client/h2.c);
  records  a blob log whose entries are made by hand, audited with --kind
           audit: a non-record entry and log times going back (within a
           bundle, across bundles, across runs through --state) fail, exit 1,
           naming the index, what was expected and what came;
  tamper   event bodies altered by a proxy between tlog and tlogd (a salt, an
           event byte, a missing line): exit 1 naming the index;
  monitor  monitor reports erasures as it follows the log, says "public part
           only" once without a token, and stops (exit 3, no retrying) when
           its token is refused.
Every case fails loudly when the behaviour breaks; nothing is skipped.
"""
import base64
import hashlib
import http.client
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from tltest import Scratch  # noqa: E402

BUILD, SRC, CASE = sys.argv[1], sys.argv[2], sys.argv[3]
TLOG = os.path.join(BUILD, "tlog")
TLOGD = os.path.join(BUILD, "tlogd")
SANITIZED = os.environ.get("TL_SANITIZED") == "1"
S = Scratch("tlog-audit-kind-")
TMP, PROCS, fail, expect, path = S.tmp, S.procs, S.fail, S.expect, S.path
ORIGIN = "example.test/audit"


def tlog(*args, rc=None, env=None, timeout=120):
    e = dict(os.environ)
    e.pop("TLOG_TOKEN", None)
    e.update(env or {})
    p = subprocess.run([TLOG] + list(args), capture_output=True, timeout=timeout, env=e)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    if rc is not None and p.returncode != rc:
        fail("tlog %s: exit %d, expected %d\nstdout: %s\nstderr: %s"
             % (" ".join(args), p.returncode, rc, out, err))
    return p.returncode, out, err


class Log:
    """A tlogd serving DIR on a free port."""

    def __init__(self, name, kind="audit"):
        self.d = path(name)
        args = [TLOGD, "init", "--dir", self.d, "--origin", ORIGIN]
        if kind == "audit":
            args += ["--kind", "audit"]
        r = subprocess.run(args, capture_output=True, text=True)
        expect(r.returncode == 0, "tlogd init: " + r.stderr)
        self.vkey = r.stdout.strip()
        self.tokens = {}
        if kind == "audit":
            for n, role in (("shop", "writer"), ("auditor", "reader"), ("dpo", "admin")):
                r = subprocess.run([TLOGD, "token", "add", "--dir", self.d, "--name", n,
                                    "--role", role], capture_output=True, text=True)
                expect(r.returncode == 0, "tlogd token add: " + r.stderr)
                self.tokens[role] = r.stdout.strip()
            with open(path(name + ".reader"), "w") as f:
                f.write(self.tokens["reader"] + "\n")
            with open(path(name + ".writer"), "w") as f:
                f.write(self.tokens["writer"] + "\n")
            self.reader_file = path(name + ".reader")
            self.writer_file = path(name + ".writer")
        self.errpath = path(name + ".err")
        self.err = open(self.errpath, "w")
        self.p = subprocess.Popen([TLOGD, "serve", "--dir", self.d, "--listen", "127.0.0.1:0",
                                   "--batch-interval", "5"], stderr=self.err)
        PROCS.append(self.p)
        self.port = None
        for _ in range(400):
            m = re.findall(r"\(port (\d+)\)", open(self.errpath).read())
            if m:
                self.port = int(m[-1])
                break
            expect(self.p.poll() is None, "tlogd died: " + open(self.errpath).read())
            time.sleep(0.05)
        expect(self.port, "tlogd did not start")
        self.url = "http://127.0.0.1:%d" % self.port

    def req(self, method, p, body=None, token=None, ctype=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        h = {}
        if token:
            h["Authorization"] = "Bearer " + token
        if ctype:
            h["Content-Type"] = ctype
        c.request(method, p, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    def post(self, n, tag):
        """Posts n events; returns their indexes."""
        lines = "".join(json.dumps({"actor": {"id": "alice"}, "action": "order.cancel",
                                    "resource": {"type": "order", "id": "%s-%d" % (tag, i)},
                                    "outcome": "success", "details": {"n": i, "why": "caf\u00e9"}},
                                   ensure_ascii=False) + "\n" for i in range(n))
        st, b = self.req("POST", "/audit/v1/events", lines.encode(), self.tokens["writer"],
                         "application/x-ndjson")
        expect(st == 200, "post: %d %s" % (st, b[:200]))
        recs = json.loads(b)["receipts"]
        return [int(re.search(r"^index (\d+)$", r["proof"], re.M).group(1)) for r in recs]

    def erase(self, i):
        st, b = self.req("POST", "/audit/v1/events/%d/erase" % i, b"test erasure",
                         self.tokens["admin"])
        expect(st == 200, "erase %d: %d %s" % (i, st, b[:200]))

    def add(self, entry):
        st, b = self.req("POST", "/add", entry)
        expect(st == 200, "add: %d %s" % (st, b[:200]))

    def size(self):
        st, b = self.req("GET", "/checkpoint")
        return int(b.split(b"\n")[1]) if st == 200 else 0


def record(t, seed):
    c = base64.b64encode(hashlib.sha256(("%d/%s" % (t, seed)).encode()).digest()).decode()
    return ('{"v":1,"time":%d,"commitment":"%s"}' % (t, c)).encode()


AUDIT_FLAGS = []  # tokens_h2c: ["--h2c"]


def audit(log, *extra, rc=0, token=None, env=None):
    args = ["audit", log.url, "--key", log.vkey] + AUDIT_FLAGS + list(extra)
    if token:
        args += ["--token-file", token]
    return tlog(*args, rc=rc, env=env)


# ---- cases -------------------------------------------------------------------

def case_tokens():
    log = Log("log")
    idx = log.post(300, "a")
    expect(idx == list(range(300)), "indexes %s" % idx[:5])
    for i in (5, 17, 260):
        log.erase(i)
    st = path("st")
    _, out, err = audit(log, "--state", st, token=log.reader_file)
    expect("erased: 3 events (indexes 5, 17, 260)" in err, "erasures reported: " + err)
    expect("public part only" not in err, "with a token: " + err)
    saved = json.load(open(st))
    expect(isinstance(saved.get("last_time"), int) and
           0 < saved["last_time"] <= time.time() * 1000 + 60000, "last_time saved: %s" % saved)
    # $TLOG_TOKEN, --json: what was checked.
    _, out, err = tlog("audit", log.url, "--key", log.vkey, "--json", rc=0,
                       env={"TLOG_TOKEN": log.tokens["reader"]})
    j = json.loads(out)
    a = j.get("audit", {})
    expect(a.get("bodies_checked") is True and a.get("erased") == 3 and
           a.get("erased_indexes") == [5, 17, 260] and
           a.get("events_checked") == j["entries_verified"] - 3, "json: %s" % out)
    # No token: the public part only, and tlog says so.
    _, out, err = audit(log, rc=0)
    expect("public part only: event bodies not checked (no reader token)" in err,
           "no token: " + err)
    expect("erased" not in err, "no token, no erasures known: " + err)
    _, out, _ = tlog("audit", log.url, "--key", log.vkey, "--json", rc=0)
    j = json.loads(out)
    expect(j["audit"]["bodies_checked"] is False and j["audit"]["events_checked"] == 0,
           "json without token: " + out)
    # A writer's token may not read bodies; an unknown token is refused.
    _, _, err = audit(log, rc=3, token=log.writer_file)
    expect("403" in err and "reader token" in err and "bodies" in err, "writer token: " + err)
    bad = path("bad.token")
    open(bad, "w").write("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n")
    _, _, err = audit(log, rc=3, token=bad)
    expect("401" in err, "unknown token: " + err)
    expect(log.tokens["writer"] not in err and "AAAAAAAAAAAAAAAA" not in err, "token in a message")
    # --kind blob: the generic checks only; --kind audit: the same as detected.
    _, _, err = audit(log, "--kind", "blob", rc=0, token=log.reader_file)
    expect("erased" not in err and "public part" not in err, "--kind blob: " + err)
    _, _, err = audit(log, "--kind", "audit", rc=0, token=log.reader_file)
    expect("erased: 3 events" in err, "--kind audit: " + err)
    tlog("audit", log.url, "--key", log.vkey, "--kind", "ct", rc=2)
    tlog("verify", "--key", log.vkey, "--kind", "audit", "p", "e", rc=2)
    # The next run checks what is new only, and reports only new erasures.
    new = log.post(10, "b")
    log.erase(new[3])
    _, _, err = audit(log, "--state", st, token=log.reader_file)
    expect(("erased: 1 event (index %d)" % new[3]) in err, "second run: " + err)
    t2 = json.load(open(st))["last_time"]
    expect(t2 >= saved["last_time"], "last_time goes on: %d %d" % (t2, saved["last_time"]))
    # Many erasures: a bounded list.
    many = log.post(30, "c")
    for i in many[:12]:
        log.erase(i)
    _, _, err = audit(log, "--state", st, token=log.reader_file)
    m = re.search(r"erased: 12 events \(indexes ([0-9, .]+)\)", err)
    expect(m and m.group(1).endswith(", ...") and m.group(1).count(",") == 10,
           "bounded list: " + err)
    # A state file of an older tlog (no last_time) still loads and is updated.
    s = json.load(open(st))
    del s["last_time"]
    json.dump(s, open(st, "w"))
    log.post(3, "d")
    audit(log, "--state", st, token=log.reader_file)
    expect("last_time" in json.load(open(st)), "old state file updated")


def case_records():
    # A blob log whose entries are records made by hand: --kind audit
    # checks them; auto detection sees a blob log (404 on /audit/v1/log).
    log = Log("blob", kind="blob")
    for n, t in enumerate((1000, 2000, 2000, 3000)):
        log.add(record(t, "x%d" % n))
    _, _, err = audit(log, rc=0)
    expect("public part" not in err, "blob log detected: " + err)
    _, _, err = audit(log, "--kind", "audit", rc=0)
    expect("public part only" in err, "--kind audit on records: " + err)
    # A log time going back within a bundle.
    log.add(record(1500, "back"))
    _, _, err = audit(log, "--kind", "audit", rc=1)
    expect("entry 4 " in err and "expected at least 3000" in err and "got 1500" in err,
           "time back: " + err)
    _, _, err = audit(log, rc=0)  # as a blob log the entries are fine

    # A non-record entry, and records that are not in the exact form.
    for n, bad in enumerate((b"hello", record(5, "sp").replace(b'"time":', b'"time": '),
                             record(7, "z").replace(b'"time":7', b'"time":07'),
                             record(8, "nl") + b"\n")):
        lg = Log("bad%d" % n, kind="blob")
        lg.add(record(1, "first"))
        lg.add(bad)
        _, _, err = audit(lg, "--kind", "audit", rc=1)
        expect("entry 1 " in err and "not an audit record" in err and "expected" in err,
               "non-record %r: %s" % (bad, err))
        lg.p.kill()

    # Across bundles and across runs: 256 records (one full bundle), a state
    # saved at size 256, then a record with an earlier time.
    lg = Log("runs", kind="blob")
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda i: lg.add(record(5000, "r%d" % i)), range(256)))
    expect(lg.size() == 256, "256 entries")
    st = path("runs.st")
    audit(lg, "--kind", "audit", "--state", st, rc=0)
    expect(json.load(open(st)).get("last_time") == 5000, "last_time: %s" % open(st).read())
    lg.add(record(4000, "early"))
    _, _, err = audit(lg, "--kind", "audit", "--state", st, rc=1)
    expect("entry 256 " in err and "expected at least 5000" in err and "got 4000" in err and
           "saved in the state by the last run" in err, "across runs: " + err)
    _, _, err = audit(lg, "--kind", "audit", rc=1)
    expect("entry 256 " in err and "expected at least 5000" in err and "got 4000" in err and
           "the time of entry 255" in err, "across bundles: " + err)


class Proxy:
    """Forwards GETs to a tlogd, changing what /audit/v1/bodies/ answers as
    self.mode says."""

    def __init__(self, log):
        self.mode = None
        proxy = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                c = http.client.HTTPConnection("127.0.0.1", log.port, timeout=60)
                hdrs = {}
                if self.headers.get("Authorization"):
                    hdrs["Authorization"] = self.headers["Authorization"]
                c.request("GET", self.path, headers=hdrs)
                r = c.getresponse()
                body = r.read()
                c.close()
                if self.path.startswith("/audit/v1/bodies/") and r.status == 200:
                    body = proxy.alter(body)
                self.send_response(r.status)
                self.send_header("Content-Type", r.getheader("Content-Type", "text/plain"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def alter(self, body):
        lines = body.split(b"\n")
        if self.mode is None:
            return body
        kind, i = self.mode
        if i >= len(lines) - 1:
            return body
        line = json.loads(lines[i])
        if kind == "salt":
            s = line["salt"]
            line["salt"] = ("B" if s[0] != "B" else "C") + s[1:]
            lines[i] = json.dumps(line, separators=(",", ":")).encode()
        elif kind == "event":
            lines[i] = lines[i].replace(b'"alice"', b'"alicf"')
        elif kind == "drop":
            del lines[i]
        elif kind == "reformat":
            # Another JSON form of the same event: still verifies (RFC 8785).
            lines[i] = json.dumps(line, indent=None, sort_keys=False,
                                  ensure_ascii=True).encode()
        return b"\n".join(lines)


def case_tamper():
    log = Log("log")
    log.post(20, "a")
    px = Proxy(log)

    def run(rc):
        return tlog("audit", px.url, "--key", log.vkey, "--token-file", log.reader_file, rc=rc)

    run(0)
    px.mode = ("reformat", 4)
    run(0)
    px.mode = ("salt", 7)
    _, _, err = run(1)
    expect("entry 7 " in err and "commitment expected" in err, "salt: " + err)
    px.mode = ("event", 3)
    _, _, err = run(1)
    expect("entry 3 " in err and "commitment expected" in err, "event: " + err)
    expect("alicf" not in err and "alice" not in err, "event contents in a message: " + err)
    px.mode = ("drop", 11)
    _, _, err = run(1)
    expect("entry 11" in err, "dropped line: " + err)
    # Without a token nothing of the bodies is read: the public part passes.
    _, _, err = tlog("audit", px.url, "--key", log.vkey, rc=0)
    expect("public part only" in err, "no token through the proxy: " + err)
    # monitor fails the same way on a range it follows.
    px.mode = None
    p = subprocess.Popen([TLOG, "monitor", px.url, "--key", log.vkey, "--token-file",
                          log.reader_file, "--interval", "0.2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    PROCS.append(p)
    time.sleep(1.0 if not SANITIZED else 3.0)
    expect(p.poll() is None, "monitor running")
    new = log.post(5, "b")
    px.mode = ("salt", new[2] % 256)
    rc = p.wait(timeout=30)
    err = p.stderr.read().decode()
    expect(rc == 1 and ("entry %d " % new[2]) in err and "commitment" in err,
           "monitor on a tampered body: %d %s" % (rc, err))


def case_monitor():
    log = Log("log")
    log.post(5, "a")
    errf = path("mon.err")

    def start(*extra):
        f = open(errf, "w")
        p = subprocess.Popen([TLOG, "monitor", log.url, "--key", log.vkey, "--interval", "0.2"] +
                             list(extra), stdout=subprocess.PIPE, stderr=f)
        PROCS.append(p)
        return p

    def wait_err(want):
        deadline = time.time() + (60 if SANITIZED else 20)
        while time.time() < deadline:
            e = open(errf).read()
            if want in e:
                return e
            time.sleep(0.1)
        fail("monitor: no %r in %s" % (want, open(errf).read()))

    p = start("--token-file", log.reader_file)
    time.sleep(0.5)
    new = log.post(4, "b")
    log.erase(new[1])
    wait_err("erased: 1 event (index %d)" % new[1])
    log.erase(2)  # an old event: not in a new range
    newer = log.post(2, "c")
    log.erase(newer[0])
    e = wait_err("erased: 1 event (index %d)" % newer[0])
    expect("index 2)" not in e and "public part" not in e, "monitor stderr: " + e)
    p.send_signal(signal.SIGTERM)
    expect(p.wait(timeout=10) == 0, "monitor exit on SIGTERM")
    # Without a token: said once, however many runs.
    p = start()
    wait_err("public part only")
    log.post(1, "d")
    time.sleep(1.0)
    log.post(1, "e")
    time.sleep(1.0)
    p.send_signal(signal.SIGTERM)
    expect(p.wait(timeout=10) == 0, "monitor exit on SIGTERM")
    e = open(errf).read()
    expect(e.count("public part only") == 1, "said once: " + e)
    # A refused token is not retried: exit 3 at once.
    p = start("--token-file", log.writer_file)
    try:
        rc = p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        rc = None
    e = open(errf).read()
    expect(rc == 3 and "403" in e and "retrying" not in e, "refused token: %s %s" % (rc, e))


def case_tokens_h2c():
    AUDIT_FLAGS.append("--h2c")
    case_tokens()


CASES = {"tokens": case_tokens, "tokens_h2c": case_tokens_h2c, "records": case_records,
         "tamper": case_tamper, "monitor": case_monitor}

if __name__ == "__main__":
    try:
        CASES[CASE]()
    except BaseException:
        S.stop()
        raise
    print("ok: client audit %s" % CASE)
    S.finish(0)
