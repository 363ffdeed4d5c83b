#!/usr/bin/env python3
"""test_witness_http.py - tlog-witness as a real process on loopback:
CLI usage, every status code of C2SP tlog-witness add-checkpoint over
HTTP/1.1 (and h2c with curl when available), a forged fork kept as
evidence, rollback refused, the N / N+K race over HTTP, restart with state
intact. Usage: test_witness_http.py BUILD_DIR"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wt_common import Env, check, finish, http, wait_for  # noqa: E402

ORIGIN = "example.com/test-log"
SANITIZED = os.environ.get("TL_SANITIZED") == "1"


def main():
    env = Env(sys.argv[1])
    try:
        run(env)
    except Exception as e:  # report, clean up, fail
        check(False, "exception: %r" % (e,))
    finish(env)


def run(env):
    W = env.bin("tlog-witness")
    T = env.bin("tlw-tool")

    # ---- CLI -------------------------------------------------------------
    r = env.run(W, "--help")
    check(b"add-checkpoint" in r.stdout, "--help prints usage, exit 0")
    r = env.run(W, "--version")
    check(r.stdout.startswith(b"tlog-witness "), "--version")
    for args, what in [((), "no command"), (("bogus",), "unknown command"),
                       (("serve", "--dir", env.tmp), "serve without --logs"),
                       (("init", "--dir", env.tmp), "init without --name"),
                       (("serve", "--dir", "x", "--logs", "y", "--poll-interval", "0"),
                        "bad --poll-interval"),
                       (("serve", "--nope"), "unknown option"),
                       (("serve", "--dir"), "option without value")]:
        r = env.run(W, *args, check_rc=False)
        check(r.returncode == 2 and len(r.stderr.splitlines()) == 1,
              "bad usage (%s): exit 2, one line" % what)

    wdir = env.path("w")
    r = env.run(W, "init", "--dir", wdir, "--name", "witness.example/w1")
    wvkey = r.stdout.decode().strip()
    check(wvkey == open(os.path.join(wdir, "witness.vkey")).read().strip(),
          "init prints the verifier key")
    check(os.stat(os.path.join(wdir, "witness.key")).st_mode & 0o777 == 0o600,
          "witness.key is 0600")
    r = env.run(W, "init", "--dir", wdir, "--name", "witness.example/w1", check_rc=False)
    check(r.returncode != 0 and b"refusing" in r.stderr, "init refuses an existing witness")

    logvkey = env.run(T, "keygen", ORIGIN, env.path("log")).stdout.decode().strip()
    env.run(T, "keygen", ORIGIN, env.path("evil"))
    env.run(T, "keygen", "other.example/log", env.path("other"))
    key = env.path("log", "log.key")
    logs = env.path("logs")
    with open(logs, "w") as f:
        f.write("# test logs\n%s %s\n" % (ORIGIN, logvkey))

    bad_logs = env.path("bad-logs")
    with open(bad_logs, "w") as f:
        f.write("%s not-a-key\n" % ORIGIN)
    r = env.run(W, "serve", "--dir", wdir, "--logs", bad_logs, "--listen", "127.0.0.1:0",
                check_rc=False)
    check(r.returncode != 0 and b"line 1" in r.stderr, "serve refuses a bad logs file")

    serve = [W, "serve", "--dir", wdir, "--logs", logs, "--listen", "127.0.0.1:0"]
    proc, port = env.start(serve, "w.log")

    def req(seed, old, size, keyfile=key, origin=ORIGIN):
        return env.run(T, "request", keyfile, origin, seed, str(old), str(size)).stdout

    def post(body):
        return http(port, "POST", "/add-checkpoint", body)

    ohex = hashlib.sha256(ORIGIN.encode()).hexdigest()

    def cosigned():
        st, _, body = http(port, "GET", "/%s/checkpoint" % ohex)
        if st != 200:
            return 0, body
        return int(body.split(b"\n")[1]), body

    st, _, _ = http(port, "GET", "/%s/checkpoint" % ohex)
    check(st == 404, "GET checkpoint before any cosignature: 404")
    st, _, _ = http(port, "GET", "/healthz")
    check(st == 200, "healthz")

    # ---- 200 ---------------------------------------------------------------
    st, ct, body = post(req("main", 0, 10))
    check(st == 200 and body.startswith("\u2014 witness.example/w1 ".encode())
          and body.endswith(b"\n"), "200 with a cosignature line")
    size, note = cosigned()
    check(size == 10 and note.count("\u2014 ".encode()) == 2,
          "GET /<hex>/checkpoint: log signature + cosignature")
    check(shutil.which("curl") is not None, "curl is installed (scripts/deps.sh test)")
    p = env.path("r.bin")
    with open(p, "wb") as f:
        f.write(req("main", 10, 20))
    r = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-o", "-", "-w",
                        "\n%{http_code} %{http_version}", "--data-binary", "@" + p,
                        "http://127.0.0.1:%d/add-checkpoint" % port],
                       capture_output=True, timeout=30)
    check(r.stdout.endswith(b"200 2"), "200 over h2c (curl --http2-prior-knowledge)")
    check(cosigned()[0] == 20, "state advanced to 20")

    # ---- every error status ---------------------------------------------------
    st, ct, body = post(req("main", 5, 30))
    check(st == 409 and ct == "text/x.tlog.size" and body == b"20\n",
          "409 text/x.tlog.size with the cosigned size")
    st, _, _ = post(req("main", 0, 30, keyfile=env.path("other", "log.key"),
                        origin="other.example/log"))
    check(st == 404, "404 unknown origin")
    st, _, _ = post(req("main", 20, 30, keyfile=env.path("evil", "log.key")))
    check(st == 403, "403 signature by an untrusted key")
    st, _, body = post(req("main", 31, 30))
    check(st == 400 and body.endswith(b"\n") and body.count(b"\n") == 1,
          "400 old size > checkpoint size, one-line reason")
    st, _, _ = post(b"old 020\n\n" + req("main", 0, 30).split(b"\n\n", 1)[1])
    check(st == 400, "400 non-canonical old size")
    st, _, _ = post(b"garbage")
    check(st == 400, "400 garbage body")
    body64 = b"old 20\n" + b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" * 64 + b"\n" + \
        req("main", 0, 30).split(b"\n\n", 1)[1]
    st, _, _ = post(body64)
    check(st == 400, "400 more than 63 proof lines")
    st, _, _ = post(req("fork", 20, 30))  # real key, proof from another tree
    check(st == 422, "422 consistency proof does not verify")
    try:
        st, _, _ = post(b"x" * 70000)
    except (ConnectionResetError, BrokenPipeError):
        st = 413  # answered 413 and closed while the body was still being sent
    check(st == 413 or st == 400, "oversized body refused with 4xx (%d)" % st)
    st, _, _ = http(port, "GET", "/add-checkpoint")
    check(st == 405, "GET /add-checkpoint: 405")
    st, _, _ = http(port, "GET", "/nope")
    check(st == 404, "unknown path: 404")
    st, _, _ = http(port, "GET", "/%s/checkpoint" % ("0" * 64))
    check(st == 404, "unknown origin hash: 404")
    check(cosigned()[0] == 20, "no error changed the state")

    # ---- forged fork and rollback ------------------------------------------------
    st, ct, body = post(req("fork", 20, 20))
    check(st == 409 and body == b"20\n", "forged fork (same size, other root): 409")
    st, ct, ev = http(port, "GET", "/%s/evidence" % ohex)
    try:
        evj = json.loads(ev)
    except ValueError:
        evj = []
    reasons = sorted(e.get("reason") for e in evj)
    check(st == 200 and reasons == ["inconsistent-proof", "same-size-different-root"],
          "evidence served as JSON: %s" % reasons)
    fork = [e for e in evj if e.get("reason") == "same-size-different-root"]
    check(fork and ORIGIN in fork[0]["submitted"] and ORIGIN in fork[0]["cosigned"]
          and "\u2014 witness.example/w1" in fork[0]["cosigned"],
          "evidence holds the forged and the cosigned checkpoint")
    st, _, m = http(port, "GET", "/metrics")
    check(b"tlog_witness_split_view_evidence_total 2" in m, "evidence counted in /metrics")
    log = open(env.path("w.log"), "rb").read()
    check(b"SPLIT VIEW" in log, "split view logged to stderr")
    st, _, _ = post(req("main", 0, 15))
    check(st == 409, "rollback to a smaller tree (old 0): 409")
    st, _, _ = post(req("main", 15, 15))
    check(st == 409, "rollback to a smaller tree (old = its size): 409")
    check(cosigned()[0] == 20, "rollback refused: size stays 20")

    # ---- N / N+K race ---------------------------------------------------------------
    rounds = 15 if SANITIZED else 30
    base = 20
    ok_rounds = 0
    monotone = True
    for i in range(rounds):
        n = base + 1 + i % 3
        k = 1 + i % 4
        a, b = req("main", base, n), req("main", base, n + k)
        res = [None, None]
        bar = threading.Barrier(2)

        def go(idx, body):
            bar.wait()
            res[idx] = post(body)[0]
        ts = [threading.Thread(target=go, args=(0, a)), threading.Thread(target=go, args=(1, b))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        s = cosigned()[0]
        if sorted(res) == [200, 409] and s == (n if res[0] == 200 else n + k):
            ok_rounds += 1
        if s < base:
            monotone = False
        base = s
    check(ok_rounds == rounds, "N / N+K race: one 200 and one 409 in %d/%d rounds" %
          (ok_rounds, rounds))
    check(monotone, "stored size never decreased")

    # ---- TLS (ALPN h2) ---------------------------------------------------------------------
    check(shutil.which("openssl") is not None, "openssl is installed (scripts/deps.sh test)")
    crt, k = env.path("tls.crt"), env.path("tls.key")
    r = env.run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", k, "-out", crt,
                "-days", "1", "-subj", "/CN=127.0.0.1", check_rc=False)
    check(r.returncode == 0, "openssl made a test certificate")
    if r.returncode == 0:
        w2dir = env.path("wtls")
        env.run(W, "init", "--dir", w2dir, "--name", "witness.example/tls")
        tproc, tport = env.start([W, "serve", "--dir", w2dir, "--logs", logs, "--listen",
                                  "127.0.0.1:0", "--tls-cert", crt, "--tls-key", k],
                                 "wtls.log")
        p = env.path("r0.bin")
        with open(p, "wb") as f:
            f.write(req("main", 0, 7))
        r = subprocess.run(["curl", "-sk", "--http2", "-o", "-", "-w",
                            "\n%{http_code} %{http_version}", "--data-binary", "@" + p,
                            "https://127.0.0.1:%d/add-checkpoint" % tport],
                           capture_output=True, timeout=30)
        check(r.stdout.endswith(b"200 2") and b"witness.example/tls" in r.stdout,
              "200 over TLS with ALPN h2")
        check(env.stop(tproc) == 0, "TLS witness: SIGTERM exit 0")
    r = env.run(W, "serve", "--dir", wdir, "--logs", logs, "--tls-cert", "x",
                check_rc=False)
    check(r.returncode == 2, "--tls-cert without --tls-key: exit 2")

    # ---- restart ------------------------------------------------------------------------
    before = cosigned()[1]
    rc = env.stop(proc)
    check(rc == 0, "SIGTERM: exit 0")
    proc, port = env.start(serve, "w2.log")
    check(cosigned()[1] == before, "restart: the same cosigned checkpoint is served")
    st, _, body = post(req("main", 0, base + 5))
    check(st == 409 and body == b"%d\n" % base, "restart: 409 with the stored size")
    st, _, _ = post(req("main", base, base + 5))
    check(st == 200, "restart: continues from the stored size")
    st, _, ev = http(port, "GET", "/%s/evidence" % ohex)
    check(st == 200 and len(json.loads(ev)) == 2, "restart: evidence kept")
    env.stop(proc)


if __name__ == "__main__":
    main()
