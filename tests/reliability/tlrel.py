"""tlrel.py - shared helpers of the reliability suites.

An independent verifier, written from the specs and not from tlogd's code:
RFC 6962 / RFC 9162 Merkle hashing and proof verification (tests/pylib/tltest.py), C2SP
signed notes, checkpoints, cosignature/v1 and tlog-proof parsing, Ed25519 and
ECDSA verification through OpenSSL's libcrypto (ctypes; no crypto written
here), an HTTP/1.1 client (http.client), process control for tlogd and
tlog-witness, and LogChecker: the model of everything a log has ever shown
us (signed heads, acknowledged entries), checked after every restart.

Python 3 standard library only, plus libcrypto.so.3 through ctypes.
"""
import base64
import binascii
import ctypes
import ctypes.util
import http.client
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from tltest import (EMPTY_ROOT, free_port, leaf_hash, mkdtemp, node_hash,  # noqa: E402,F401
                    verify_consistency, verify_inclusion)

# ---- failures ---------------------------------------------------------------


class Violation(Exception):
    """A broken guarantee (lost entry, fork, bad proof): the suite fails."""


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


# ---- libcrypto through ctypes --------------------------------------------------

_lc = ctypes.CDLL(ctypes.util.find_library("crypto") or "libcrypto.so.3")
_vp = ctypes.c_void_p
_lc.EVP_PKEY_new_raw_public_key.restype = _vp
_lc.EVP_PKEY_new_raw_public_key.argtypes = [ctypes.c_int, _vp, ctypes.c_char_p, ctypes.c_size_t]
_lc.EVP_PKEY_new_raw_private_key.restype = _vp
_lc.EVP_PKEY_new_raw_private_key.argtypes = [ctypes.c_int, _vp, ctypes.c_char_p, ctypes.c_size_t]
_lc.EVP_PKEY_free.argtypes = [_vp]
_lc.EVP_MD_CTX_new.restype = _vp
_lc.EVP_MD_CTX_free.argtypes = [_vp]
_lc.EVP_DigestVerifyInit.argtypes = [_vp, _vp, _vp, _vp, _vp]
_lc.EVP_DigestVerify.argtypes = [_vp, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                 ctypes.c_size_t]
_lc.EVP_DigestSignInit.argtypes = [_vp, _vp, _vp, _vp, _vp]
_lc.EVP_DigestSign.argtypes = [_vp, ctypes.c_char_p, ctypes.POINTER(ctypes.c_size_t),
                               ctypes.c_char_p, ctypes.c_size_t]
_lc.EVP_sha256.restype = _vp
_lc.BIO_new_mem_buf.restype = _vp
_lc.BIO_new_mem_buf.argtypes = [ctypes.c_char_p, ctypes.c_int]
_lc.BIO_free.argtypes = [_vp]
_lc.PEM_read_bio_PUBKEY.restype = _vp
_lc.PEM_read_bio_PUBKEY.argtypes = [_vp, _vp, _vp, _vp]
_NID_ED25519 = 1087
_crypto_lock = threading.Lock()


def _verify(pkey, md, msg, sig):
    ctx = _lc.EVP_MD_CTX_new()
    try:
        if _lc.EVP_DigestVerifyInit(ctx, None, md, None, pkey) != 1:
            return False
        return _lc.EVP_DigestVerify(ctx, sig, len(sig), msg, len(msg)) == 1
    finally:
        _lc.EVP_MD_CTX_free(ctx)
        _lc.ERR_clear_error()


def ed25519_verify(pub, msg, sig):
    if len(pub) != 32 or len(sig) != 64:
        return False
    pkey = _lc.EVP_PKEY_new_raw_public_key(_NID_ED25519, None, pub, 32)
    if not pkey:
        return False
    try:
        return _verify(pkey, None, msg, sig)
    finally:
        _lc.EVP_PKEY_free(pkey)


def ed25519_sign(seed, msg):
    pkey = _lc.EVP_PKEY_new_raw_private_key(_NID_ED25519, None, seed, 32)
    ctx = _lc.EVP_MD_CTX_new()
    try:
        if _lc.EVP_DigestSignInit(ctx, None, None, None, pkey) != 1:
            raise RuntimeError("EVP_DigestSignInit")
        out = ctypes.create_string_buffer(64)
        n = ctypes.c_size_t(64)
        if _lc.EVP_DigestSign(ctx, out, ctypes.byref(n), msg, len(msg)) != 1:
            raise RuntimeError("EVP_DigestSign")
        return out.raw[:n.value]
    finally:
        _lc.EVP_MD_CTX_free(ctx)
        _lc.EVP_PKEY_free(pkey)


def ecdsa_verify_pem(pem, msg, der):
    bio = _lc.BIO_new_mem_buf(pem, len(pem))
    pkey = _lc.PEM_read_bio_PUBKEY(bio, None, None, None)
    _lc.BIO_free(bio)
    if not pkey:
        raise RuntimeError("cannot read the RFC 6962 public key")
    try:
        return _verify(pkey, _lc.EVP_sha256(), msg, der)
    finally:
        _lc.EVP_PKEY_free(pkey)


# ---- base64 and Merkle (RFC 6962 §2.1, RFC 9162 §2.1) -------------------------


def b64d(s):
    if isinstance(s, str):
        s = s.encode()
    out = base64.b64decode(s, validate=True)
    if base64.b64encode(out) != s:
        raise ValueError("non-canonical base64")
    return out


def b64e(b):
    return base64.b64encode(b).decode()


# leaf_hash, node_hash, EMPTY_ROOT, verify_inclusion and verify_consistency come
# from tests/pylib/tltest.py (imported above; still reachable as tlrel.*).


class Tree:
    """Leaf hashes plus every complete subtree hash, so the root of any size
    is a fold of at most 64 stored nodes."""

    def __init__(self):
        self.levels = [[]]  # levels[l][i] = hash of complete subtree (l, i)

    def size(self):
        return len(self.levels[0])

    def append(self, leaf):
        self.levels[0].append(leaf)
        l, i = 0, len(self.levels[0]) - 1
        while i & 1:
            if len(self.levels) <= l + 1:
                self.levels.append([])
            self.levels[l + 1].append(node_hash(self.levels[l][i - 1], self.levels[l][i]))
            l, i = l + 1, i >> 1

    def root(self, size):
        if size > self.size():
            raise ValueError("root beyond the tree")
        if size == 0:
            return EMPTY_ROOT
        nodes, start = [], 0
        for l in range(63, -1, -1):
            if size & (1 << l):
                nodes.append(self.levels[l][start >> l])
                start += 1 << l
        r = nodes[-1]
        for h in reversed(nodes[:-1]):
            r = node_hash(h, r)
        return r


# ---- C2SP signed notes, checkpoints, cosignatures, tlog-proof -----------------

EMDASH = "\u2014".encode()


def parse_vkey(vkey):
    name, keyid, b = vkey.strip().split("+", 2)
    raw = b64d(b)
    return {"name": name, "keyid": bytes.fromhex(keyid), "type": raw[0], "pub": raw[1:],
            "line": vkey.strip()}


def parse_skey(skey):
    parts = skey.strip().split("+", 4)
    if parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise ValueError("not a signer key")
    raw = b64d(parts[4])
    return {"name": parts[2], "keyid": bytes.fromhex(parts[3]), "type": raw[0],
            "seed": raw[1:]}


def parse_note(note):
    """Returns (text, [(name, keyid, sig)]) or raises ValueError."""
    if isinstance(note, str):
        note = note.encode()
    i = note.find(b"\n\n")
    if i < 0:
        raise ValueError("signed note without a blank line")
    text, rest = note[:i + 1], note[i + 2:]
    if not rest.endswith(b"\n"):
        raise ValueError("signature block does not end in a newline")
    sigs = []
    for line in rest[:-1].split(b"\n"):
        if not line.startswith(EMDASH + b" "):
            raise ValueError("bad signature line %r" % line[:40])
        name, b = line[len(EMDASH) + 1:].split(b" ")
        raw = b64d(b)
        sigs.append((name.decode(), raw[:4], raw[4:]))
    return text, sigs


def parse_checkpoint(text):
    lines = text.decode().split("\n")
    if len(lines) < 4:
        raise ValueError("short checkpoint")
    size = int(lines[1])
    if str(size) != lines[1]:
        raise ValueError("non-canonical size")
    root = b64d(lines[2])
    if len(root) != 32:
        raise ValueError("bad root")
    return lines[0], size, root


def verify_note(note, vk):
    """Verifies the Ed25519 signature of vk on note; returns (origin, size,
    root, text, sigs). Raises Violation on a bad or missing signature."""
    text, sigs = parse_note(note)
    for name, keyid, sig in sigs:
        if name == vk["name"] and keyid == vk["keyid"]:
            if not ed25519_verify(vk["pub"], text, sig):
                raise Violation("bad log signature on checkpoint:\n%s" % note)
            origin, size, root = parse_checkpoint(text)
            if origin != vk["name"]:
                raise Violation("checkpoint origin %r is not the key's name" % origin)
            return origin, size, root, text, sigs
    raise Violation("checkpoint without the log's signature:\n%s" % note)


def cosig_verify(text, sigs, wk):
    """Returns the cosignature timestamp of witness key wk (cosignature/v1),
    or None when absent; raises Violation on a bad one."""
    for name, keyid, sig in sigs:
        if name == wk["name"] and keyid == wk["keyid"]:
            if len(sig) != 72:
                raise Violation("cosignature of wrong length")
            ts = int.from_bytes(sig[:8], "big")
            msg = b"cosignature/v1\ntime %d\n" % ts + text
            if not ed25519_verify(wk["pub"], msg, sig[8:]):
                raise Violation("bad cosignature by %s" % wk["name"])
            return ts
    return None


def sign_note_text(text, sk):
    """A signed note over text with signer key sk (for forged-fork tests)."""
    sig = ed25519_sign(sk["seed"], text)
    return text + b"\n" + EMDASH + b" " + sk["name"].encode() + b" " + \
        b64e(sk["keyid"] + sig).encode() + b"\n"


def parse_tlogproof(body):
    """c2sp.org/tlog-proof@v1 -> (index, [hash], note bytes)."""
    lines = body.split(b"\n")
    if lines[0] != b"c2sp.org/tlog-proof@v1":
        raise Violation("bad tlog-proof header %r" % lines[0][:60])
    i = 1
    if lines[i].startswith(b"extra "):
        i += 1
    if not lines[i].startswith(b"index "):
        raise Violation("tlog-proof without index line")
    index = int(lines[i][6:])
    i += 1
    proof = []
    while lines[i] != b"":
        proof.append(b64d(lines[i]))
        i += 1
    note = b"\n".join(lines[i + 1:])
    return index, proof, note


def tile_index_path(n):
    """C2SP tlog-tiles <N>: 3-digit groups, all but the last prefixed by x."""
    s = "%d" % n
    s = "0" * ((3 - len(s) % 3) % 3) + s
    groups = [s[i:i + 3] for i in range(0, len(s), 3)]
    return "/".join(["x" + g for g in groups[:-1]] + [groups[-1]])


def parse_bundle(data):
    out, i = [], 0
    while i < len(data):
        if i + 2 > len(data):
            raise Violation("truncated entry bundle")
        n = int.from_bytes(data[i:i + 2], "big")
        if i + 2 + n > len(data):
            raise Violation("truncated entry in bundle")
        out.append(data[i + 2:i + 2 + n])
        i += 2 + n
    return out


# ---- HTTP ---------------------------------------------------------------------


class Client:
    """A small HTTP/1.1 client on one keep-alive connection."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port,
                                                       timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("connection", "").lower() == "close":
                    self.close()
                return r.status, {k.lower(): v for k, v in r.getheaders()}, data
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as e:
                self.close()
                if attempt == 1 or method != "GET":
                    raise
            except Exception:
                self.close()
                raise

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body, headers=None):
        return self.request("POST", path, body, headers)

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None


# ---- processes ----------------------------------------------------------------


class Proc:
    """A server process we started (and only that one is ever signalled)."""

    def __init__(self, argv, logpath, env=None):
        self.argv = argv
        self.logf = open(logpath, "ab")
        self.logpath = logpath
        self.p = subprocess.Popen(argv, stdout=self.logf, stderr=self.logf,
                                  stdin=subprocess.DEVNULL, env=env)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def kill9(self):
        if self.alive():
            os.kill(self.p.pid, signal.SIGKILL)
        self.p.wait()
        self.logf.close()

    def term(self, timeout=20):
        if self.alive():
            os.kill(self.p.pid, signal.SIGTERM)
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise Violation("%s did not exit within %ds of SIGTERM" % (self.argv[0], timeout))
        self.logf.close()
        return rc

    def tail(self, n=15):
        try:
            with open(self.logpath, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""


def wait_healthy(port, proc, timeout=20.0):
    c = Client(port, timeout=2)
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and not proc.alive():
            raise Violation("%s exited (%s) before serving:\n%s" %
                            (proc.argv[0], proc.p.returncode, proc.tail()))
        try:
            st, _, _ = c.get("/healthz")
            if st == 200:
                c.close()
                return
        except OSError:
            pass
        except http.client.HTTPException:
            pass
        c.close()
        time.sleep(0.02)
    raise Violation("port %d not healthy after %.0fs" % (port, timeout))


def scan_logs(top):
    """Fails on any sanitizer report in the stderr logs under top."""
    for dp, _, files in os.walk(top):
        for fn in files:
            if not fn.endswith(".stderr"):
                continue
            with open(os.path.join(dp, fn), "rb") as f:
                data = f.read()
            for pat in (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer", b"runtime error:",
                        b"Segmentation fault", b"double free"):
                i = data.find(pat)
                if i >= 0:
                    raise Violation("%s in %s:\n%s" % (pat.decode(), fn,
                                    data[max(0, i - 200):i + 1500].decode(errors="replace")))


def build_dir():
    d = os.environ.get("TL_BUILD") or (sys.argv[1] if len(sys.argv) > 1 else "build")
    if not os.path.exists(os.path.join(d, "tlogd")):
        raise SystemExit("no tlogd in %s (pass the build dir)" % d)
    return os.path.abspath(d)


def sanitized():
    return os.environ.get("TL_SANITIZED") == "1"


def tmpdir(tag):
    return mkdtemp("tl-%s-" % tag)


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def init_log(build, d, origin):
    r = run([os.path.join(build, "tlogd"), "init", "--dir", d, "--origin", origin])
    if r.returncode != 0:
        raise Violation("tlogd init failed: %s" % r.stderr.decode())
    return parse_vkey(open(os.path.join(d, "log.vkey")).read())


def init_witness(build, d, name):
    r = run([os.path.join(build, "tlog-witness"), "init", "--dir", d, "--name", name])
    if r.returncode != 0:
        raise Violation("tlog-witness init failed: %s" % r.stderr.decode())
    return parse_vkey(open(os.path.join(d, "witness.vkey")).read())


# ---- the model of a log ---------------------------------------------------------


class LogChecker:
    """Everything the log ever showed us, and the checks of docs/RELIABILITY.md:
    every acknowledged entry present at its index, the root recomputed from
    the entries equal to every signed head, no two heads with one size and
    different roots (every head consistent with all others: they are all
    roots of prefixes of the one entry sequence we hold)."""

    def __init__(self, vk, sth_pub_pem=None, witness_keys=()):
        self.vk = vk
        self.sth_pub = sth_pub_pem
        self.wkeys = list(witness_keys)
        self.tree = Tree()
        self.entries = []  # raw entries, index order
        self.heads = {}    # size -> root, from checkpoints, proofs and STHs
        self.checked = {}  # size -> True once the root was recomputed
        self.acked = {}    # index -> leaf hash, entries answered 200 with a proof
        self.sth_ts = []   # (timestamp, size) in the order seen
        self.cosigned = {}  # witness name -> largest size seen cosigned
        self.pub_max = 0    # largest published size seen (checkpoints, proofs)
        self.lock = threading.Lock()

    def record_head(self, size, root, where):
        with self.lock:
            old = self.heads.get(size)
            if old is not None and old != root:
                raise Violation("FORK: two signed heads of size %d: %s and %s (%s)" %
                                (size, b64e(old), b64e(root), where))
            self.heads[size] = root
            if size <= self.tree.size() and not self.checked.get(size):
                if self.tree.root(size) != root:
                    raise Violation("head %d (%s) is not the root of the entries" %
                                    (size, where))
                self.checked[size] = True

    def check_note(self, note, where, published=True):
        origin, size, root, text, sigs = verify_note(note, self.vk)
        if published:
            with self.lock:
                self.pub_max = max(self.pub_max, size)
        for wk in self.wkeys:
            ts = cosig_verify(text, sigs, wk)
            if ts is not None:
                with self.lock:
                    self.cosigned[wk["name"]] = max(self.cosigned.get(wk["name"], 0), size)
        self.record_head(size, root, where)
        return size, root, sigs

    def check_add_response(self, entry, status, body):
        """A 200 to POST /add: verifies the tlog-proof; returns the index."""
        index, proof, note = parse_tlogproof(body)
        size, root, _ = self.check_note(note, "add response")
        if not verify_inclusion(leaf_hash(entry), index, size, proof, root):
            raise Violation("add returned a proof that does not verify: index %d size %d" %
                            (index, size))
        with self.lock:
            old = self.acked.get(index)
            if old is not None and old != leaf_hash(entry):
                raise Violation("index %d acknowledged for two different entries" % index)
            self.acked[index] = leaf_hash(entry)
        return index

    def sync(self, c):
        """Reads the published checkpoint, every new entry bundle and the
        RFC 6962 STH; recomputes the tree and checks every head and ack.
        Returns the published size (0 before the first checkpoint)."""
        # Acks and publications recorded before this read are what it must
        # cover (adds may complete concurrently with newer checkpoints).
        with self.lock:
            pub_before = self.pub_max
            acked = dict(self.acked)
        st, hd, body = c.get("/checkpoint")
        if st == 503:
            size = 0
        elif st != 200:
            raise Violation("GET /checkpoint: %d %r" % (st, body[:200]))
        else:
            size, root, _ = self.check_note(body, "/checkpoint")
        if size < pub_before:
            raise Violation("published size went back: %d after %d was published" %
                            (size, pub_before))
        have = len(self.entries)
        start = have - have % 256
        for n in range(start // 256, (size + 255) // 256):
            w = min(256, size - n * 256)
            path = "/tile/entries/" + tile_index_path(n) + ("" if w == 256 else ".p/%d" % w)
            st, hd, data = c.get(path)
            if st != 200:
                raise Violation("GET %s: %d %r" % (path, st, data[:200]))
            ents = parse_bundle(data)
            if len(ents) != w:
                raise Violation("%s holds %d entries, not %d" % (path, len(ents), w))
            with self.lock:
                for k, e in enumerate(ents):
                    idx = n * 256 + k
                    if idx < len(self.entries):
                        if self.entries[idx] != e:
                            raise Violation("entry %d changed after it was served" % idx)
                    else:
                        self.entries.append(e)
                        self.tree.append(leaf_hash(e))
        with self.lock:
            for s, r in sorted(self.heads.items()):
                if s <= self.tree.size() and not self.checked.get(s):
                    if self.tree.root(s) != r:
                        raise Violation("signed head %d: root %s, entries give %s" %
                                        (s, b64e(r), b64e(self.tree.root(s))))
                    self.checked[s] = True
            for idx, lh in acked.items():
                if idx >= self.tree.size():
                    raise Violation("LOST: acknowledged entry %d beyond the published "
                                    "size %d" % (idx, size))
                if self.tree.levels[0][idx] != lh:
                    raise Violation("LOST: acknowledged entry %d replaced" % idx)
        if size and self.sth_pub is not None:
            self.check_sth(c)
        return size

    def check_sth(self, c):
        import json
        st, _, body = c.get("/ct/v1/get-sth")
        if st != 200:
            raise Violation("get-sth: %d %r" % (st, body[:200]))
        j = json.loads(body)
        size, ts = j["tree_size"], j["timestamp"]
        root = b64d(j["sha256_root_hash"])
        sig = b64d(j["tree_head_signature"])
        msg = bytes([0, 1]) + ts.to_bytes(8, "big") + size.to_bytes(8, "big") + root
        if sig[:2] != b"\x04\x03" or int.from_bytes(sig[2:4], "big") != len(sig) - 4:
            raise Violation("STH signature is not a digitally-signed ECDSA/SHA-256 struct")
        if not ecdsa_verify_pem(self.sth_pub, msg, sig[4:]):
            raise Violation("STH signature does not verify (size %d)" % size)
        self.record_head(size, root, "get-sth")
        with self.lock:
            if self.sth_ts:
                lts, lsize = self.sth_ts[-1]
                if size > lsize and ts < lts:
                    raise Violation("STH for size %d has timestamp %d, before %d of size %d"
                                    % (size, ts, lts, lsize))
            self.sth_ts.append((ts, size))

    def check_server_proofs(self, c, samples=3):
        """Asks the server for consistency and inclusion proofs against heads
        we verified, and checks them."""
        import json
        with self.lock:
            sizes = sorted(s for s in self.heads if self.checked.get(s) and s > 0)
        if not sizes:
            return
        top = sizes[-1]
        for _ in range(samples):
            s1 = random.choice(sizes)
            st, _, body = c.get("/ct/v1/get-sth-consistency?first=%d&second=%d" % (s1, top))
            if st != 200:
                raise Violation("get-sth-consistency %d %d: %d %r" % (s1, top, st, body[:200]))
            proof = [b64d(x) for x in json.loads(body)["consistency"]]
            if not verify_consistency(s1, top, proof, self.heads[s1], self.heads[top]):
                raise Violation("server consistency proof %d -> %d does not verify" % (s1, top))
            i = random.randrange(top)
            lh = self.tree.levels[0][i]
            st, _, body = c.get("/ct/v1/get-proof-by-hash?hash=%s&tree_size=%d" %
                                (urlq(b64e(lh)), top))
            if st != 200:
                raise Violation("get-proof-by-hash %d: %d %r" % (i, st, body[:200]))
            j = json.loads(body)
            proof = [b64d(x) for x in j["audit_path"]]
            li = j["leaf_index"]
            if self.tree.levels[0][li] != lh or not verify_inclusion(
                    lh, li, top, proof, self.heads[top]):
                raise Violation("server inclusion proof for %d in %d does not verify" % (i, top))


def urlq(s):
    import urllib.parse
    return urllib.parse.quote(s, safe="")


# ---- load -----------------------------------------------------------------------


class Adder(threading.Thread):
    """Submits unique entries until stopped; every 200 is verified and
    recorded in the checker. Errors (503, resets) are counted, not fatal."""

    def __init__(self, port, checker, tag, stats, resubmit=None):
        super().__init__(daemon=True)
        self.c = Client(port, timeout=30)
        self.checker, self.tag, self.stats = checker, tag, stats
        self.stop = threading.Event()
        self.resubmit = resubmit  # list of (entry, index) acknowledged earlier
        self.violation = None
        self.n = 0

    def run(self):
        while not self.stop.is_set():
            self.n += 1
            again = None
            if self.resubmit and self.n % 7 == 0:
                again = random.choice(self.resubmit)
                entry = again[0]
            else:
                entry = ("%s-%d-%08x" % (self.tag, self.n, random.getrandbits(32))).encode()
            try:
                st, hd, body = self.c.post("/add", entry)
            except Exception:
                self.stats["neterr"] = self.stats.get("neterr", 0) + 1
                self.c.close()
                time.sleep(0.01)
                continue
            if st == 200:
                try:
                    idx = self.checker.check_add_response(entry, st, body)
                except Violation as e:
                    self.violation = e
                    return
                except Exception as e:
                    self.violation = Violation("unparsable 200 to /add: %s: %r" % (e, body[:300]))
                    return
                if again is not None and idx != again[1]:
                    self.violation = Violation("duplicate of entry %d got index %d" %
                                               (again[1], idx))
                    return
                self.stats["ok"] = self.stats.get("ok", 0) + 1
                if self.resubmit is not None and again is None and len(self.resubmit) < 2000:
                    self.resubmit.append((entry, idx))
            else:
                self.stats[st] = self.stats.get(st, 0) + 1
                if st >= 500 and st != 503:
                    self.violation = Violation("/add answered %d: %r" % (st, body[:200]))
                    return
                time.sleep(0.01)
        self.c.close()
