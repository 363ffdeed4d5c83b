#!/usr/bin/env python3
"""test_h2.py - `tlog audit` through its HTTP/2 fetcher (client/h2.c).

usage: test_h2.py BUILD_DIR SOURCE_DIR CASE

  tlogd     a real tlogd: the audit over h2c and over TLS takes one HTTP/2
            connection for every tile and bundle; TLS is verified (no --ca:
            refused); a resumed audit reads only what is new; monitor over
            TLS follows entries added meanwhile
  faults    h2serve.py (python3-h2) in front of a client_mklog log, h2c and
            TLS: 404 and 500 for one tile fail with the status and the path
            (exit 3); 503 once is retried; a connection closed mid-body and
            a body shorter than its content-length fail (exit 3) or, once
            only, are retried and the audit passes; GOAWAY moves the rest to
            a new connection; a tampered tile and a tampered entry are found
            (exit 1)
  fallback  an HTTPS server that offers only http/1.1 by ALPN: the audit goes
            through libcurl over HTTP/1.1
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from tltest import Scratch, free_port, wait_port  # noqa: E402

BUILD, SRC, CASE = sys.argv[1], sys.argv[2], sys.argv[3]
TLOG = os.path.join(BUILD, "tlog")
TLOGD = os.path.join(BUILD, "tlogd")
MKLOG = os.path.join(BUILD, "client_mklog")
FILL = os.path.join(BUILD, "bench_client_fill")
HERE = os.path.dirname(os.path.abspath(__file__))
H2SERVE = os.path.join(HERE, "h2serve.py")
SERVE = os.path.join(HERE, "serve.py")
SANITIZED = os.environ.get("TL_SANITIZED") == "1"

S = Scratch("tlog-h2-")
PROCS, fail, expect, path = S.procs, S.fail, S.expect, S.path


def run(args, rc=None, env=None, timeout=120):
    p = subprocess.run(args, capture_output=True, timeout=timeout,
                       env=dict(os.environ, **(env or {})))
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    if rc is not None and p.returncode != rc:
        fail("%s: exit %d, expected %d\nstdout: %s\nstderr: %s"
             % (" ".join(args), p.returncode, rc, out, err[-3000:]))
    return p.returncode, out, err


def tlog(*args, rc=None, verbose=False):
    return run([TLOG] + list(args), rc=rc, env={"TLOG_H2_VERBOSE": "1"} if verbose else None)


def read(p, mode="r"):
    with open(p, mode) as f:
        return f.read()


def write(p, data, mode="w"):
    with open(p, mode) as f:
        f.write(data)


def certs():
    cert, key = path("cert.pem"), path("key.pem")
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1"], rc=0)
    return cert, key


def mklog(d, n):
    run([MKLOG, "keygen", "example.test/log", "log", path("log")], rc=0)
    run([MKLOG, "build", "--key", path("log.key"), "--dir", d, "--count", str(n)], rc=0)
    return path("log.vkey")


class H2Server:
    def __init__(self, d, *extra, tls=None, log=None):
        args = [sys.executable, H2SERVE, "--dir", d] + list(extra)
        if tls:
            args += ["--tls", tls[0], tls[1]]
        if log:
            args += ["--log", log]
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE)
        PROCS.append(self.p)
        self.port = int(self.p.stdout.readline())
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)

    def stop(self):
        self.p.kill()
        self.p.wait()


def connections(err):
    return err.count("tlog: h2: connected to ")


def streams(err):
    return err.count(": GET /")


# ---- cases -------------------------------------------------------------------

def case_tlogd():
    n = 20000 if not SANITIZED else 6000
    d = path("log")
    run([FILL, d, str(n)], rc=0)
    key = os.path.join(d, "log.vkey")
    cert, pkey = certs()
    for proto in ("h2c", "tls"):
        port = free_port()
        args = [TLOGD, "serve", "--dir", d, "--listen", "127.0.0.1:%d" % port,
                "--batch-interval", "20"]
        if proto == "tls":
            args += ["--tls-cert", cert, "--tls-key", pkey]
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                             stderr=open(path("tlogd-%s.log" % proto), "w"))
        PROCS.append(p)
        wait_port(port)
        if proto == "h2c":
            url, flags = "http://127.0.0.1:%d" % port, ["--h2c"]
        else:
            url, flags = "https://127.0.0.1:%d" % port, ["--ca", cert]
            _, _, err = tlog("audit", url, "--key", key, "--retries", "0", rc=3)
            expect("certificate" in err, "TLS not verified: " + err)
        st = path("st-" + proto)
        _, out, err = tlog("audit", url, "--key", key, "--state", st, *flags, rc=0, verbose=True)
        expect(("%d entries verified" % n) in out, out)
        # Every tile and bundle on one HTTP/2 connection, many streams.
        expect(connections(err) == 1 and streams(err) >= 2 * (n // 256),
               "%s: %d connections, %d streams\n%s" % (proto, connections(err), streams(err),
                                                       err[-2000:]))
        expect("HTTP/1.1" not in err and "ignored" not in err, err[-2000:])
        _, out, _ = tlog("audit", url, "--key", key, "--state", st, "--json", *flags, rc=0)
        j = json.loads(out)
        expect(j["ok"] and j["size"] == n and j["entries_verified"] == 0, out)
        if proto == "tls":
            monitor(url, key, n, flags)
        p.send_signal(signal.SIGTERM)
        expect(p.wait(timeout=20) == 0, "tlogd did not stop cleanly")


def monitor(url, key, n, flags):
    """tlog monitor over TLS follows the log as entries are added, its fetcher
    connection kept (or made again) between runs."""
    m = subprocess.Popen([TLOG, "monitor", url, "--key", key, "--interval", "0.2"] + flags,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=dict(os.environ, TLOG_H2_VERBOSE="1"))
    PROCS.append(m)

    def wait_line(want):
        deadline = time.time() + 30
        while time.time() < deadline:
            line = m.stdout.readline().decode()
            if not line:
                fail("monitor ended: %s" % m.stderr.read().decode()[-2000:])
            if (" size %d " % want) in line:
                return
        fail("monitor: no line for size %d" % want)

    wait_line(n)
    for i in range(3):
        e = path("e%d" % i)
        write(e, "entry %d added while monitoring\n" % i)
        tlog("add", url, e, "--key", key, *flags, rc=0)
        wait_line(n + i + 1)
    m.send_signal(signal.SIGTERM)
    expect(m.wait(timeout=20) == 0, "monitor did not stop on SIGTERM")
    err = m.stderr.read().decode(errors="replace")
    expect(1 <= connections(err) <= 4 and "HTTP/1.1" not in err, "monitor: %s" % err[-2000:])


def case_faults():
    n = 20000 if not SANITIZED else 8000
    d = path("log")
    key = mklog(d, n)
    cert, pkey = certs()
    for tls in (None, (cert, pkey)):
        flags = ["--ca", cert] if tls else ["--h2c"]
        name = "tls" if tls else "h2c"

        def audit(*extra, rc, verbose=False, srv_args=(), log=None, where=d):
            s = H2Server(where, *srv_args, tls=tls, log=log)
            r = tlog("audit", s.url, "--key", key, *flags, *extra, rc=rc, verbose=verbose)
            s.stop()
            return r

        # The honest log, every request on one connection.
        _, out, err = audit(rc=0, verbose=True)
        expect(("%d entries verified" % n) in out, out)
        expect(connections(err) == 1 and streams(err) >= 2 * (n // 256),
               "%s: %d connections, %d streams" % (name, connections(err), streams(err)))
        # 404 and 500 for one tile: the status and the path (exit 3).
        for rel, code in (("tile/0/001", 404), ("tile/entries/002", 500)):
            _, _, err = audit(rc=3, srv_args=["--status", "%s=%d" % (rel, code)])
            expect(("/%s: HTTP status %d" % (rel, code)) in err,
                   "%s: %d for %s: %s" % (name, code, rel, err))
        # 503 once (Retry-After is not sent: a second later) is retried.
        _, out, _ = audit(rc=0, srv_args=["--status", "tile/entries/003=503", "--status-once"])
        expect(("%d entries verified" % n) in out, out)
        # A connection closed in the middle of a body.
        _, _, err = audit("--retries", "0", rc=3, srv_args=["--close", "tile/entries/004"])
        expect("tile/entries/004: " in err, "%s close: %s" % (name, err))
        log = path("reqs-%s" % name)
        _, out, err = audit(rc=0, verbose=True, log=log,
                            srv_args=["--close", "tile/entries/004", "--close-times", "1"])
        expect(("%d entries verified" % n) in out, out)
        conns = set(x.split()[0] for x in read(log).splitlines() if " tile/" in x)
        expect(len(conns) == 2 and connections(err) == 2,
               "%s: close once: %d server connections" % (name, len(conns)))
        # A body shorter than its content-length: nghttp2 resets the stream.
        _, _, err = audit("--retries", "0", rc=3, srv_args=["--short", "tile/entries/005"])
        expect("tile/entries/005: HTTP/2 stream" in err, "%s short: %s" % (name, err))
        # GOAWAY after 30 requests: the rest go on a new connection.
        os.remove(log)
        _, out, err = audit(rc=0, verbose=True, log=log, srv_args=["--goaway-after", "30"])
        expect(("%d entries verified" % n) in out, out)
        expect("GOAWAY" in err and connections(err) == 2, "%s goaway: %s" % (name, err[-1500:]))
        per = {}
        for x in read(log).splitlines():
            if " tile/" in x:
                per[x.split()[0]] = per.get(x.split()[0], 0) + 1
        counts = [per[k] for k in sorted(per, key=int)]
        expect(len(counts) == 2 and counts[0] == 30 and counts[1] > 30,
               "%s goaway split: %s" % (name, counts))
        # Tampered copies: exit 1, naming the entry.
        for rel, want in (("tile/0/001", "entry 261"), ("tile/entries/002", "entry 515")):
            t = path("t")
            shutil.rmtree(t, ignore_errors=True)
            shutil.copytree(d, t)
            b = bytearray(read(os.path.join(t, rel), "rb"))
            if rel.startswith("tile/0/"):
                off = 5 * 32 + 3  # hash 5: entry 256 + 5
            else:
                off = 0
                for _ in range(3):  # entry 3 of bundle 2
                    off += 2 + (b[off] << 8 | b[off + 1])
                off += 3
            b[off] ^= 0x01
            write(os.path.join(t, rel), bytes(b), "wb")
            _, _, err = audit(rc=1, where=t)
            expect(want in err and "expected" in err and "got" in err,
                   "%s tampered %s: %s" % (name, rel, err))


def case_fallback():
    n = 3000
    d = path("log")
    key = mklog(d, n)
    cert, pkey = certs()
    s = subprocess.Popen([sys.executable, SERVE, "--dir", d, "--tls", cert, pkey],
                         stdout=subprocess.PIPE)
    PROCS.append(s)
    port = int(s.stdout.readline())
    _, out, err = tlog("audit", "https://127.0.0.1:%d" % port, "--key", key, "--ca", cert, rc=0,
                       verbose=True)
    expect(("%d entries verified" % n) in out, out)
    expect("did not choose h2 by ALPN: HTTP/1.1 through libcurl" in err and
           connections(err) == 0, err)


CASES = {"tlogd": case_tlogd, "faults": case_faults, "fallback": case_fallback}

if __name__ == "__main__":
    try:
        CASES[CASE]()
    except BaseException:
        S.stop()
        raise
    print("ok: client h2 %s" % CASE)
    S.finish(0)
