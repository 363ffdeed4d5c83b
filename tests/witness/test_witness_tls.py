#!/usr/bin/env python3
"""test_witness_tls.py - private TLS trust between the log and its witnesses,
with a throwaway self-signed P-256 certificate (subjectAltName IP:127.0.0.1)
made by the openssl CLI:
  push: tlogd --witness-ca CERT cosigns through an https:// witness; without
        it (the system store) or with another certificate the witness is
        refused: POST /add answers 503, nothing is published, the cosigner's
        failures show in /metrics; with CERT again publication resumes.
  pull: tlog-witness --log-ca CERT follows an https:// tlogd through its
        checkpoint and tiles; a witness without --log-ca does not cosign.
  CLI:  a missing or certificate-less CA file stops both programs with exit 2
        and a one-line reason.
Usage: test_witness_tls.py BUILD_DIR"""
import hashlib
import os
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wt_common import (Env, check, checkpoint_of, cosigners, finish, http,  # noqa: E402
                       metric, wait_for)

PUSH_ORIGIN = "example.com/tls-push-log"
PULL_ORIGIN = "example.com/tls-pull-log"


def main():
    env = Env(sys.argv[1])
    try:
        run(env)
    except Exception as e:  # report, clean up, fail
        import traceback
        traceback.print_exc()
        check(False, "exception: %r" % (e,))
    finish(env)


def make_cert(env, name):
    """A self-signed P-256 certificate for 127.0.0.1; returns (cert, key)."""
    crt, key = env.path(name + ".crt"), env.path(name + ".key")
    env.run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", key, "-out", crt, "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1")
    return crt, key


def write(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def witness_checkpoint(port, origin, tls=None):
    """The checkpoint a witness cosigned for origin, or None."""
    st, _, body = http(port, "GET", "/%s/checkpoint" % hashlib.sha256(origin.encode()).hexdigest(),
                       tls=tls)
    return body if st == 200 else None


def prom(port, sample):
    """One sample of a server's /metrics, or None."""
    return metric(http(port, "GET", "/metrics")[2], sample)


def size_of(note):
    return int(note.split(b"\n")[1]) if note else -1


def log_text(env, name):
    with open(env.path(name), "rb") as f:
        return f.read()


def run(env):
    W, D = env.bin("tlog-witness"), env.bin("tlogd")
    crt, key = make_cert(env, "tls")
    other_crt, _ = make_cert(env, "other")

    tls = ssl.create_default_context(cafile=crt)  # this test's own HTTPS client

    # ---- an https:// witness and a log whose policy needs it -------------------------
    logdir = env.path("log")
    logvkey = env.run(D, "init", "--dir", logdir, "--origin",
                      PUSH_ORIGIN).stdout.decode().strip()
    wdir = env.path("wt")
    wvkey = env.run(W, "init", "--dir", wdir, "--name", "wt.example").stdout.decode().strip()
    wlogs = write(env.path("wt-logs"), ["%s %s" % (PUSH_ORIGIN, logvkey)])
    wproc, wport = env.start([W, "serve", "--dir", wdir, "--logs", wlogs, "--listen",
                              "127.0.0.1:0", "--tls-cert", crt, "--tls-key", key], "wt.log")
    pol = write(env.path("policy"), ["log " + logvkey,
                                     "witness wt %s https://127.0.0.1:%d" % (wvkey, wport),
                                     "quorum wt"])
    dargs = [D, "serve", "--dir", logdir, "--listen", "127.0.0.1:0", "--policy", pol,
             "--batch-interval", "5"]

    # ---- CLI: the CA file is checked before anything starts ------------------------
    r = env.run(D, "--help")
    check(b"--witness-ca FILE" in r.stdout, "tlogd --help lists --witness-ca")
    r = env.run(W, "--help")
    check(b"--log-ca FILE" in r.stdout, "tlog-witness --help lists --log-ca")
    for ca, what in ((env.path("missing.pem"), "missing"), (key, "holds no certificate")):
        r = env.run(*dargs, "--witness-ca", ca, check_rc=False)
        check(r.returncode == 2 and len(r.stderr.splitlines()) == 1 and ca.encode() in r.stderr,
              "tlogd --witness-ca %s: exit 2, one line (%r)" % (what, r.stderr))
        r = env.run(W, "serve", "--dir", env.path("unused"), "--logs", wlogs,
                    "--listen", "127.0.0.1:0", "--log-ca", ca, check_rc=False)
        check(r.returncode == 2 and len(r.stderr.splitlines()) == 1 and ca.encode() in r.stderr,
              "tlog-witness --log-ca %s: exit 2, one line (%r)" % (what, r.stderr))
    r = env.run(D, "serve", "--dir", logdir, "--listen", "127.0.0.1:0", "--witness-ca", crt,
                check_rc=False)
    check(r.returncode == 2 and len(r.stderr.splitlines()) == 1,
          "tlogd --witness-ca without --policy: exit 2, one line")

    # ---- push: tlogd -> https:// witness --------------------------------------------
    def cosigner(port, name):
        return prom(port, 'tlogd_witness_%s{witness="wt"}' % name)

    dproc, dport = env.start(dargs + ["--witness-ca", crt, "--add-timeout", "15000"],
                             "tlogd-ca.log")
    st, _, body = http(dport, "POST", "/add", b"tls entry 0")
    cp = checkpoint_of(body)
    check(st == 200 and cosigners(cp) == [PUSH_ORIGIN, "wt.example"],
          "push with --witness-ca: POST /add 200, checkpoint cosigned by wt (%d, %s)" %
          (st, cosigners(cp)))
    check(cp and witness_checkpoint(wport, PUSH_ORIGIN, tls) == cp,
          "push: the published checkpoint is the one the witness cosigned")
    check((cosigner(dport, "cosignatures_total") or 0) >= 1 and
          cosigner(dport, "last_status") == 200, "push: cosigner metrics count the cosignature")
    check(env.stop(dproc) == 0, "tlogd exits 0")
    published = cp  # size 1, cosigned by wt

    def untrusted(extra, logname, what):
        """tlogd without trust in the witness's certificate publishes nothing."""
        p, port = env.start(dargs + extra + ["--add-timeout", "1500"], logname)
        st, _, _ = http(port, "POST", "/add", b"tls entry 1")
        check(st == 503, "push %s: POST /add 503 (%d)" % (what, st))
        st, _, now = http(port, "GET", "/checkpoint")
        check(st == 200 and now == published, "push %s: nothing new published" % what)
        failed = wait_for(lambda: (cosigner(port, "failures_total") or 0) >= 1, 10)
        check(failed and cosigner(port, "cosignatures_total") == 0 and
              cosigner(port, "last_status") == 0,
              "push %s: /metrics shows the cosigner's failures, no cosignature" % what)
        check(b"certificate" in log_text(env, logname),
              "push %s: tlogd logs the certificate failure" % what)
        check(env.stop(p) == 0, "push %s: tlogd exits 0" % what)

    untrusted([], "tlogd-system.log", "without --witness-ca (system store)")
    untrusted(["--witness-ca", other_crt], "tlogd-other.log", "with another certificate")
    check(witness_checkpoint(wport, PUSH_ORIGIN, tls) == published,
          "push: the refused connections left the witness at size 1")

    dproc, dport = env.start(dargs + ["--witness-ca", crt, "--add-timeout", "15000"],
                             "tlogd-ca2.log")
    st, _, body = http(dport, "POST", "/add", b"tls entry 1")
    check(st == 200 and b"index 1\n" in body and "wt.example" in cosigners(checkpoint_of(body)),
          "push with --witness-ca again: the waiting entry is published, cosigned")
    env.stop(dproc)
    env.stop(wproc)

    # ---- pull: tlog-witness -> https:// tlogd ---------------------------------------
    log2 = env.path("log2")
    vkey2 = env.run(D, "init", "--dir", log2, "--origin", PULL_ORIGIN).stdout.decode().strip()
    lproc, lport = env.start([D, "serve", "--dir", log2, "--listen", "127.0.0.1:0",
                              "--tls-cert", crt, "--tls-key", key, "--batch-interval", "5"],
                             "tlogd-tls.log")
    plogs = write(env.path("pull-logs"),
                  ["%s %s https://127.0.0.1:%d" % (PULL_ORIGIN, vkey2, lport)])
    pulled = {}
    for name, extra in (("wp", ["--log-ca", crt]), ("wn", [])):
        d = env.path(name)
        env.run(W, "init", "--dir", d, "--name", name + ".example")
        _, pulled[name] = env.start([W, "serve", "--dir", d, "--logs", plogs, "--listen",
                                     "127.0.0.1:0", "--poll-interval", "1"] + extra,
                                    name + ".log")

    def add_and_follow(first, n):
        for i in range(first, first + n):
            st, _, _ = http(lport, "POST", "/add", b"pulled %d" % i, tls=tls)
            if st != 200:
                return False
        target = size_of(http(lport, "GET", "/checkpoint", tls=tls)[2])
        return wait_for(lambda: size_of(witness_checkpoint(pulled["wp"], PULL_ORIGIN)) >= target,
                        15)

    check(add_and_follow(0, 5), "pull with --log-ca: the witness cosigned size 5")
    check(add_and_follow(5, 5),
          "pull with --log-ca: the witness verified the tiles' proof 5 -> 10 over https")
    st, _, logcp = http(lport, "GET", "/checkpoint", tls=tls)
    wcp = witness_checkpoint(pulled["wp"], PULL_ORIGIN)
    check(st == 200 and wcp and wcp.startswith(logcp) and
          cosigners(wcp) == [PULL_ORIGIN, "wp.example"],
          "pull: the witness serves the log's checkpoint with its cosignature")
    check(prom(pulled["wp"], "tlog_witness_pull_failures_total") == 0,
          "pull with --log-ca: no failed polls")

    def wn_failures():
        return prom(pulled["wn"], "tlog_witness_pull_failures_total") or 0
    check(wait_for(lambda: wn_failures() >= 2, 10),
          "pull without --log-ca: the polls fail (%d)" % wn_failures())
    check(witness_checkpoint(pulled["wn"], PULL_ORIGIN) is None and
          prom(pulled["wn"], "tlog_witness_pull_cosigned_total") == 0,
          "pull without --log-ca: nothing cosigned")
    check(b"certificate" in log_text(env, "wn.log"),
          "pull without --log-ca: the witness logs the certificate failure")
    env.stop(lproc)


if __name__ == "__main__":
    main()
