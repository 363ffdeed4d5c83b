#!/usr/bin/env python3
"""test_tlogd.py - tlogd serve end to end: the real binary on a free loopback
port, driven with curl (HTTP/1.1, h2c, TLS h2 and http/1.1), nghttp and
http.client. Every proof returned is verified here with an independent RFC
9162 implementation (tests/pylib/tltest.py), tiles and bundles are checked against the
entries, the RFC 6962 STH signature with the openssl CLI.

Covers: every endpoint and status of CONTRACT.md, concurrent adds from many
connections, duplicates, bad parameters, pushback with a tiny pool, 503
before the first published checkpoint and on the add deadline (a policy whose
witness never answers), graceful shutdown with adds in flight, restart with
the data intact. Usage: test_tlogd.py BUILD_DIR
"""
import base64
import hashlib
import http.client
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import shutil
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from tltest import check, leaf_hash, mth, summary, verify_consistency, verify_inclusion  # noqa: E402

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
TLOGD = os.path.join(BUILD, "tlogd")
SAN = bool(os.environ.get("TL_SANITIZED"))
TMP = tempfile.mkdtemp(prefix="tl-frontend-")


# ---- checkpoints and tlog-proof (the RFC 9162 oracle is tests/pylib/tltest.py) --

def parse_checkpoint(note):
    lines = note.split("\n")
    return lines[0], int(lines[1]), base64.b64decode(lines[2])


def parse_tlog_proof(text):
    """C2SP tlog-proof: header, [extra], index, proof lines, blank, checkpoint."""
    head, _, cp = text.partition("\n\n")
    lines = head.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1", lines[0]
    i = 1
    if lines[i].startswith("extra "):
        i += 1
    assert lines[i].startswith("index ")
    index = int(lines[i][6:])
    proof = [base64.b64decode(x, validate=True) for x in lines[i + 1:]]
    return index, proof, cp


# ---- driving the server ----------------------------------------------------

class Tlogd:
    def __init__(self, d, *args, tls=None):
        self.args = ["serve", "--dir", d, "--listen", "127.0.0.1:0", *args]
        if tls:
            self.args += ["--tls-cert", tls[0], "--tls-key", tls[1]]
        self.p = subprocess.Popen([TLOGD, *self.args], stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.port = None
        while True:
            line = self.p.stderr.readline()
            if not line:
                raise RuntimeError("tlogd did not start: " + "".join(self.lines))
            self.lines.append(line)
            m = re.search(r"\(port (\d+)\)", line)
            if m:
                self.port = int(m.group(1))
                break
        threading.Thread(target=self._drain, daemon=True).start()
        scheme = "https" if tls else "http"
        self.url = "%s://%s:%d" % (scheme, "localhost" if tls else "127.0.0.1", self.port)

    def _drain(self):
        for line in self.p.stderr:
            self.lines.append(line)

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            rc = self.p.wait(40)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        time.sleep(0.05)
        if any("Sanitizer" in x or "runtime error" in x for x in self.lines):
            check(False, "sanitizer report from tlogd:\n" + "".join(self.lines[-30:]))
        return rc


def curl(url, *args, data=None, timeout=40):
    """(status, headers dict lowercased, body bytes)."""
    cmd = ["curl", "-s", "-D", "-", "-o", "-", *args]
    if data is not None:
        cmd += ["--data-binary", "@-"]
    r = subprocess.run(cmd + [url], input=data, capture_output=True, timeout=timeout)
    out = r.stdout
    status, hdrs = 0, {}
    # Skip 1xx/100-continue blocks.
    while out.startswith(b"HTTP/"):
        head, _, out = out.partition(b"\r\n\r\n")
        hl = head.decode("latin-1").split("\r\n")
        status = int(hl[0].split()[1])
        hdrs = {}
        for h in hl[1:]:
            k, _, v = h.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if status >= 200:
            break
    return status, hdrs, out


PROTOS = {"h1": ["--http1.1"], "h2c": ["--http2-prior-knowledge"]}


def curl_head(url, *args, timeout=40):
    """A HEAD request: (status, headers dict lowercased, curl's exit code)."""
    r = subprocess.run(["curl", "-s", "--head", *args, url], capture_output=True, timeout=timeout)
    hl = r.stdout.decode("latin-1").split("\r\n")
    status = int(hl[0].split()[1]) if hl[0].startswith("HTTP/") else 0
    hdrs = {}
    for h in hl[1:]:
        k, _, v = h.partition(":")
        if k:
            hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, r.returncode


def one_line_reason(body):
    return body.endswith(b"\n") and body.count(b"\n") == 1 and len(body) > 1


def add_http1(port, entry, accept_json=False):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=40)
    h = {"Accept": "application/json"} if accept_json else {}
    c.request("POST", "/add", body=entry, headers=h)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body


def check_text_proof(body, entry, what):
    try:
        index, proof, cp = parse_tlog_proof(body.decode())
        _, size, root = parse_checkpoint(cp)
        ok = verify_inclusion(leaf_hash(entry), index, size, proof, root)
    except Exception as e:  # noqa: BLE001 - any parse failure is a test failure
        print("   proof parse error: %r" % e)
        return None
    if not ok:
        check(False, what + ": proof verifies")
        return None
    return index


def main():
    d = os.path.join(TMP, "log")
    r = subprocess.run([TLOGD, "init", "--dir", d, "--origin", "example.test/frontend"],
                       capture_output=True, text=True)
    check(r.returncode == 0 and r.stdout.startswith("example.test/frontend+"), "tlogd init")
    r = subprocess.run([TLOGD, "init", "--dir", d, "--origin", "x"], capture_output=True)
    check(r.returncode != 0, "tlogd init refuses an existing log")
    for bad in (["serve"], ["bogus", "--dir", d], ["serve", "--dir", d, "--max-entry", "0"],
                ["serve", "--dir", d, "--max-entry", "65536"], ["serve", "--dir", d, "--nope"],
                ["serve", "--dir", d, "--batch-max", "012"], ["serve", "--dir", d, "--tls-cert", "x"],
                ["serve", "--dir", d, "--listen", "8080"], ["serve", "--dir", d, "--listen", "h:x"],
                ["serve", "--dir", d, "--listen"], ["init", "--dir", d], [d, "serve", "init"],
                ["init", "--dir", d + "-k", "--origin", "x.test/k", "--kind", "nosuchkind"],
                ["init", "--dir", d + "-k", "--origin", "x.test/k", "--kind"],
                ["serve", "--dir", d, "--kind", "blob"]):
        r = subprocess.run([TLOGD, *bad], capture_output=True, text=True)
        check(r.returncode == 2 and r.stderr.count("\n") == 1, "bad usage %s: exit 2, one line" % bad)
    check(not os.path.exists(d + "-k"), "an unknown kind makes no folder")
    r = subprocess.run([TLOGD, "init", "--dir", d + "-blob", "--origin", "example.test/blob",
                        "--kind", "blob"], capture_output=True, text=True)
    check(r.returncode == 0 and r.stdout.startswith("example.test/blob+"), "tlogd init --kind blob")
    r = subprocess.run([TLOGD, "--version"], capture_output=True, text=True)
    check(r.returncode == 0 and r.stdout.startswith("tlogd "), "--version")
    r = subprocess.run([TLOGD, "--help"], capture_output=True, text=True)
    check(r.returncode == 0 and "--listen" in r.stdout, "--help")

    s = Tlogd(d, "--max-entry", "1000", "--get-entries-max", "100", "--batch-interval", "20")
    entries = {}
    try:
        u = s.url
        for name, pa in PROTOS.items():
            st, h, b = curl(u + "/healthz", *pa)
            check(st == 200, "%s /healthz" % name)
            st, h, b = curl(u + "/checkpoint", *pa)
            check(st == 200 and b.startswith(b"example.test/frontend\n"), "%s /checkpoint" % name)
            check(h.get("access-control-allow-origin") == "*", "%s checkpoint ACAO *" % name)
            cc = h.get("cache-control", "")
            m = re.search(r"max-age=(\d+)", cc)
            check(m is not None and int(m.group(1)) <= 10, "%s checkpoint cache-control short (%s)" % (name, cc))
        r = subprocess.run(["nghttp", u + "/checkpoint"], capture_output=True, timeout=20)
        check(r.returncode == 0 and r.stdout.startswith(b"example.test/frontend\n"), "nghttp /checkpoint")

        # Concurrent adds: 40 HTTP/1.1 connections + 16 h2c curls.
        results = []
        lock = threading.Lock()

        def worker_h1(k):
            for j in range(6):
                e = b"entry h1 %d %d" % (k, j)
                st, h, b = add_http1(s.port, e)
                with lock:
                    results.append((e, st, b))

        def worker_h2(k):
            e = b"entry h2c %d" % k
            st, h, b = curl(u + "/add", "--http2-prior-knowledge", data=e)
            with lock:
                results.append((e, st, b))
        ths = [threading.Thread(target=worker_h1, args=(k,)) for k in range(40)]
        ths += [threading.Thread(target=worker_h2, args=(k,)) for k in range(16)]
        t0 = time.time()
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        check(len(results) == 256, "256 concurrent adds answered (%.2fs)" % (time.time() - t0))
        bad = 0
        for e, st, b in results:
            idx = check_text_proof(b, e, "add") if st == 200 else None
            if idx is None:
                bad += 1
            else:
                entries[idx] = e
        check(bad == 0, "every concurrent add got 200 and a verifying tlog-proof (%d bad)" % bad)
        check(sorted(entries) == list(range(len(entries))), "indexes are distinct and dense")
        # More over both protocols and JSON, to pass one full tile.
        for i in range(70):
            e = b"more %d" % i
            if i % 2:
                st, h, b = curl(u + "/add", "--http1.1", "-H", "Accept: application/json", data=e)
            else:
                st, h, b = curl(u + "/add", "--http2-prior-knowledge", "-H", "Accept: application/json", data=e)
            if st != 200:
                check(False, "add %d: %d %r" % (i, st, b))
                continue
            j = json.loads(b)
            _, size, root = parse_checkpoint(j["checkpoint"])
            proof = [base64.b64decode(x) for x in j["inclusion_proof"]]
            ok = (base64.b64decode(j["leaf_hash"]) == leaf_hash(e) and
                  verify_inclusion(leaf_hash(e), j["index"], size, proof, root))
            if not ok:
                check(False, "JSON proof %d verifies" % i)
            entries[j["index"]] = e
            if i == 0:
                check(h.get("content-type", "").startswith("application/json"), "JSON add content-type")
        n = len(entries)
        check(sorted(entries) == list(range(n)) and n == 326, "326 entries sequenced")
        # Duplicates get their original index.
        for idx in (0, 100, 300):
            st, h, b = curl(u + "/add", "--http2-prior-knowledge", data=entries[idx])
            got = check_text_proof(b, entries[idx], "dup") if st == 200 else None
            check(got == idx, "duplicate of entry %d gets index %s" % (idx, got))
        st, _, b = curl(u + "/checkpoint", "--http1.1")
        _, size, root = parse_checkpoint(b.decode())
        leaves = [leaf_hash(entries[i]) for i in range(n)]
        check(size == n and root == mth(leaves), "published checkpoint root matches the entries")

        # Errors on /add.
        for name, pa in PROTOS.items():
            st, h, b = curl(u + "/add", *pa, data=b"")
            check(st == 400 and one_line_reason(b), "%s empty entry: 400 (%d %r)" % (name, st, b))
            st, h, b = curl(u + "/add", *pa, data=b"x" * 1001)
            check(st == 413 and one_line_reason(b),
                  "%s entry over --max-entry: 413 with a one-line reason (%d %r)" % (name, st, b))
            st, h, b = curl(u + "/add", *pa)
            check(st == 405, "%s GET /add: 405 (%d)" % (name, st))
            st, h, b = curl(u + "/nope", *pa)
            check(st == 404 and one_line_reason(b), "%s unknown path: 404" % name)
            st, h, b = curl(u + "/checkpoint", *pa, data=b"x")
            check(st == 405, "%s POST /checkpoint: 405" % name)
            st, h, b = curl(u + "/add", *pa, "-X", "OPTIONS")
            check(st == 204 and h.get("access-control-allow-origin") == "*" and
                  "POST" in h.get("access-control-allow-methods", ""),
                  "%s CORS preflight for POST /add: 204 (%d %r)" % (name, st, h))

        # Tiles and bundles.
        for name, pa in PROTOS.items():
            st, h, b = curl(u + "/tile/0/000", *pa)
            check(st == 200 and b == b"".join(leaves[:256]), "%s full level-0 tile" % name)
            check(h.get("cache-control") == "public, max-age=31536000, immutable",
                  "%s full tile immutable" % name)
            check(h.get("access-control-allow-origin") == "*", "%s tile ACAO *" % name)
            st, h, b = curl(u + "/tile/0/001.p/%d" % (n - 256), *pa)
            check(st == 200 and b == b"".join(leaves[256:n]), "%s partial level-0 tile" % name)
            st, h, b = curl(u + "/tile/1/000.p/1", *pa)
            check(st == 200 and b == mth(leaves[:256]), "%s level-1 partial tile" % name)
            st, h, b = curl(u + "/tile/entries/000", *pa)
            bundle, off = [], 0
            while off + 2 <= len(b):
                ln = struct.unpack(">H", b[off:off + 2])[0]
                bundle.append(b[off + 2:off + 2 + ln])
                off += 2 + ln
            check(st == 200 and bundle == [entries[i] for i in range(256)], "%s full entry bundle" % name)
            check(h.get("cache-control") == "public, max-age=31536000, immutable",
                  "%s full bundle immutable" % name)
            st, h, b = curl(u + "/tile/entries/001.p/%d" % (n - 256), *pa)
            check(st == 200 and b.endswith(entries[n - 1]), "%s partial entry bundle" % name)
            for path in ("/tile/0/002", "/tile/0/001", "/tile/entries/005", "/tile/2/000"):
                st, h, b = curl(u + path, *pa)
                check(st == 404, "%s %s beyond the tree: 404 (%d)" % (name, path, st))
            for path in ("/tile/0/1", "/tile/0/x000", "/tile/abc", "/tile/0/000.p/0",
                         "/tile/0/000.p/256", "/tile/0/000.p/07"):
                st, h, b = curl(u + path, *pa)
                check(400 <= st < 500, "%s malformed %s: 4xx (%d)" % (name, path, st))

        # RFC 6962 JSON.
        st, h, b = curl(u + "/ct/v1/get-sth", "--http2-prior-knowledge")
        sth = json.loads(b)
        check(st == 200 and sth["tree_size"] == n and base64.b64decode(sth["sha256_root_hash"]) == mth(leaves),
              "get-sth matches the published tree")
        check(h.get("content-type") == "application/json", "get-sth content-type")
        sig = base64.b64decode(sth["tree_head_signature"])
        tbs = struct.pack(">BBQQ", 0, 1, sth["timestamp"], sth["tree_size"]) + mth(leaves)
        check(sig[0] == 4 and sig[1] == 3 and struct.unpack(">H", sig[2:4])[0] == len(sig) - 4,
              "STH signature is a digitally-signed ecdsa/sha256 struct")
        open(os.path.join(TMP, "tbs"), "wb").write(tbs)
        open(os.path.join(TMP, "sig"), "wb").write(sig[4:])
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", os.path.join(d, "rfc6962.pub"),
                            "-signature", os.path.join(TMP, "sig"), os.path.join(TMP, "tbs")],
                           capture_output=True, text=True)
        check(r.returncode == 0, "STH signature verifies with rfc6962.pub (openssl)")
        for m_, n_ in ((1, n), (3, 7), (256, n), (100, 300), (n, n), (5, 5)):
            st, h, b = curl(u + "/ct/v1/get-sth-consistency?first=%d&second=%d" % (m_, n_), "--http1.1")
            proof = [base64.b64decode(x) for x in json.loads(b)["consistency"]] if st == 200 else None
            check(st == 200 and verify_consistency(m_, n_, proof, mth(leaves[:m_]), mth(leaves[:n_])),
                  "get-sth-consistency %d..%d verifies" % (m_, n_))
        # first=0: every tree extends the empty one; an empty proof, as
        # Trillian's CT frontend answers (docs/FRONTEND.md).
        st, h, b = curl(u + "/ct/v1/get-sth-consistency?first=0&second=%d" % n, "--http1.1")
        check(st == 200 and json.loads(b) == {"consistency": []},
              "get-sth-consistency first=0 is an empty proof")
        for idx, ts in ((0, n), (255, 256), (300, 301), (17, 200)):
            q = urllib.parse.urlencode({"hash": base64.b64encode(leaves[idx]).decode(), "tree_size": ts})
            st, h, b = curl(u + "/ct/v1/get-proof-by-hash?" + q, "--http2-prior-knowledge")
            j = json.loads(b) if st == 200 else {}
            ok = st == 200 and j["leaf_index"] == idx and verify_inclusion(
                leaves[idx], idx, ts, [base64.b64decode(x) for x in j["audit_path"]], mth(leaves[:ts]))
            check(ok, "get-proof-by-hash index %d size %d verifies" % (idx, ts))
        st, h, b = curl(u + "/ct/v1/get-entries?start=0&end=%d" % (n + 50), "--http1.1")
        got = [base64.b64decode(x["leaf_input"]) for x in json.loads(b)["entries"]]
        check(st == 200 and got == [entries[i] for i in range(100)], "get-entries capped at --get-entries-max")
        st, h, b = curl(u + "/ct/v1/get-entries?start=%d&end=%d" % (n - 2, n + 5), "--http1.1")
        got = [base64.b64decode(x["leaf_input"]) for x in json.loads(b)["entries"]]
        check(st == 200 and got == [entries[n - 2], entries[n - 1]], "get-entries clipped to the tree")
        st, h, b = curl(u + "/ct/v1/get-entry-and-proof?leaf_index=42&tree_size=%d" % n, "--http2-prior-knowledge")
        j = json.loads(b) if st == 200 else {}
        check(st == 200 and base64.b64decode(j["leaf_input"]) == entries[42] and verify_inclusion(
            leaves[42], 42, n, [base64.b64decode(x) for x in j["audit_path"]], mth(leaves)),
            "get-entry-and-proof verifies")
        good_hash = urllib.parse.quote(base64.b64encode(leaves[1]).decode(), safe="")
        bad_queries = [
            "get-sth-consistency?first=1", "get-sth-consistency?second=2",
            "get-sth-consistency?first=1&first=1&second=2", "get-sth-consistency?first=01&second=2",
            "get-sth-consistency?first=a&second=2", "get-sth-consistency?first=-1&second=2",
            "get-sth-consistency?first=5&second=3", "get-sth-consistency?first=1&second=%d" % (n + 1),
            "get-sth-consistency?first=1&second=99999999999999999999999",
            "get-sth-consistency?first=1&second=2&x=1", "get-sth-consistency",
            "get-proof-by-hash?hash=abc&tree_size=2", "get-proof-by-hash?hash=%s" % good_hash,
            "get-proof-by-hash?hash=%s&tree_size=%d" % (good_hash, n + 1),
            "get-proof-by-hash?hash=%s&tree_size=1" % good_hash,
            "get-proof-by-hash?hash=%s&tree_size=0" % good_hash,
            "get-proof-by-hash?hash=" + urllib.parse.quote(base64.b64encode(b"x" * 31).decode(), safe="") + "&tree_size=2",
            "get-entries?start=3&end=2", "get-entries?start=%d&end=%d" % (n, n + 1),
            "get-entries?start=+1&end=2", "get-entries?start=1", "get-entries?start=1&end=",
            "get-entry-and-proof?leaf_index=5&tree_size=5",
            "get-entry-and-proof?leaf_index=1&tree_size=%d" % (n + 1),
            "get-entry-and-proof?leaf_index=1",
        ]
        for q in bad_queries:
            st, h, b = curl(u + "/ct/v1/" + q, "--http2-prior-knowledge")
            check(st == 400 and one_line_reason(b), "400 with a one-line reason: %s (%d %r)" % (q, st, b[:80]))
        unknown = urllib.parse.quote(base64.b64encode(b"\x01" * 32).decode(), safe="")
        st, h, b = curl(u + "/ct/v1/get-proof-by-hash?hash=%s&tree_size=2" % unknown, "--http1.1")
        check(st == 404, "get-proof-by-hash of an unknown hash: 404 (%d)" % st)
        # The route table (frontend/routes.c): 404 with a reason, 405 with an
        # Allow header from the table, HEAD as GET, OPTIONS as CORS preflight.
        for name, pa in PROTOS.items():
            for path in ("/nope", "/tile", "/checkpoint/", "/add/", "/ct/v1/get-sth/x", "//"):
                st, h, b = curl(u + path, *pa)
                check(st == 404 and b == b"no such endpoint: %s\n" % path.encode() and
                      h.get("access-control-allow-origin") == "*",
                      "%s GET %s: 404 with the reason (%d %r)" % (name, path, st, b))
            for method, path, allow in (("POST", "/checkpoint", "GET, HEAD"),
                                        ("PUT", "/ct/v1/get-sth", "GET, HEAD"),
                                        ("DELETE", "/tile/0/000", "GET, HEAD"),
                                        ("POST", "/tile/entries/000", "GET, HEAD"),
                                        ("POST", "/metrics", "GET, HEAD"),
                                        ("GET", "/add", "POST"), ("HEAD", "/add", "POST"),
                                        ("PUT", "/add", "POST")):
                if method == "HEAD":
                    st, h, _ = curl_head(u + path, *pa)
                    b = b"method not allowed\n"
                else:
                    st, h, b = curl(u + path, *pa, "-X", method)
                check(st == 405 and h.get("allow") == allow and h.get("access-control-allow-origin") == "*" and
                      b == b"method not allowed\n",
                      "%s %s %s: 405, Allow: %s (%d %r %r)" % (name, method, path, allow, st, h.get("allow"), b))
            for path in ("/checkpoint", "/tile/0/000", "/tile/entries/000", "/ct/v1/get-sth",
                         "/ct/v1/get-sth-consistency?first=1&second=%d" % n, "/healthz"):
                st, h, b = curl(u + path, *pa)
                st2, h2, rc = curl_head(u + path, *pa)
                # tl_httpd drops the body; over HTTP/1.1 evhttp drops Content-Length too
                check(rc == 0 and st2 == st == 200 and h2.get("content-length", str(len(b))) == str(len(b)) and
                      all(h2.get(k) == h.get(k) for k in ("content-type", "cache-control",
                                                           "access-control-allow-origin")),
                      "%s HEAD %s: the GET's status and headers (%d %r)" % (name, path, st2, h2))
            st, h, rc = curl_head(u + "/nope", *pa)
            check(rc == 0 and st == 404, "%s HEAD of an unknown path: 404" % name)
            for path in ("/checkpoint", "/nope", "/tile/0/000"):
                st, h, b = curl(u + path, *pa, "-X", "OPTIONS")
                check(st == 204 and h.get("access-control-allow-origin") == "*" and
                      h.get("access-control-allow-methods") == "GET, HEAD, POST" and
                      h.get("access-control-allow-headers") == "Content-Type, Accept" and
                      h.get("access-control-max-age") == "86400" and b == b"",
                      "%s OPTIONS %s: CORS preflight (%d %r)" % (name, path, st, h))

        # The strict query parser (frontend/query.c) through the API: the
        # reasons are exact, the first problem in query order after its shape.
        plus = next(i for i in range(n) if "+" in base64.b64encode(leaves[i]).decode())
        raw = base64.b64encode(leaves[plus]).decode()
        enc = urllib.parse.quote(raw, safe="")
        strict = [
            ("get-entries?start=1&end=", "end must be a decimal number without leading zeros"),
            ("get-entries?start=&end=2", "start must be a decimal number without leading zeros"),
            ("get-sth-consistency?first=1&first=2&second=3", "parameter first given twice"),
            ("get-sth-consistency?second=3&first=1&second=3", "parameter second given twice"),
            ("get-sth-consistency?first=%zz&second=2", "first must be a decimal number without leading zeros"),
            ("get-sth-consistency?first=1&second=%4", "second must be a decimal number without leading zeros"),
            ("get-proof-by-hash?hash=%%zz%s&tree_size=%d" % (enc[3:], n),
             "hash must be a base64 SHA-256 hash (URL-encoded)"),
            ("get-proof-by-hash?hash=%s&tree_size=%d" % (raw, n),  # '+' is a space
             "hash must be a base64 SHA-256 hash (URL-encoded)"),
            ("get-entries?start=%2B1&end=2", "start must be a decimal number without leading zeros"),
            ("get-entries?start=1+&end=2", "start must be a decimal number without leading zeros"),
            ("get-sth-consistency?first=1&second=2&x=1", "unknown parameter x"),
            ("get-sth-consistency?fir%73t=1&second=2", "unknown parameter fir%73t"),
            ("get-sth-consistency?first=1&Second=2", "unknown parameter Second"),
            ("get-sth-consistency?first=1&&second=2", "malformed query string"),
            ("get-sth-consistency?&first=1&second=2", "malformed query string"),
            ("get-sth-consistency?first&second=2", "malformed query string"),
            ("get-sth-consistency?x=1&first", "malformed query string"),
            ("get-sth-consistency?=1&first=1&second=2", "malformed query string"),
            ("get-sth-consistency?first=1&second=2&&", "malformed query string"),
            ("get-sth-consistency", "missing parameter first"),
            ("get-sth-consistency?second=2", "missing parameter first"),
            ("get-entry-and-proof?leaf_index=1", "missing parameter tree_size"),
        ]
        for q, why in strict:
            st, h, b = curl(u + "/ct/v1/" + q, "--http2-prior-knowledge")
            check(st == 400 and b == why.encode() + b"\n",
                  "strict query %s: 400 %r (%d %r)" % (q, why, st, b[:80]))
        for q in ("get-sth-consistency?first=1&second=%d&" % n,  # one trailing '&'
                  "get-sth-consistency?first=%%31&second=%d" % n,  # values are percent-decoded
                  "get-sth-consistency?second=%d&first=1" % n,  # any order
                  "get-proof-by-hash?hash=%s&tree_size=%d" % (enc, n),
                  "get-proof-by-hash?hash=%s&tree_size=%d" % (re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), enc), n)):
            st, h, b = curl(u + "/ct/v1/" + q, "--http1.1")
            check(st == 200, "query accepted: %s (%d %r)" % (q, st, b[:80]))
        st, h, b = curl(u + "/metrics", "--http1.1")
        txt = b.decode()
        for name in ("tlogd_entries_added_total", "tlogd_tree_size_published %d" % n,
                     "tlogd_tree_size_signed", "tlogd_pool_depth", "tlogd_batches_total",
                     "tlogd_commit_seconds_sum", 'tlogd_http_requests_total{endpoint="add",code="200"}',
                     'tlogd_http_requests_total{endpoint="get-sth-consistency",code="400"}',
                     "tlogd_add_seconds_bucket", "tlogd_dedup_filter_ready 1",
                     'tlogd_dedup_lookups_total{by="store"}', 'tlogd_dedup_lookups_total{by="filter"}',
                     'tlogd_http_requests_total{endpoint="tile_entries",code="405"}',
                     'tlogd_http_requests_total{endpoint="add",code="405"}',
                     'tlogd_http_requests_total{endpoint="other",code="404"}',
                     'tlogd_http_requests_total{endpoint="other",code="other"}',
                     'tlogd_http_requests_total{endpoint="metrics",code="200"}'):
            check(name in txt, "/metrics has %s" % name)

        # Graceful shutdown with adds in flight: restart with slow batches.
        check(s.stop() == 0, "tlogd exits 0 on SIGTERM")
    finally:
        s.stop(signal.SIGKILL)

    s = Tlogd(d, "--batch-interval", "700", "--batch-max", "100000")
    try:
        res = []

        def inflight(k):
            e = b"in flight %d" % k
            st, h, b = add_http1(s.port, e)
            with lock:
                res.append((e, st, b))
        ths = [threading.Thread(target=inflight, args=(k,)) for k in range(12)]
        for t in ths:
            t.start()
        time.sleep(0.3)
        s.p.send_signal(signal.SIGTERM)
        for t in ths:
            t.join()
        rc = s.p.wait(30)
        ok = 0
        for e, st, b in res:
            idx = check_text_proof(b, e, "in-flight add") if st == 200 else None
            if idx is not None:
                ok += 1
                entries[idx] = e
        check(ok == 12, "all 12 adds in flight at SIGTERM answered with proofs (%d)" % ok)
        check(rc == 0, "exit 0 after the graceful shutdown")
    finally:
        s.stop(signal.SIGKILL)
    n = len(entries)
    leaves = [leaf_hash(entries[i]) for i in range(n)]

    # Restart with TLS: data intact, TLS h2 and http/1.1 fallback.
    cert, key = os.path.join(TMP, "c.pem"), os.path.join(TMP, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    s = Tlogd(d, tls=(cert, key))
    try:
        u = s.url
        for pa, name in ((["--http2"], "TLS h2"), (["--http1.1"], "TLS http/1.1")):
            st, h, b = curl(u + "/checkpoint", "--cacert", cert, *pa)
            _, size, root = parse_checkpoint(b.decode()) if st == 200 else ("", -1, b"")
            check(size == n and root == mth(leaves), "%s: restart kept all %d entries" % (name, n))
            st, h, b = curl(u + "/tile/0/000", "--cacert", cert, *pa)
            check(st == 200 and b == b"".join(leaves[:256]), "%s tile" % name)
            st, h, b = curl(u + "/add", "--cacert", cert, *pa, data=entries[5])
            check(st == 200 and check_text_proof(b, entries[5], "TLS dup") == 5, "%s duplicate after restart" % name)
        r = subprocess.run(["nghttp", u + "/checkpoint"],
                           capture_output=True, timeout=20)
        check(b"example.test/frontend" in r.stdout, "nghttp over TLS")
        st, h, b = curl(u + "/add", "--cacert", cert, "--http2", data=b"after restart")
        check(st == 200 and check_text_proof(b, b"after restart", "new") == n, "new add after restart gets index %d" % n)
    finally:
        check(s.stop() == 0, "TLS tlogd exits 0")

    # Pushback: a pool of 2 fills while a commit takes 1.5 s (strace, attached to
    # the running tlogd, delays every fsync and fdatasync).
    d2 = os.path.join(TMP, "log2")
    subprocess.run([TLOGD, "init", "--dir", d2, "--origin", "example.test/pool"], check=True, capture_output=True)
    s = Tlogd(d2, "--pool-max", "2", "--batch-interval", "1500", "--batch-max", "100")
    tr = subprocess.Popen(["strace", "-f", "-p", str(s.p.pid), "-o", os.devnull,
                           "-e", "trace=fsync,fdatasync",
                           "-e", "inject=fsync,fdatasync:delay_exit=1500000"],
                          stderr=subprocess.PIPE, text=True)
    check("attached" in tr.stderr.readline(), "strace attached to tlogd")
    time.sleep(0.3)
    try:
        res = []

        def push(k):
            r = add_http1(s.port, b"push %d" % k)
            with lock:
                res.append(r)
        ths = [threading.Thread(target=push, args=(k,)) for k in range(12)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        busy = [r for r in res if r[0] == 503]
        check(len(busy) >= 1 and all(r[1].get("retry-after") for r in busy) and
              all(one_line_reason(r[2]) for r in busy), "full pool: 503 + Retry-After (%d of 12)" % len(busy))
        check(all(r[0] in (200, 503) for r in res), "full pool: only 200 or 503")
    finally:
        # strace detaches on SIGTERM; LeakSanitizer cannot check a traced
        # process at its exit, so tlogd stops only after that
        tr.terminate()
        tr.wait(30)
        s.stop()

    # A policy whose witness never answers: nothing is published.
    d3 = os.path.join(TMP, "log3")
    r = subprocess.run([TLOGD, "init", "--dir", d3, "--origin", "example.test/witnessed"],
                       check=True, capture_output=True, text=True)
    logvkey = r.stdout.strip()
    kp = os.path.join(TMP, "w.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", kp], check=True, capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-in", kp, "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    pub = b"\x04" + der[-32:]
    wname = "witness.example"
    kid = hashlib.sha256(wname.encode() + b"\n" + pub).digest()[:4].hex()
    wvkey = "%s+%s+%s" % (wname, kid, base64.b64encode(pub).decode())
    pol = os.path.join(TMP, "policy")
    with open(pol, "w") as f:
        f.write("log %s\nwitness w1 %s http://127.0.0.1:9/\nquorum w1\n" % (logvkey, wvkey))
    s = Tlogd(d3, "--policy", pol, "--add-timeout", "1000")
    try:
        st, h, b = curl(s.url + "/checkpoint", "--http2-prior-knowledge")
        check(st == 503 and h.get("retry-after"), "no published checkpoint yet: 503 + Retry-After (%d)" % st)
        st, h, b = curl(s.url + "/ct/v1/get-sth", "--http1.1")
        check(st == 503, "get-sth before the first published checkpoint: 503")
        st, h, b = curl(s.url + "/tile/0/000.p/1", "--http1.1")
        check(400 <= st < 600 and st != 200, "no tiles before the first published checkpoint (%d)" % st)
        t0 = time.time()
        st, h, b = curl(s.url + "/add", "--http2-prior-knowledge", data=b"waits")
        el = time.time() - t0
        check(st == 503 and h.get("retry-after") and 0.9 < el < 5,
              "add not published within --add-timeout: 503 + Retry-After after %.2fs" % el)
        st2, h2, b2 = curl(s.url + "/add", "--http1.1", data=b"waits")
        check(st2 == 503 and re.findall(rb"entry (\d+)", b) == re.findall(rb"entry (\d+)", b2) != [],
              "resubmission names the same sequenced index (%r / %r)" % (b, b2))
        st, h, b = curl(s.url + "/metrics", "--http1.1")
        check(st == 200 and b"tlogd_tree_size_published 0" in b, "/metrics with a policy")
    finally:
        check(s.stop() == 0, "witnessed tlogd exits 0")
    bad = os.path.join(TMP, "badpolicy")
    with open(bad, "w") as f:
        f.write("quorum nobody\n")
    r = subprocess.run([TLOGD, "serve", "--dir", d3, "--listen", "127.0.0.1:0", "--policy", bad],
                       capture_output=True, text=True, timeout=20)
    check(r.returncode != 0 and "policy" in r.stderr, "serve refuses a malformed policy")

    return summary("tlogd")


if __name__ == "__main__":
    rc = main()
    if rc == 0:
        shutil.rmtree(TMP, ignore_errors=True)  # kept for inspection on failure
    sys.exit(rc)
