#!/usr/bin/env python3
"""test_publish_dir.py - tlogd serve --publish file:///DIR end to end, with
real processes on loopback:

  - bad --publish / --s3-endpoint / --publish-before-answer / --publish-queue-max
    usage: exit 2 with one line;
  - --publish-before-answer: every POST /add answer finds the origin's
    checkpoint already covering its entry;
  - the folder holds exactly what tlogd serves (every file against tlogd's
    answer for its path);
  - nginx serving the folder, and nginx as a caching proxy (proxy_cache) in
    front of tlogd: with tlogd stopped, `tlog audit` and a witness in pull
    mode verify the whole log through each;
  - restart with the origin ahead of the log (refused, exit 1, with the
    reason) and behind it (caught up, no alarm);
  - a corrupted object at the origin: found when the publisher writes its
    path again: fork alarm, signing stops, /healthz 503 naming the path, the
    object left as it was.

Usage: test_publish_dir.py BUILD_DIR"""
import os
import shutil
import signal
import sys
import threading

from pub_common import (Env, add_many, check, finish, free_port, http, metric, proof_checkpoint,
                        proof_index, run_tool, size_of, start_nginx, start_tlogd, text, wait_for,
                        wait_port, witness_checkpoint)

ORIGIN = "example.com/publish-dir"


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def bad_flags(env, logdir):
    cases = [
        (["--publish", "ftp://example.com/x"], "a URL of another scheme"),
        (["--publish", "file://relative/dir"], "file:// with a host / relative path"),
        (["--publish", "file:///"], "file:/// of the root"),
        (["--publish", "file:///srv/../etc"], "file:// with .."),
        (["--publish", "s3://Bad_Bucket"], "s3:// with a bad bucket name"),
        (["--publish", "s3://ok-bucket//x"], "s3:// with an empty prefix segment"),
        (["--publish", "s3://ok-bucket/.hidden"], "s3:// with a dot segment"),
        (["--s3-endpoint", "http://127.0.0.1:1"], "--s3-endpoint without an s3:// origin"),
        (["--publish", "s3://ok-bucket", "--s3-endpoint", "ftp://h"], "--s3-endpoint ftp://"),
        (["--publish", "s3://ok-bucket", "--s3-endpoint", "http://h/path"],
         "--s3-endpoint with a path"),
        (["--publish-before-answer"], "--publish-before-answer without --publish"),
        (["--publish-queue-max", "5"], "--publish-queue-max without --publish"),
        (["--publish", "file://" + env.path("never"), "--publish-queue-max", "0"],
         "--publish-queue-max 0"),
        (["--publish"], "--publish without a value"),
        (["--publish", "file:///srv/x", "--publish", "file:///srv/x/"], "the same origin twice"),
        (sum((["--publish", "file:///srv/o%d" % i] for i in range(9)), []),
         "more than 8 origins"),
    ]
    for extra, what in cases:
        rc, err = start_tlogd(env, logdir, extra, None, expect_start=False)
        lines = err.strip().split("\n")
        check(rc == 2 and len(lines) == 1 and lines[0].startswith("tlogd: "),
              "bad flags (%s): exit 2 with one line (rc %d: %r)" % (what, rc, err.strip()))
    check(not os.path.exists(env.path("never")), "bad flags: nothing created")


def files_under(d):
    out = []
    for root, dirs, files in os.walk(d):
        dirs[:] = [x for x in dirs if not x.startswith(".")]
        for f in files:
            if not f.startswith("."):
                out.append(os.path.relpath(os.path.join(root, f), d))
    return sorted(out)


def main():
    env = Env(sys.argv[1])
    try:
        run(env)
    finally:
        finish(env)


def run(env):
    D, DOLD, WWW = env.path("log"), env.path("log-old"), env.path("www")
    r = env.run(env.bin("tlogd"), "init", "--dir", D, "--origin", ORIGIN)
    vkey = r.stdout.decode().strip()
    bad_flags(env, D)

    tport = free_port()
    pub = ["--listen", "127.0.0.1:%d" % tport, "--publish", "file://" + WWW,
           "--batch-interval", "5"]
    p, port = start_tlogd(env, D, pub + ["--publish-before-answer"], "tlogd1.log")
    check("publishing to file://%s" % WWW in text(env, "tlogd1.log"), "tlogd logs the origin")

    late = []
    lock = threading.Lock()

    def covered(entry, st, body):
        # the moment of the answer: the origin's checkpoint covers it
        if st == 200:
            n = size_of(read(os.path.join(WWW, "checkpoint")))
            if n <= proof_index(body):
                with lock:
                    late.append((proof_index(body), n))

    res = add_many(port, [b"first %d" % i for i in range(100)], after=covered)
    check(all(v[0] == 200 for v in res.values()), "100 adds answered 200")
    check(not late, "--publish-before-answer: each answer found its entry at the origin %s" %
          late[:5])
    cp_old = read(os.path.join(WWW, "checkpoint"))
    check(size_of(cp_old) == 100, "the origin holds the checkpoint of size 100")
    check(all(proof_checkpoint(v[1]).split(b"\n")[0] == ORIGIN.encode() for v in res.values()),
          "the answers carry the log's checkpoints")

    # a copy of the log as it is now, to come back as a log behind its origin
    env.stop(p)
    shutil.copytree(D, DOLD)
    p, port = start_tlogd(env, D, pub, "tlogd2.log")
    res = add_many(port, [b"second %d" % i for i in range(500)])
    check(all(v[0] == 200 for v in res.values()), "500 more adds answered 200")
    check(wait_for(lambda: size_of(read(os.path.join(WWW, "checkpoint"))) == 600, 10),
          "the origin reaches size 600")
    st, _, cp = http(port, "GET", "/checkpoint")
    check(read(os.path.join(WWW, "checkpoint")) == cp, "the origin's checkpoint is tlogd's")
    names = files_under(WWW)
    for want in ["tile/entries/000", "tile/entries/001", "tile/entries/002.p/88", "tile/0/000",
                 "tile/0/001", "tile/0/002.p/88", "tile/1/000.p/2", "checkpoint"]:
        check(want in names, "the origin holds %s" % want)
    differ = [n for n in names if http(port, "GET", "/" + n)[2] != read(os.path.join(WWW, n))]
    check(not differ, "all %d files at the origin are what tlogd serves %s" %
          (len(names), differ[:5]))
    m = http(port, "GET", "/metrics")[2]
    check(metric(m, 'tlogd_publish_size{store="file://%s"}' % WWW) == 600 and
          metric(m, "tlogd_publish_queue_entries") == 0 and
          metric(m, 'tlogd_publish_objects_total{store="file://%s"}' % WWW) > 0,
          "/metrics: the store's size, its queue and objects")

    # ---- nginx: the folder, and a caching proxy in front of tlogd -------------
    oport, pport = free_port(), free_port()
    start_nginx(env, """
    types {{ }}
    default_type application/octet-stream;
    proxy_cache_path {t}/cache levels=1:2 keys_zone=tlog:4m max_size=64m inactive=1h
                     use_temp_path=off;
    server {{
        listen 127.0.0.1:{oport};
        root {www};
        location ~ /\\. {{ deny all; }}
        location = /checkpoint {{
            default_type "text/plain; charset=utf-8";
            add_header Cache-Control "no-cache";
        }}
        location ~ \\.p/ {{ add_header Cache-Control "public, max-age=60"; }}
        location /tile/ {{ add_header Cache-Control "public, max-age=31536000, immutable"; }}
    }}
    server {{
        listen 127.0.0.1:{pport};
        location / {{
            proxy_pass http://127.0.0.1:{tport};
            proxy_http_version 1.1;
            proxy_cache tlog;
            proxy_cache_use_stale error timeout http_500 http_502 http_503 http_504;
            proxy_cache_lock on;
            add_header X-Cache $upstream_cache_status;
        }}
    }}
""".format(t=env.path("nginx"), oport=oport, pport=pport, www=WWW, tport=tport))
    check(wait_port(oport) and wait_port(pport), "nginx listens (origin %d, proxy %d)" %
          (oport, pport))
    st, ct, body = http(oport, "GET", "/checkpoint")
    check(st == 200 and ct.startswith("text/plain") and body == cp,
          "nginx serves the origin's checkpoint as text/plain")
    st, ct, body = http(oport, "GET", "/tile/entries/001")
    check(st == 200 and ct == "application/octet-stream" and
          body == http(port, "GET", "/tile/entries/001")[2],
          "nginx serves a full bundle as tlogd does")
    check(http(oport, "GET", "/.tlogd.lock")[0] == 403, "nginx hides the lock file")
    audit = [env.bin("tlog"), "audit", "--key", vkey]
    rc, out, err = run_tool(audit + ["http://127.0.0.1:%d" % pport])
    check(rc == 0 and "size 600" in out, "tlog audit through the proxy, tlogd up: %s%s" %
          (out.strip(), err.strip()))

    env.stop(p)
    for name, wport in (("the origin", oport), ("the caching proxy", pport)):
        rc, out, err = run_tool(audit + ["http://127.0.0.1:%d" % wport])
        check(rc == 0 and "size 600" in out and "600 entries verified" in out,
              "tlogd stopped: tlog audit through %s verifies the whole log: %s%s" %
              (name, out.strip(), err.strip()))
    W = env.bin("tlog-witness")
    wports = {}
    for name, wport in (("origin", oport), ("proxy", pport)):
        wd = env.path("w-" + name)
        env.run(W, "init", "--dir", wd, "--name", "w-%s.example" % name)
        logs = env.path("logs-" + name)
        with open(logs, "w") as f:
            f.write("%s %s http://127.0.0.1:%d\n" % (ORIGIN, vkey, wport))
        _, wports[name] = env.start([W, "serve", "--dir", wd, "--logs", logs, "--listen",
                                     "127.0.0.1:0", "--poll-interval", "1"], "w-%s.log" % name)
    for name, wp in wports.items():
        got = wait_for(lambda: size_of(witness_checkpoint(wp, ORIGIN)) == 600, 15)
        check(got, "tlogd stopped: a witness pulling through the %s cosigned size 600" % name)

    # ---- restarts: the origin ahead of the log, and behind it -----------------
    rc, err = start_tlogd(env, DOLD, pub, None, expect_start=False)
    check(rc == 1 and "beyond this log's published size 100" in err,
          "a log behind its origin is refused at start: %r" % err.strip()[-200:])
    check(size_of(read(os.path.join(WWW, "checkpoint"))) == 600, "the origin is left as it was")

    with open(os.path.join(WWW, "checkpoint"), "wb") as f:
        f.write(cp_old)
    p, port = start_tlogd(env, D, pub, "tlogd3.log")
    check(wait_for(lambda: size_of(read(os.path.join(WWW, "checkpoint"))) == 600, 10),
          "an origin behind the log is caught up to 600")
    st, _, body = http(port, "GET", "/healthz")
    m = http(port, "GET", "/metrics")[2]
    check(st == 200 and metric(m, 'tlogd_publish_failed{store="file://%s"}' % WWW) == 0,
          "rewriting the same bytes is no alarm")
    env.stop(p)

    # ---- a damaged object at the origin --------------------------------------
    victim = os.path.join(WWW, "tile", "entries", "000")
    good = read(victim)
    bad = bytes([good[0] ^ 1]) + good[1:]
    with open(victim, "wb") as f:
        f.write(bad)
    with open(os.path.join(WWW, "checkpoint"), "wb") as f:
        f.write(cp_old)
    p, port = start_tlogd(env, D, pub, "tlogd4.log")

    def alarmed():
        st, _, body = http(port, "GET", "/healthz")
        return (st, body) if st == 503 else None

    got = wait_for(alarmed, 10)
    check(got and b"fork alarm" in got[1] and b"tile/entries/000" in got[1],
          "a damaged object: /healthz 503 names the path: %r" % (got,))
    check("fork alarm" in text(env, "tlogd4.log"), "the alarm is logged")
    check(read(victim) == bad, "the damaged object is not overwritten")
    check(read(os.path.join(WWW, "checkpoint")) == cp_old, "the origin's checkpoint stays")
    st, _, _ = http(port, "POST", "/add", body=b"after the alarm")
    check(st == 503, "writes are refused after the alarm (%d)" % st)
    m = http(port, "GET", "/metrics")[2]
    check(metric(m, 'tlogd_publish_failed{store="file://%s"}' % WWW) == 1,
          "/metrics: the store failed for good")
    env.stop(p, signal.SIGTERM)


if __name__ == "__main__":
    main()
