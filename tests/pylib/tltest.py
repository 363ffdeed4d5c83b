"""tltest.py - helpers shared by the Python integration tests (stdlib only).

An independent RFC 9162 oracle (leaf and node hashes, the Merkle tree hash,
inclusion and consistency proof verification), written from the RFC and
never from the C code it checks; the "ok/FAIL" check log of the frontend
tests; and process helpers: a free loopback port, waiting until a port
accepts connections, temp dirs under $TMPDIR.

Import it with
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "pylib"))
"""
import hashlib
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

# ---- independent RFC 9162 oracle (RFC 6962 §2.1, RFC 9162 §2.1) ---------------

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry):
    """RFC 9162 §2.1.1: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left, right):
    """RFC 9162 §2.1.1: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(leaves):
    """RFC 9162 §2.1.1 MTH over a list of leaf hashes (not entries)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def verify_inclusion(leaf, index, size, proof, root):
    """RFC 9162 §2.1.3.2; leaf is the leaf hash."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(size1, size2, proof, root1, root2):
    """RFC 9162 §2.1.4.2."""
    if size1 > size2:
        return False
    if size1 == size2:
        return not proof and root1 == root2
    if size1 == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root1 and sr == root2 and sn == 0


# ---- check log ("ok   what" / "FAIL what", failures collected in FAILS) -------

FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


def summary(what):
    """Prints the result line; returns the exit code (1 if any check failed).
    When every check passed, the temp dirs mkdtemp() made are removed; after a
    failure they are kept for a look."""
    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        for d in TMPDIRS:
            if os.path.isdir(d):
                print("files kept in " + d)
        return 1
    for d in TMPDIRS:
        shutil.rmtree(d, ignore_errors=True)
    print("all %s checks passed" % what)
    return 0


# ---- processes and temp dirs --------------------------------------------------

def files_holding(top, needles):
    """The files under top (relative paths) whose bytes hold any of needles."""
    out = []
    for d, _, names in os.walk(top):
        for n in names:
            p = os.path.join(d, n)
            try:
                with open(p, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if any(x in data for x in needles):
                out.append(os.path.relpath(p, top))
    return out


def free_port():
    """A loopback port free at the time of the call, for a server a test
    starts (and may restart) on a fixed port. Drawn below the kernel's
    ephemeral range, so that no client connection of this or another test
    (nor a bind to port 0) can take it between this call and the server's
    bind, as could happen to a port that a bind to port 0 gave."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    top = low if low > 12000 else 65536
    first = 10000 if low > 12000 else 61000
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(first, top)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(pred, timeout):
    """pred()'s first true value within timeout seconds, else None."""
    dl = time.time() + timeout
    while time.time() < dl:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return None


def wait_port(port, tries=100, step=0.1):
    """Waits until 127.0.0.1:port accepts a connection; True if it did."""
    for _ in range(tries):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(step)
    return False


TMPDIRS = []


def mkdtemp(prefix):
    """A fresh temp dir under $TMPDIR (or the system default); summary()
    removes it when every check passed."""
    d = tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("TMPDIR"))
    TMPDIRS.append(d)
    return d


class Scratch:
    """A test's temp dir and the child processes it starts (append them to
    procs). fail() prints the reason, stops the processes and exits 1, keeping
    the files for a look; finish(0) removes them."""

    def __init__(self, prefix):
        self.tmp = mkdtemp(prefix)
        self.procs = []

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    def finish(self, rc):
        self.stop()
        if rc == 0:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            print("files kept in " + self.tmp, file=sys.stderr)
        sys.exit(rc)

    def fail(self, msg):
        print("FAIL: " + msg, file=sys.stderr)
        self.finish(1)

    def expect(self, cond, msg):
        if not cond:
            self.fail(msg)


def run(*args, timeout=120):
    """Runs a program; its CompletedProcess with text stdout and stderr."""
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)


def http(url, data=None, headers=None):
    """(status, body) of a GET, or a POST of data; HTTP errors are answers too."""
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
