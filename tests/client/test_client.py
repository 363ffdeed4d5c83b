#!/usr/bin/env python3
"""test_client.py - integration tests of `tlog` (add, verify, audit, monitor).

usage: test_client.py BUILD_DIR SOURCE_DIR CASE

Drives the real build/tlog against static C2SP tlog-tiles logs written by
tests/client/mklog (from the specs, not by tlogd), against the Tessera test
log, served by a plain Python web server (serve.py), and against a real
build/tlogd when it works. Every case fails loudly when the behaviour breaks.
Nothing is skipped: a missing tool or test log is a failure.
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
MKLOG = os.path.join(BUILD, "client_mklog")
SERVE = os.path.join(SRC, "tests", "client", "serve.py")
# Data others produced lives beside the repo, in ../shared/testdata (see its SOURCE).
TESSERA = os.path.join(os.path.dirname(os.path.abspath(SRC)), "shared", "testdata",
                       "tessera-testdata", "log")
TESSERA_KEY = "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx"
SANITIZED = os.environ.get("TL_SANITIZED") == "1"

S = Scratch("tlog-client-")
TMP, PROCS, fail, expect, path = S.tmp, S.procs, S.fail, S.expect, S.path


def run(args, rc=None, stdin=None, timeout=120):
    p = subprocess.run(args, input=stdin, capture_output=True, timeout=timeout)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    if rc is not None and p.returncode != rc:
        fail("%s: exit %d, expected %d\nstdout: %s\nstderr: %s"
             % (" ".join(args), p.returncode, rc, out, err))
    return p.returncode, out, err


def tlog(*args, rc=None, stdin=None, timeout=120):
    return run([TLOG] + list(args), rc=rc, stdin=stdin, timeout=timeout)


def keygen(name, kind, prefix):
    _, out, _ = run([MKLOG, "keygen", name, kind, path(prefix)], rc=0)
    return out.strip()


def build(keyprefix, d, count, seed=1, cosign=(), extra=()):
    args = [MKLOG, "build", "--key", path(keyprefix + ".key"), "--dir", d,
            "--count", str(count), "--seed", str(seed)]
    for c in cosign:
        args += ["--cosign", path(c + ".key")]
    run(args + list(extra), rc=0)


class Server:
    def __init__(self, d, log=None, add_response=None, busy=0):
        args = [sys.executable, SERVE, "--dir", d]
        if log:
            args += ["--log", log]
        if add_response:
            args += ["--add-response", add_response, "--busy", str(busy)]
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE)
        PROCS.append(self.p)
        self.port = int(self.p.stdout.readline())
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self):
        self.p.kill()
        self.p.wait()


def read(p, mode="r"):
    with open(p, mode) as f:
        return f.read()


def write(p, data, mode="w"):
    with open(p, mode) as f:
        f.write(data)


def flip_b64(s, pos):
    """Changes base64 character pos of s into another valid one."""
    c = s[pos]
    n = "B" if c != "B" else "C"
    return s[:pos] + n + s[pos + 1:]


def flip_byte(p, off):
    b = bytearray(read(p, "rb"))
    b[off] ^= 0x01
    write(p, bytes(b), "wb")


def setup_keys():
    keygen("example.test/log", "log", "log")
    for w in ("w1", "w2", "w3"):
        keygen("witness.test/" + w, "witness", w)
    vk = {w: read(path(w + ".vkey")).strip() for w in ("log", "w1", "w2", "w3")}
    pol = "log %s\nwitness w1 %s\nwitness w2 %s\nwitness w3 %s\n" % (
        vk["log"], vk["w1"], vk["w2"], vk["w3"])
    write(path("policy-2of3"), pol + "group g 2 w1 w2 w3\nquorum g\n")
    write(path("policy-all"), pol + "group g all w1 w2 w3\nquorum g\n")
    write(path("policy-none"), "log %s\nquorum none\n" % vk["log"])
    return vk


# ---- cases -------------------------------------------------------------------

def case_verify():
    vk = setup_keys()
    d = path("log")
    build("log", d, 1000, cosign=("w1", "w2"),
          extra=["--proof-index", "777", "--proof-out", path("p"), "--entry-out", path("e")])
    P, E = path("p"), path("e")
    key = path("log.vkey")
    tlog("verify", "--key", key, P, E, rc=0)
    tlog("verify", "--key", vk["log"], P, E, rc=0)
    tlog("verify", P, E, "--policy", path("policy-2of3"), rc=0)
    tlog("verify", "--policy", path("policy-none"), P, E, rc=0)
    _, out, _ = tlog("verify", "--json", "--key", key, P, E, rc=0)
    j = json.loads(out)
    expect(j["ok"] and j["index"] == 777 and j["size"] == 1000, "json: %s" % out)
    # Size-1 tree: empty inclusion proof.
    build("log", path("one"), 1, extra=["--proof-index", "0", "--proof-out", path("p1"),
                                        "--entry-out", path("e1")])
    tlog("verify", "--key", key, path("p1"), path("e1"), rc=0)

    proof = read(P)
    lines = proof.split("\n")
    # A flipped byte in the entry.
    write(path("e-bad"), read(E, "rb")[:-1] + bytes([read(E, "rb")[-1] ^ 1]), "wb")
    _, _, err = tlog("verify", "--key", key, P, path("e-bad"), rc=1)
    expect("inclusion" in err and "777" in err, "entry flip: " + err)
    # A flipped byte in an inclusion-proof hash.
    bad = list(lines)
    bad[3] = flip_b64(bad[3], 5)
    write(path("p-hash"), "\n".join(bad))
    _, _, err = tlog("verify", "--key", key, path("p-hash"), E, rc=1)
    expect("inclusion" in err, "proof flip: " + err)
    # The wrong index.
    write(path("p-index"), proof.replace("index 777\n", "index 778\n"))
    tlog("verify", "--key", key, path("p-index"), E, rc=1)
    # A flipped byte in the checkpoint body (its root line).
    blank = lines.index("")
    bad = list(lines)
    bad[blank + 3] = flip_b64(bad[blank + 3], 7)
    write(path("p-cp"), "\n".join(bad))
    _, _, err = tlog("verify", "--key", key, path("p-cp"), E, rc=1)
    expect("signature" in err, "checkpoint flip: " + err)
    _, _, err = tlog("verify", "--policy", path("policy-2of3"), path("p-cp"), E, rc=1)
    # A flipped byte in the log signature.
    sig = [i for i, l in enumerate(lines) if l.startswith("\u2014 example.test/log ")][0]
    bad = list(lines)
    bad[sig] = flip_b64(bad[sig], len(bad[sig]) - 10)
    write(path("p-sig"), "\n".join(bad))
    _, _, err = tlog("verify", "--key", key, path("p-sig"), E, rc=1)
    expect("signature" in err, "log signature flip: " + err)
    # A flipped byte in a cosignature: 2-of-3 is no longer met.
    w1 = [i for i, l in enumerate(lines) if l.startswith("\u2014 witness.test/w1 ")][0]
    bad = list(lines)
    bad[w1] = flip_b64(bad[w1], len(bad[w1]) - 10)
    write(path("p-cosig"), "\n".join(bad))
    tlog("verify", "--policy", path("policy-2of3"), path("p-cosig"), E, rc=1)
    tlog("verify", "--key", key, path("p-cosig"), E, rc=0)  # --key needs no witness
    # A quorum not met: all three required, two cosigned.
    _, _, err = tlog("verify", "--policy", path("policy-all"), P, E, rc=1)
    expect("quorum" in err.lower(), "quorum: " + err)
    # A policy that does not list this log.
    keygen("other.test/log", "log", "other")
    write(path("policy-other"), "log %s\nquorum none\n" % read(path("other.vkey")).strip())
    tlog("verify", "--policy", path("policy-other"), P, E, rc=1)
    # Not a proof at all.
    write(path("junk"), "hello\n")
    tlog("verify", "--key", key, path("junk"), E, rc=1)
    # Usage errors: exit 2 with a one-line reason.
    for args in (["verify", "--key", key, "--policy", path("policy-2of3"), P, E],
                 ["verify", "--key", key, P], ["verify", P, E], ["frobnicate"],
                 ["verify", "--key", key, P, E, "--bogus"], ["verify", "--key", "nonsense", P, E],
                 ["verify", "--key", key, "--state", "x", P, E], []):
        rc, out, err = tlog(*args)
        expect(rc == 2 and err.count("\n") == 1 and out == "", "usage %s: %d %r" % (args, rc, err))
    tlog("--help", rc=0)
    _, out, _ = tlog("--version", rc=0)
    expect(out.startswith("tlog "), out)


def case_audit():
    setup_keys()
    n = 70000 if not SANITIZED else 20000
    d = path("log")
    build("log", d, n, cosign=("w1", "w2"))
    srv = Server(d)
    _, out, err = tlog("audit", srv.url, "--key", path("log.vkey"), rc=0)
    expect(("%d entries verified" % n) in out, out)
    _, out, _ = tlog("audit", "--json", srv.url, "--policy", path("policy-2of3"), rc=0)
    j = json.loads(out)
    expect(j["ok"] and j["size"] == n and j["entries_verified"] == n, out)
    tlog("audit", srv.url, "--policy", path("policy-all"), rc=1)
    # Tampered copies, served as they are: each must fail naming the index.
    last = n >> 8  # the partial level-0 tile / bundle
    w = n & 255
    tile1 = "tile/1/000" if n >= 65536 else "tile/1/000.p/%d" % (n >> 8)
    cases = [
        ("tile/0/001", 5 * 32 + 3, "entry 261"),  # a full level-0 tile
        ("tile/0/%s.p/%d" % (tile_index(last), w), 7 * 32, "entry %d" % (last * 256 + 7)),
        (tile1, 2 * 32 + 1, tile1),  # a level-1 tile
    ]
    for rel, off, want in cases:
        t = path("t")
        shutil.rmtree(t, ignore_errors=True)
        shutil.copytree(d, t)
        flip_byte(os.path.join(t, rel), off)
        s = Server(t)
        _, _, err = tlog("audit", s.url, "--key", path("log.vkey"), rc=1)
        expect(want in err and "expected" in err, "tampered %s: %s" % (rel, err))
        s.stop()
    # Altered entries (full and partial bundles).
    for k, i in ((2, 3), (last, 9)):
        t = path("t")
        shutil.rmtree(t, ignore_errors=True)
        shutil.copytree(d, t)
        rel = "tile/entries/" + tile_index(k) + ("" if k < last else ".p/%d" % w)
        p = os.path.join(t, rel)
        b = bytearray(read(p, "rb"))
        off = 0
        for _ in range(i):
            off += 2 + (b[off] << 8 | b[off + 1])
        b[off + 3] ^= 0x20
        write(p, bytes(b), "wb")
        s = Server(t)
        _, _, err = tlog("audit", s.url, "--key", path("log.vkey"), rc=1)
        idx = k * 256 + i
        expect(("entry %d" % idx) in err and "expected" in err and "got" in err,
               "altered entry %d: %s" % (idx, err))
        s.stop()
    # A tampered checkpoint.
    t = path("t")
    shutil.rmtree(t, ignore_errors=True)
    shutil.copytree(d, t)
    cp = read(os.path.join(t, "checkpoint")).split("\n")
    cp[2] = flip_b64(cp[2], 4)
    write(os.path.join(t, "checkpoint"), "\n".join(cp))
    s = Server(t)
    _, _, err = tlog("audit", s.url, "--key", path("log.vkey"), rc=1)
    expect("signature" in err, err)
    s.stop()
    # A missing tile: a network/server error (exit 3), naming the path.
    os.remove(os.path.join(t, "tile", "entries", "001"))
    write(os.path.join(t, "checkpoint"), read(os.path.join(d, "checkpoint")))
    s = Server(t)
    _, _, err = tlog("audit", s.url, "--key", path("log.vkey"), "--retries", "0", rc=3)
    expect("tile/entries/001" in err and "404" in err, err)
    s.stop()
    # Nothing listening: a network error, exit 3.
    srv.stop()
    tlog("audit", srv.url, "--key", path("log.vkey"), "--retries", "1", rc=3)


def tile_index(n):
    parts = []
    while True:
        parts.append("%03d" % (n % 1000))
        n //= 1000
        if n == 0:
            break
    parts.reverse()
    return "/".join(["x" + p for p in parts[:-1]] + parts[-1:])


def case_resume_fork():
    setup_keys()
    a, b = path("a"), path("b")
    cur = path("cur")
    build("log", a, 300, seed=1)
    os.symlink(a, cur)
    reqlog = path("requests")
    srv = Server(cur, log=reqlog)
    st = path("state.json")
    key = path("log.vkey")
    _, out, _ = tlog("audit", srv.url, "--key", key, "--state", st, rc=0)
    expect("300 entries verified" in out, out)
    # The log grows (same entries, more of them): only what is new is read.
    n2 = 70000 if not SANITIZED else 20000
    build("log", a, n2, seed=1)
    os.remove(reqlog)
    _, out, _ = tlog("audit", srv.url, "--key", key, "--state", st, rc=0)
    expect(("%d entries verified (from size 300)" % (n2 - 300)) in out, out)
    reqs = read(reqlog).split("\n")
    expect("GET /tile/entries/000" not in reqs, "re-read bundle 000: %s" % reqs[:10])
    expect("GET /tile/entries/001" in reqs, "did not read bundle 001")
    # Nothing new: nothing but the checkpoint is read.
    os.remove(reqlog)
    _, out, _ = tlog("audit", srv.url, "--key", key, "--state", st, rc=0)
    expect(read(reqlog).split() == ["GET", "/checkpoint"], read(reqlog))
    saved = json.loads(read(st))
    # A fork: the same key signs a different tree that is larger.
    build("log", b, n2 + 500, seed=2)
    os.remove(cur)
    os.symlink(b, cur)
    _, out, err = tlog("audit", srv.url, "--key", key, "--state", st, rc=1)
    new_cp = read(os.path.join(b, "checkpoint"))
    expect(saved["checkpoint"] in out and new_cp in out, "fork evidence: %r" % out)
    expect("fork" in err, err)
    expect(json.loads(read(st))["checkpoint"] == saved["checkpoint"], "state changed on fork")
    # The same with --json: the evidence is in the object.
    _, out, _ = tlog("audit", "--json", srv.url, "--key", key, "--state", st, rc=1)
    j = json.loads(out)
    expect(j["fork"] and j["evidence"] == [saved["checkpoint"], new_cp], out)
    # A fork at the same size (different root), and a rollback (smaller).
    for size in (n2, 1000):
        shutil.rmtree(b)
        build("log", b, size, seed=3)
        _, out, err = tlog("audit", srv.url, "--key", key, "--state", st, rc=1)
        expect(saved["checkpoint"] in out and read(os.path.join(b, "checkpoint")) in out,
               "fork at size %d: %r" % (size, out))
    # The honest log still audits from the state.
    os.remove(cur)
    os.symlink(a, cur)
    tlog("audit", srv.url, "--key", key, "--state", st, rc=0)
    # A corrupt state file is refused (file error, exit 3).
    write(st, "{}")
    tlog("audit", srv.url, "--key", key, "--state", st, rc=3)


def tessera_copy():
    d = path("tessera")
    shutil.copytree(TESSERA, d)
    for root, dirs, files in os.walk(d):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    return d


def need_tessera():
    if not os.path.isdir(TESSERA):
        fail("the Tessera test log is missing: %s (it belongs in ../shared/testdata "
             "beside the source tree)" % TESSERA)


def case_tessera():
    need_tessera()
    d = tessera_copy()
    shutil.copy(os.path.join(d, "checkpoint.15"), os.path.join(d, "checkpoint"))
    srv = Server(d)
    _, out, _ = tlog("audit", srv.url, "--key", TESSERA_KEY, rc=0)
    expect("15 entries verified" in out, out)
    # Resuming through every published size.
    st = path("st")
    for n in (1, 2, 5, 8, 12, 15):
        shutil.copy(os.path.join(d, "checkpoint.%d" % n), os.path.join(d, "checkpoint"))
        tlog("audit", srv.url, "--key", TESSERA_KEY, "--state", st, "--quiet", rc=0)
        expect(json.loads(read(st))["size"] == n, "state size")
    # An altered entry ("three" -> "thref") in the partial bundle of size 15.
    p = os.path.join(d, "tile", "entries", "000.p", "15")
    b = read(p, "rb")
    write(p, b.replace(b"three", b"thref"), "wb")
    _, _, err = tlog("audit", srv.url, "--key", TESSERA_KEY, rc=1)
    expect("entry 2 " in err, err)


def case_monitor():
    need_tessera()
    d = tessera_copy()
    shutil.copy(os.path.join(d, "checkpoint.5"), os.path.join(d, "checkpoint"))
    srv = Server(d)
    st = path("st")
    p = subprocess.Popen([TLOG, "monitor", srv.url, "--key", TESSERA_KEY, "--state", st,
                          "--interval", "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    PROCS.append(p)

    def wait_line(want):
        deadline = time.time() + 20
        while time.time() < deadline:
            line = p.stdout.readline().decode()
            if not line:
                fail("monitor ended: %s" % p.stderr.read().decode())
            if (" size %d " % want) in line:
                return line
        fail("monitor: no line for size %d" % want)

    wait_line(5)
    for n in (8, 12, 15):
        shutil.copy(os.path.join(d, "checkpoint.%d" % n), os.path.join(d, "checkpoint"))
        line = wait_line(n)
        expect("example.com/log/testdata" in line, line)
    # Network trouble is retried: stop the server, start it again on the same port.
    port = srv.port
    srv.stop()
    time.sleep(0.6)
    expect(p.poll() is None, "monitor died on a network error")
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=10)
    expect(rc == 0, "monitor exit %d on SIGTERM" % rc)
    err = p.stderr.read().decode()
    expect("retrying" in err, "no retry message: " + err)
    del port
    # A fork while monitoring: exit 1 with both checkpoints on stdout.
    setup_keys()
    a, b, cur = path("a"), path("b"), path("cur")
    build("log", a, 600, seed=1)
    build("log", b, 900, seed=2)
    os.symlink(a, cur)
    srv = Server(cur)
    p = subprocess.Popen([TLOG, "monitor", srv.url, "--key", path("log.vkey"),
                          "--interval", "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    PROCS.append(p)
    wait_line(600)
    build("log", a, 700, seed=1)
    wait_line(700)
    os.remove(cur)
    os.symlink(b, cur)
    rc = p.wait(timeout=20)
    out = p.stdout.read().decode()
    expect(rc == 1, "monitor exit %d on a fork" % rc)
    expect(read(os.path.join(a, "checkpoint")) in out and read(os.path.join(b, "checkpoint")) in out,
           "monitor fork evidence: %r" % out)


def case_add_static():
    setup_keys()
    d = path("log")
    build("log", d, 500, cosign=("w1", "w2"),
          extra=["--proof-index", "42", "--proof-out", path("p"), "--entry-out", path("e")])
    srv = Server(d, add_response=path("p"), busy=1)
    key = path("log.vkey")
    _, out, err = tlog("add", srv.url, path("e"), "-o", path("out"), "--key", key, rc=0)
    expect(read(path("out")) == read(path("p")) and out == "", "add -o")
    expect("retrying" in err, "503 not retried: " + err)
    _, out, _ = tlog("add", "--policy", path("policy-2of3"), srv.url, "-", stdin=read(path("e"), "rb"),
                     rc=0)
    expect(out == read(path("p")), "add to stdout: %r" % out)
    _, out, _ = tlog("add", srv.url, path("e"), rc=0)  # no trust flag: written as is
    expect(out == read(path("p")), "add without trust")
    # The server's proof is for another entry: refused, nothing written.
    write(path("other"), "not the logged entry\n")
    _, out, err = tlog("add", srv.url, path("other"), "--key", key, "-o", path("out2"), rc=1)
    expect(out == "" and not os.path.exists(path("out2")), "bad proof written")
    tlog("add", srv.url, path("e"), "--policy", path("policy-all"), rc=1)
    # Bad input and bad usage: exit 2.
    write(path("empty"), "")
    tlog("add", srv.url, path("empty"), rc=2)
    write(path("big"), "x" * 70000)
    tlog("add", srv.url, path("big"), rc=2)
    tlog("add", rc=2)
    tlog("add", srv.url, path("e"), "--key", key, "--policy", path("policy-2of3"), rc=2)
    tlog("add", "ftp://example.com", path("e"), rc=2)
    # A server error is reported with its status (exit 3).
    _, _, err = tlog("add", srv.url + "/nothere", path("e"), rc=3)
    expect("404" in err, err)


def case_add_tlogd():
    tlogd = os.path.join(BUILD, "tlogd")
    if not os.access(tlogd, os.X_OK) or subprocess.run([tlogd, "--version"],
                                                       capture_output=True).returncode != 0:
        fail("%s does not run" % tlogd)
    d = path("tlogd")
    r = subprocess.run([tlogd, "init", "--dir", d, "--origin", "tlogd.test/client"],
                       capture_output=True)
    if r.returncode != 0:
        fail("tlogd init failed: %s" % r.stderr.decode())
    port = free_port()
    p = subprocess.Popen([tlogd, "serve", "--dir", d, "--listen", "127.0.0.1:%d" % port,
                          "--batch-interval", "20"],
                         stdout=subprocess.DEVNULL, stderr=open(path("tlogd.log"), "w"))
    PROCS.append(p)
    url = "http://127.0.0.1:%d" % port
    wait_port(port)
    key = os.path.join(d, "log.vkey")
    st = path("st")
    for i in range(20):
        e = path("e%d" % i)
        write(e, "entry number %d\n" % i)
        rc, out, err = tlog("add", url, e, "--key", key, "-o", path("p%d" % i))
        if rc != 0:
            fail("tlog add against tlogd: %d %s\n%s" % (rc, err, read(path("tlogd.log"))))
        tlog("verify", "--key", key, path("p%d" % i), e, rc=0)
        if i == 9:
            tlog("audit", url, "--key", key, "--state", st, rc=0)
    # A proof for entry 3 does not verify entry 4.
    tlog("verify", "--key", key, path("p3"), path("e4"), rc=1)
    _, out, _ = tlog("audit", url, "--key", key, "--state", st, rc=0)
    expect("10 entries verified (from size 10)" in out, out)
    # A duplicate gets its original index.
    _, out, _ = tlog("add", url, path("e5"), "--key", key, rc=0)
    expect("index 5\n" in out, out)
    p.send_signal(signal.SIGTERM)
    expect(p.wait(timeout=20) == 0, "tlogd did not stop cleanly")
    # HTTPS: HTTP/2 through ALPN, the peer verified (only with --ca).
    cert, pkey = path("cert.pem"), path("key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", pkey, "-out", cert,
                        "-days", "2", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=IP:127.0.0.1"], capture_output=True)
    expect(r.returncode == 0, "openssl: %s" % r.stderr.decode())
    port = free_port()
    p = subprocess.Popen([tlogd, "serve", "--dir", d, "--listen", "127.0.0.1:%d" % port,
                          "--tls-cert", cert, "--tls-key", pkey],
                         stdout=subprocess.DEVNULL, stderr=open(path("tlogd2.log"), "w"))
    PROCS.append(p)
    url = "https://127.0.0.1:%d" % port
    wait_port(port)
    _, _, err = tlog("audit", url, "--key", key, "--retries", "0", rc=3)
    expect("certificate" in err, "TLS not verified: " + err)
    write(path("e20"), "entry over TLS\n")
    tlog("add", url, path("e20"), "--ca", cert, "--key", key, "-o", path("p20"), rc=0)
    tlog("verify", "--key", key, path("p20"), path("e20"), rc=0)
    _, out, _ = tlog("audit", url, "--ca", cert, "--key", key, "--state", st, rc=0)
    expect("1 entries verified (from size 20)" in out, out)
    # A full audit multiplexes every tile request on one HTTP/2 connection
    # of the fetcher (client/h2.c; /checkpoint goes through libcurl).
    r = subprocess.run([TLOG, "audit", url, "--ca", cert, "--key", key, "--quiet"],
                       capture_output=True, env=dict(os.environ, TLOG_H2_VERBOSE="1"))
    err = r.stderr.decode(errors="replace")
    conns = err.count("tlog: h2: connected to ")
    expect(r.returncode == 0 and conns == 1 and "(h2 by ALPN)" in err,
           "HTTP/2 multiplexing: exit %d, %d h2 connections" % (r.returncode, conns))
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=20)
    # A bigger tlogd log (filled through tl_log_add by bench_client_fill):
    # ~160 tile and bundle requests in flight on one HTTP/2 connection.
    fill = os.path.join(BUILD, "bench_client_fill")
    if not os.access(fill, os.X_OK):
        return
    big = path("big")
    run([fill, big, "20000"], rc=0)
    port = free_port()
    p = subprocess.Popen([tlogd, "serve", "--dir", big, "--listen", "127.0.0.1:%d" % port,
                          "--tls-cert", cert, "--tls-key", pkey],
                         stdout=subprocess.DEVNULL, stderr=open(path("tlogd3.log"), "w"))
    PROCS.append(p)
    wait_port(port)
    r = subprocess.run([TLOG, "audit", "https://127.0.0.1:%d" % port, "--ca", cert, "--key",
                        os.path.join(big, "log.vkey")], capture_output=True,
                       env=dict(os.environ, TLOG_H2_VERBOSE="1"))
    err = r.stderr.decode(errors="replace")
    conns = err.count("tlog: h2: connected to ")
    expect(r.returncode == 0 and b"20000 entries verified" in r.stdout,
           "audit of 20000 tlogd entries: %d %s" % (r.returncode, r.stdout))
    expect(conns == 1 and err.count(": GET /tile/") > 150,
           "not multiplexed: %d h2 connections, %d streams" %
           (conns, err.count(": GET /tile/")))
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=20)


CASES = {
    "verify": case_verify,
    "audit": case_audit,
    "resume_fork": case_resume_fork,
    "tessera": case_tessera,
    "monitor": case_monitor,
    "add_static": case_add_static,
    "add_tlogd": case_add_tlogd,
}

if __name__ == "__main__":
    try:
        CASES[CASE]()
    except BaseException:
        S.stop()
        raise
    print("ok: client %s" % CASE)
    S.finish(0)
