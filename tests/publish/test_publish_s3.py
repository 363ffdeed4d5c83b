#!/usr/bin/env python3
"""test_publish_s3.py - tlogd serve --publish s3://BUCKET/PREFIX end to end,
with real processes on loopback: s3rver (an S3-compatible server from npm,
which checks SigV4 signatures but enforces no preconditions) and, in front
of it, a proxy of this test's own that enforces If-None-Match: * and
If-Match on PUT, refuses requests without an AWS4-HMAC-SHA256 Authorization
header, and can delay checkpoints or fail every PUT.

  - wrong credentials: s3rver refuses the signature, tlogd exits 1 saying so;
  - through the proxy (conditions enforced): tlogd says so at start;
    objects are PUT with If-None-Match: *, the checkpoint with If-Match;
    --publish-before-answer answers find their entry at the origin even
    when the checkpoint's PUT is slow; awscli reads back every object with
    the Cache-Control and Content-Type tlogd serves; tlog audit verifies
    the bucket through s3rver;
  - pushback: while every PUT fails, POST /add answers 503 + Retry-After once
    the queue passes --publish-queue-max, and 200 again after it drains;
  - restart with the origin behind: the 412s on objects already there are
    read back, compared and accepted; the checkpoint is caught up;
  - a damaged object: fork alarm, /healthz 503 naming the path, the object
    left as it was;
  - straight to s3rver (no conditions): tlogd says so at start, and still
    finds a damaged object by reading before writing.

Usage: test_publish_s3.py BUILD_DIR"""
import collections
import http.client as httpclient
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pub_common import (Env, add_many, check, finish, free_port, http, metric, proof_index,
                        run_tool, s3rver_bin, size_of, start_tlogd, text, wait_for, wait_port)

BUCKET = "tlog"


class S3Proxy:
    """Forwards to s3rver; enforces the preconditions s3rver ignores."""

    def __init__(self, up_port):
        self.up = up_port
        self.stats = collections.Counter()
        self.delay_checkpoint = 0.0
        self.fail_puts = False
        self.lock = threading.Lock()
        proxy = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                proxy.handle(self, "GET")

            def do_HEAD(self):
                proxy.handle(self, "HEAD")

            def do_PUT(self):
                proxy.handle(self, "PUT")

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def count(self, k):
        with self.lock:
            self.stats[k] += 1

    def upstream(self, method, path, headers, body):
        c = httpclient.HTTPConnection("127.0.0.1", self.up, timeout=30)
        try:
            c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers:
                c.putheader(k, v)
            c.endheaders(body)
            r = c.getresponse()
            return r.status, r.getheaders(), r.read()
        finally:
            c.close()

    def current(self, path):
        """(exists, ETag) of the object at path, read anonymously."""
        st, hdrs, _ = self.upstream("HEAD", path, [("Host", "127.0.0.1:%d" % self.up)], None)
        return st == 200, dict((k.lower(), v) for k, v in hdrs).get("etag")

    def reply(self, h, status, headers, body):
        h.send_response(status)
        for k, v in headers:
            if k.lower() not in ("transfer-encoding", "connection", "content-length", "date",
                                 "server", "keep-alive"):
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)

    def handle(self, h, method):
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n) if n else b""
        self.count("requests")
        if not (h.headers.get("Authorization") or "").startswith("AWS4-HMAC-SHA256 Credential="):
            self.count("unsigned")
            return self.reply(h, 403, [], b"<Error><Code>AccessDenied</Code></Error>")
        key = h.path.split("/", 2)[2] if h.path.count("/") >= 2 else ""
        kind = ("probe" if "conditional-write-probe" in key else
                "checkpoint" if key.endswith("checkpoint") else "object")
        if method == "PUT":
            if self.fail_puts:
                self.count("failed")
                return self.reply(h, 503, [], b"<Error><Code>SlowDown</Code></Error>")
            if kind == "checkpoint" and self.delay_checkpoint:
                time.sleep(self.delay_checkpoint)
            inm, im = h.headers.get("If-None-Match"), h.headers.get("If-Match")
            self.count("put %s%s" % (kind, " if-match" if im else
                                     " if-none-match" if inm == "*" else ""))
            with self.lock:  # the check and the write as one step
                exists, etag = self.current(h.path)
                if (inm == "*" and exists) or (im and (not exists or etag != im)):
                    self.stats["412 " + kind] += 1
                    return self.reply(h, 412, [],
                                      b"<Error><Code>PreconditionFailed</Code></Error>")
                st, hdrs, data = self.upstream(method, h.path, h.headers.items(), body)
        else:
            st, hdrs, data = self.upstream(method, h.path, h.headers.items(), body)
        self.reply(h, st, hdrs, data)


def main():
    env = Env(sys.argv[1])
    try:
        run(env)
    finally:
        finish(env)


def run(env):
    s3rver = s3rver_bin()
    check(s3rver is not None, "s3rver is installed (tests/publish/s3rver_install.sh)")
    if s3rver is None:
        return
    s3port = free_port()
    os.makedirs(env.path("s3"))
    sp = subprocess.Popen([s3rver, "-d", env.path("s3"), "-a", "127.0.0.1", "-p", str(s3port),
                           "--configure-bucket", BUCKET, "--silent"],
                          stdout=subprocess.DEVNULL, stderr=open(env.path("s3rver.log"), "ab"))
    env.procs.append(sp)
    check(wait_port(s3port, tries=300), "s3rver listens")
    proxy = S3Proxy(s3port)
    direct = "http://127.0.0.1:%d" % s3port
    via = "http://127.0.0.1:%d" % proxy.port

    # credentials: a profile in a credentials file for tlogd, plain variables for awscli
    creds = env.path("aws-credentials")
    with open(creds, "w") as f:
        f.write("[default]\naws_access_key_id = nobody\naws_secret_access_key = nothing\n\n"
                "[tlogtest]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n")
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base.update(AWS_CONFIG_FILE=env.path("no-aws-config"), AWS_REGION="us-east-1")
    tenv = dict(base, AWS_SHARED_CREDENTIALS_FILE=creds, AWS_PROFILE="tlogtest")
    aenv = dict(base, AWS_ACCESS_KEY_ID="S3RVER", AWS_SECRET_ACCESS_KEY="S3RVER",
                AWS_DEFAULT_REGION="us-east-1")

    def aws(*args, binary=False):
        r = subprocess.run(["aws", "--endpoint-url", direct] + list(args), capture_output=True,
                           env=aenv, timeout=120)
        out = r.stdout if binary else r.stdout.decode(errors="replace")
        return r.returncode, out, r.stderr.decode(errors="replace")

    def obj(key):
        """The object at key, read anonymously from s3rver (None if absent)."""
        try:
            with urllib.request.urlopen("%s/%s/%s" % (direct, BUCKET, key), timeout=10) as r:
                return r.read()
        except OSError:
            return None

    def put_direct(key, data, ctype="application/octet-stream"):
        path = env.path("upload")
        with open(path, "wb") as f:
            f.write(data)
        rc, _, err = aws("s3", "cp", path, "s3://%s/%s" % (BUCKET, key), "--content-type", ctype)
        return rc == 0

    def tlogd(logdir, extra, logname, e=None, expect_start=True):
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(e or tenv)
        try:
            return start_tlogd(env, logdir, extra, logname, expect_start=expect_start)
        finally:
            os.environ.clear()
            os.environ.update(saved)

    A = env.path("log-a")
    vkey = env.run(env.bin("tlogd"), "init", "--dir", A, "--origin",
                   "example.com/publish-s3").stdout.decode().strip()
    pa = ["--publish", "s3://%s/logs/a" % BUCKET, "--s3-endpoint", via, "--batch-interval", "5"]

    # ---- wrong credentials: s3rver checks the signature ------------------------
    rc, err = tlogd(A, pa, None, e=dict(tenv, AWS_PROFILE="default"), expect_start=False)
    check(rc == 1 and "403" in err and "conditional-write-probe" in err,
          "a wrong secret: refused by the server, tlogd exits 1 saying so: %r" % err[-300:])
    rc, err = tlogd(A, pa, None, e=dict(base, HOME=env.path("nohome"),
                                        AWS_SHARED_CREDENTIALS_FILE=env.path("none")),
                    expect_start=False)
    check(rc == 1 and "no AWS credentials" in err, "no credentials: exit 1 saying so")

    # ---- through the proxy: conditions enforced ---------------------------------
    proxy.delay_checkpoint = 0.2
    p, port = tlogd(A, pa + ["--publish-before-answer"], "tlogd-a1.log")
    check("s3://tlog/logs/a: the server enforces conditional writes" in
          text(env, "tlogd-a1.log"), "tlogd says the server enforces conditional writes")
    late = []

    def covered(entry, st, body):
        if st == 200:
            # s3rver overwrites an object in place (not atomically, unlike S3),
            # so a read racing the next checkpoint's PUT can find nothing or a
            # cut file: read again then. A whole note of a smaller tree is
            # never read again: that would be a late answer.
            n = -1
            for _ in range(50):
                note = obj("logs/a/checkpoint")
                lines = note.split(b"\n") if note else []
                if len(lines) > 2 and lines[1].isdigit():
                    n = int(lines[1])
                    break
                time.sleep(0.005)
            if n <= proof_index(body):
                late.append((proof_index(body), n))

    res = add_many(port, [b"a %d" % i for i in range(100)], threads=25, after=covered)
    cp100 = obj("logs/a/checkpoint")
    res.update(add_many(port, [b"b %d" % i for i in range(200)], threads=25, after=covered))
    check(all(v[0] == 200 for v in res.values()) and len(res) == 300, "300 adds answered 200")
    check(not late, "--publish-before-answer with a slow checkpoint PUT: each answer found its "
          "entry at the origin %s" % late[:5])
    check(size_of(cp100) == 100 and size_of(obj("logs/a/checkpoint")) == 300,
          "the bucket's checkpoint reached 100, then 300")
    proxy.delay_checkpoint = 0
    st, _, cp = http(port, "GET", "/checkpoint")
    rc, out, err = aws("s3", "ls", "--recursive", "s3://%s/logs/a/" % BUCKET)
    keys = sorted(line.split()[-1] for line in out.splitlines() if line.strip())
    check(rc == 0 and "logs/a/tile/entries/000" in keys and "logs/a/tile/1/000.p/1" in keys and
          "logs/a/checkpoint" in keys, "awscli lists the bucket (%d objects)" % len(keys))
    copy = env.path("bucket-copy")
    rc, _, err = aws("s3", "sync", "s3://%s/logs/a/" % BUCKET, copy)
    check(rc == 0, "awscli copies the bucket out %s" % err[-200:])

    def copied(k):
        try:
            with open(os.path.join(copy, k[len("logs/a/"):]), "rb") as f:
                return f.read()
        except OSError:
            return None
    tiles = [k for k in keys if "/tile/" in k]
    differ = [k for k in tiles if copied(k) != http(port, "GET", k[len("logs/a"):])[2]]
    check(tiles and not differ, "awscli reads back all %d tiles and bundles as tlogd serves them %s"
          % (len(tiles), differ[:3]))
    check(copied("logs/a/checkpoint") == cp, "awscli reads back tlogd's checkpoint")
    for key, cc, ct in (("tile/entries/000", "public, max-age=31536000, immutable",
                         "application/octet-stream"),
                        ("tile/0/001.p/44", "public, max-age=60", "application/octet-stream"),
                        ("checkpoint", "no-cache", "text/plain; charset=utf-8")):
        rc, out, err = aws("s3api", "head-object", "--bucket", BUCKET, "--key", "logs/a/" + key)
        j = json.loads(out) if rc == 0 else {}
        check(j.get("CacheControl") == cc and j.get("ContentType") == ct,
              "%s: Cache-Control %r, Content-Type %r" % (key, j.get("CacheControl"),
                                                        j.get("ContentType")))
    s = proxy.stats
    check(s["requests"] > 0 and s["unsigned"] == 0,
          "every request carried an AWS4-HMAC-SHA256 signature (%d)" % s["requests"])
    check(s["412 probe"] >= 1, "the probe's second PUT got 412 from the proxy")
    check(s["put object if-none-match"] > 0 and s["put object"] == 0,
          "every object PUT had If-None-Match: * (%d)" % s["put object if-none-match"])
    check(s["put checkpoint if-match"] > 0 and s["put checkpoint if-none-match"] == 1 and
          s["put checkpoint"] == 0, "the checkpoint: If-None-Match once, then If-Match (%d)" %
          s["put checkpoint if-match"])
    rc, out, err = run_tool([env.bin("tlog"), "audit", "%s/%s/logs/a" % (direct, BUCKET),
                             "--key", vkey])
    check(rc == 0 and "size 300" in out and "300 entries verified" in out,
          "tlog audit verifies the bucket: %s%s" % (out.strip(), err.strip()))
    env.stop(p)

    # ---- pushback: a store that cannot keep up -----------------------------------
    p, port = tlogd(A, pa + ["--publish-queue-max", "20"], "tlogd-a2.log",
                    e=dict(base, AWS_ACCESS_KEY_ID="S3RVER", AWS_SECRET_ACCESS_KEY="S3RVER"))
    proxy.fail_puts = True
    res = add_many(port, [b"c %d" % i for i in range(21)], threads=7)
    check(all(v[0] == 200 for v in res.values()),
          "while every PUT fails, the log goes on sequencing and publishing (21 adds)")

    def queue():
        return metric(http(port, "GET", "/metrics")[2], "tlogd_publish_queue_entries") or 0
    check(wait_for(lambda: queue() == 21, 10), "/metrics: the queue holds 21 entries")
    c = httpclient.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", "/add", body=b"pushed back")
    r = c.getresponse()
    why = r.read()
    check(r.status == 503 and r.getheader("Retry-After") and b"lags" in why,
          "past the queue's limit: POST /add answers 503 + Retry-After: %d %r" % (r.status, why))
    c.close()
    proxy.fail_puts = False
    check(wait_for(lambda: queue() == 0, 15), "the queue drains once PUTs succeed")
    st, _, _ = http(port, "POST", "/add", body=b"pushed back")
    check(st == 200, "POST /add answers 200 again (%d)" % st)
    m = http(port, "GET", "/metrics")[2]
    check((metric(m, 'tlogd_publish_failures_total{store="s3://tlog/logs/a"}') or 0) > 0,
          "/metrics counts the failed rounds")
    st, _, cp = http(port, "GET", "/checkpoint")
    env.stop(p)

    # ---- restart with the origin behind: 412s read back and accepted -----------
    check(put_direct("logs/a/checkpoint", cp100, "text/plain; charset=utf-8"),
          "the bucket's checkpoint set back to size 100")
    before = proxy.stats["412 object"]
    p, port = tlogd(A, pa, "tlogd-a3.log")
    check(wait_for(lambda: obj("logs/a/checkpoint") == cp, 15),
          "an origin behind the log is caught up to size %d" % size_of(cp))
    check(proxy.stats["412 object"] > before,
          "objects already there got 412 and were accepted as the same bytes (%d)" %
          (proxy.stats["412 object"] - before))
    st, _, _ = http(port, "GET", "/healthz")
    check(st == 200, "no alarm for the same bytes")
    env.stop(p)

    # ---- a damaged object -----------------------------------------------------------
    good = obj("logs/a/tile/entries/000")
    bad = bytes([good[0] ^ 1]) + good[1:]
    check(put_direct("logs/a/tile/entries/000", bad) and
          put_direct("logs/a/checkpoint", cp100, "text/plain; charset=utf-8"),
          "a bundle damaged and the checkpoint set back, behind tlogd's back")
    p, port = tlogd(A, pa, "tlogd-a4.log")

    def alarmed():
        st, _, body = http(port, "GET", "/healthz")
        return body if st == 503 else None
    got = wait_for(alarmed, 15)
    check(got and b"fork alarm" in got and b"tile/entries/000" in got,
          "a damaged object: /healthz 503 names the path: %r" % got)
    check(obj("logs/a/tile/entries/000") == bad and obj("logs/a/checkpoint") == cp100,
          "the damaged object and the checkpoint are left as they were")
    env.stop(p)

    # ---- straight to s3rver: no conditions enforced --------------------------------
    B = env.path("log-b")
    vkb = env.run(env.bin("tlogd"), "init", "--dir", B, "--origin",
                  "example.com/publish-s3-b").stdout.decode().strip()
    pb = ["--publish", "s3://%s/logs/b" % BUCKET, "--s3-endpoint", direct + "/",
          "--batch-interval", "5", "--publish-before-answer"]
    p, port = tlogd(B, pb, "tlogd-b1.log")
    check("does NOT enforce conditional writes" in text(env, "tlogd-b1.log"),
          "straight to s3rver: tlogd says the server does not enforce conditional writes")
    res = add_many(port, [b"x %d" % i for i in range(10)], threads=5)
    cp10 = obj("logs/b/checkpoint")
    res.update(add_many(port, [b"y %d" % i for i in range(10)], threads=5))
    check(all(v[0] == 200 for v in res.values()) and size_of(cp10) == 10 and
          size_of(obj("logs/b/checkpoint")) == 20, "20 adds published to logs/b")
    env.stop(p)
    rc, out, err = run_tool([env.bin("tlog"), "audit", "%s/%s/logs/b" % (direct, BUCKET),
                             "--key", vkb])
    check(rc == 0 and "size 20" in out, "tlog audit verifies logs/b: %s%s" % (out.strip(),
                                                                              err.strip()))
    good = obj("logs/b/tile/entries/000.p/20")
    bad = good[:-1] + bytes([good[-1] ^ 1])
    check(put_direct("logs/b/tile/entries/000.p/20", bad) and
          put_direct("logs/b/checkpoint", cp10, "text/plain; charset=utf-8"),
          "logs/b: a bundle damaged and the checkpoint set back")
    p, port = tlogd(B, pb, "tlogd-b2.log")
    got = wait_for(alarmed, 15)
    check(got and b"tile/entries/000.p/20" in got,
          "without conditions, the damaged object is still found: %r" % got)
    check(obj("logs/b/tile/entries/000.p/20") == bad, "and left as it was")
    env.stop(p)


if __name__ == "__main__":
    main()
