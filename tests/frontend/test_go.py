#!/usr/bin/env python3
"""test_go.py - tlogd with Go's HTTP clients: net/http over TLS
(ALPN h2) and over cleartext HTTP/1.1, x/net/http2 over TLS and over h2c
with prior knowledge. Builds tests/frontend/goclient (Debian's golang-go and
golang-golang-x-net-dev, GOPATH mode, offline) and runs it against a real
tlogd; the client checks the protocol of every response, every inclusion
proof it gets (RFC 9162, in Go), a duplicate and get-sth.
Also: the client must fail when the protocol is not the one expected.
Usage: test_go.py BUILD_DIR. Fails when there is no Go toolchain (scripts/deps.sh test installs it).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
TLOGD = os.path.join(BUILD, "tlogd")
GOPATH = "/usr/share/gocode"


def build_client(tmp):
    go = shutil.which("go")
    if not go or not os.path.isdir(os.path.join(GOPATH, "src/golang.org/x/net/http2")):
        print("test_go: FAIL: no Go toolchain or golang.org/x/net "
              "(scripts/deps.sh test installs them)")
        sys.exit(1)
    out = os.path.join(BUILD, "tl_goclient")
    env = dict(os.environ, GO111MODULE="off", GOPATH=GOPATH, GOFLAGS="",
               GOCACHE=os.path.join(BUILD, "gocache"), CGO_ENABLED="0")
    subprocess.run([go, "build", "-o", out, os.path.join(HERE, "goclient", "goclient.go")],
                   env=env, check=True, cwd=tmp)
    return out


def serve(tmp, name, *extra):
    err = open(os.path.join(tmp, name + ".err"), "w+")
    p = subprocess.Popen([TLOGD, "serve", "--dir", os.path.join(tmp, "log"),
                          "--listen", "127.0.0.1:0"] + list(extra), stderr=err)
    for _ in range(600):
        err.seek(0)
        m = re.search(r"\(port (\d+)\)", err.read())
        if m:
            return p, int(m.group(1))
        if p.poll() is not None:
            break
        time.sleep(0.05)
    p.kill()
    err.seek(0)
    sys.exit("test_go: tlogd did not start: " + err.read())


def stop(p):
    p.terminate()
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        sys.exit("test_go: tlogd did not stop on SIGTERM")


def run_all(runs):
    """Runs (label, argv, want_exit) and returns the number of surprises."""
    failures = 0
    for mode, args, want in runs:
        r = subprocess.run(args, capture_output=True, text=True, timeout=120)
        ok = (r.returncode == 0) == (want == 0)
        print("%s %s: %s%s" % ("ok" if ok else "FAIL", mode, r.stdout.strip(), r.stderr.strip()))
        failures += not ok
    return failures


def main():
    tmp = tempfile.mkdtemp(prefix="tl-go-")
    failures = 0
    try:
        client = build_client(tmp)
        subprocess.run([TLOGD, "init", "--dir", os.path.join(tmp, "log"), "--origin",
                        "go.example/log"], check=True, stdout=subprocess.DEVNULL)
        cert, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        p, port = serve(tmp, "tls", "--tls-cert", cert, "--tls-key", key)
        try:
            failures += run_all([(mode, [client, mode, "https://127.0.0.1:%d" % port, cert], 0)
                                 for mode in ("nethttp-tls", "xnet-tls")])
        finally:
            stop(p)
        p, port = serve(tmp, "clear")
        try:
            url = "http://127.0.0.1:%d" % port
            runs = [("xnet-h2c", [client, "xnet-h2c", url], 0),
                    ("nethttp-h1", [client, "nethttp-h1", url], 0),
                    # expects HTTP/2 from a cleartext URL through net/http: must fail
                    ("nethttp-tls on http:// (must fail)", [client, "nethttp-tls", url], 1)]
            failures += run_all(runs)
        finally:
            stop(p)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("test_go: %d failure(s)" % failures)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
