#!/usr/bin/env python3
"""faults.py - storage and environment faults of tlogd ("Faults" in docs/RELIABILITY.md).

Cases (each independent, on its own data folder; run all, or name some):
  second    a second `tlogd serve` on a data folder in use is refused
            (non-zero exit, one-line reason) and the first keeps serving;
            `tlogd init` on an existing log is refused.
  readonly  a read-only data folder (tlogd run as an unprivileged user, since
            root ignores permissions): serve refuses with a message or never
            acknowledges; after write access returns, nothing is lost.
  corrupt   a flipped byte in a stored hash tile and in an entry bundle, written
            with valid LevelDB checksums (rel_corrupt): tlogd must refuse to
            start or stop signing, and must never serve a tile, entry, proof
            or head that disagrees with what it signed before; also a flipped
            byte in a raw LevelDB file (.ldb/.log). After the damage is undone,
            everything verifies again.
  clock     the wall clock stepped back one hour under a running tlogd and at
            its start (LD_PRELOAD clockshim): no head is signed with an earlier
            timestamp than one signed before; after the clock is right again
            (and a restart), it signs again with no fork and no loss.

Usage: faults.py BUILD_DIR [CASE...]
"""
import json
import os
import pwd
import random
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tlrel  # noqa: E402
from tlrel import Violation, log  # noqa: E402


class Env:
    def __init__(self, build, tag, user=None, env=None):
        self.build = build
        self.top = tlrel.tmpdir(tag)
        self.dir = os.path.join(self.top, "log")
        self.vk = tlrel.init_log(build, self.dir, "reliability.test/%s-%d" % (tag, os.getpid()))
        self.pem = open(os.path.join(self.dir, "rfc6962.pub"), "rb").read()
        self.ck = tlrel.LogChecker(self.vk, self.pem)
        self.port = tlrel.free_port()
        self.user = user
        self.env = env
        self.p = None

    def argv(self, port=None, extra=()):
        a = [os.path.join(self.build, "tlogd"), "serve", "--dir", self.dir, "--listen",
             "127.0.0.1:%d" % (port or self.port), "--batch-interval", "5"] + list(extra)
        if self.user:
            a = ["setpriv", "--reuid=%d" % self.user, "--regid=%d" % self.user,
                 "--clear-groups", "--"] + a
        return a

    def start(self, must=True):
        self.p = tlrel.Proc(self.argv(), os.path.join(self.top, "tlogd.stderr"), env=self.env)
        try:
            tlrel.wait_healthy(self.port, self.p)
        except Violation:
            if must:
                raise
            return False
        return True

    def stop(self):
        if self.p and self.p.alive():
            rc = self.p.term()
            if rc != 0:
                raise Violation("tlogd exit status %s after SIGTERM" % rc)

    def kill(self):
        if self.p and self.p.alive():
            self.p.kill9()

    def adds(self, n, tag):
        """n sequential adds; returns the status counts (200s verified)."""
        c = tlrel.Client(self.port, timeout=40)
        out = {}
        for i in range(n):
            e = ("%s-%d-%08x" % (tag, i, random.getrandbits(32))).encode()
            try:
                st, _, body = c.post("/add", e)
            except Exception:
                out["neterr"] = out.get("neterr", 0) + 1
                c.close()
                continue
            if st == 200:
                self.ck.check_add_response(e, st, body)
            elif st >= 500 and st != 503:
                raise Violation("/add answered %d: %r" % (st, body[:200]))
            out[st] = out.get(st, 0) + 1
        c.close()
        return out

    def sync(self):
        c = tlrel.Client(self.port, timeout=20)
        try:
            return self.ck.sync(c)
        finally:
            c.close()

    def done(self):
        self.kill()
        tlrel.scan_logs(self.top)
        shutil.rmtree(self.top, ignore_errors=True)


def case_second(build):
    e = Env(build, "second")
    try:
        e.start()
        e.adds(3, "s")
        port2 = tlrel.free_port()
        r = tlrel.run(e.argv(port2), timeout=20)
        err = r.stderr.decode(errors="replace").strip()
        if r.returncode == 0 or r.returncode < 0:
            raise Violation("second tlogd on the same folder: exit %d" % r.returncode)
        if not err:
            raise Violation("second tlogd refused without a message")
        log("second process refused (exit %d): %s" % (r.returncode, err.splitlines()[-1]))
        r = tlrel.run([os.path.join(build, "tlogd"), "init", "--dir", e.dir, "--origin", "x"])
        if r.returncode == 0 or not r.stderr.strip():
            raise Violation("tlogd init over an existing log: exit %d" % r.returncode)
        st = e.adds(3, "s2")
        if st.get(200) != 3:
            raise Violation("first tlogd disturbed by the second: %s" % st)
        e.sync()
        e.stop()
    finally:
        e.done()


def case_readonly(build):
    nobody = pwd.getpwnam("nobody").pw_uid if os.getuid() == 0 else None
    e = Env(build, "readonly", user=nobody)
    try:
        if nobody is not None:
            subprocess.run(["chown", "-R", "%d" % nobody, e.top], check=True)
        e.start()
        e.adds(4, "ro")
        e.sync()
        # Read-only while running: no write may be acknowledged that is not
        # durable; whatever is answered must verify.
        subprocess.run(["chmod", "-R", "a-w", e.dir], check=True)
        st = e.adds(4, "ro-live")
        log("adds with the folder made read-only while running: %s" % st)
        e.sync()
        e.kill()
        # Read-only at start.
        ok = e.start(must=False)
        if ok:
            st = e.adds(3, "ro-start")
            log("tlogd started on a read-only folder; adds: %s" % st)
            e.sync()
            e.kill()
        else:
            msg = e.p.tail(3)
            if e.p.p.returncode == 0 or e.p.p.returncode < 0 or not msg.strip():
                raise Violation("read-only folder: exit %s, message %r" % (e.p.p.returncode, msg))
            log("read-only folder refused at start: %s" % msg.splitlines()[-1])
        subprocess.run(["chmod", "-R", "u+w", e.dir], check=True)
        e.start()
        if e.adds(3, "ro-after").get(200) != 3:
            raise Violation("no recovery after write access returned")
        e.sync()
        e.stop()
    finally:
        subprocess.run(["chmod", "-R", "u+w", e.top])
        e.done()


def verify_everything(e, fresh=False):
    """All served data against what was verified before (a fresh checker
    re-reads every bundle). Read errors count as detection (not a lie)."""
    ck = e.ck
    if fresh:
        ck2 = tlrel.LogChecker(e.vk, e.pem)
        ck2.heads = dict(e.ck.heads)
        ck2.acked = dict(e.ck.acked)
        ck2.pub_max = e.ck.pub_max
        ck = ck2
    c = tlrel.Client(e.port, timeout=20)
    try:
        ck.sync(c)
        check_hash_tiles(c, ck)
        ck.check_server_proofs(c, 3)
        return "ok"
    except Violation as v:
        s = str(v)
        if any((": %d " % code) in s for code in (500, 503, 404)):
            return "read refused (%s)" % s.splitlines()[0][:100]
        raise
    finally:
        c.close()


def check_hash_tiles(c, ck):
    """Every level-0 hash tile the published tree has equals our leaf hashes."""
    size = ck.tree.size()
    for n in range((size + 255) // 256):
        w = min(256, size - n * 256)
        path = "/tile/0/" + tlrel.tile_index_path(n) + ("" if w == 256 else ".p/%d" % w)
        st, _, data = c.get(path)
        if st != 200:
            raise Violation("GET %s: %d %r" % (path, st, data[:100]))
        want = b"".join(ck.tree.levels[0][n * 256:n * 256 + w])
        if data != want:
            raise Violation("hash tile %s differs from the entries' leaf hashes" % path)


def case_corrupt(build):
    rc_tool = os.path.join(build, "rel_corrupt")
    e = Env(build, "corrupt")
    try:
        e.start()
        for i in range(3):
            e.adds(4, "c%d" % i)
        e.sync()
        e.stop()
        db = os.path.join(e.dir, "db")
        backup = os.path.join(e.top, "db.orig")
        results = []
        # Entries are 13 bytes after a 2-byte length: -3 is inside the last
        # entry, -20 inside the one before it (a partial bundle's value starts
        # with a header, so small offsets do not reach the entries).
        targets = [("tile", "0", "0", None), ("bundle", "0", "-3"), ("tile", "0", "0", "-1"),
                   ("bundle", "0", "-20"), ("bundle", "0", None)]
        for t in targets:
            shutil.copytree(db, backup)
            off = t[-1] or str(random.randrange(1 << 20))
            t = t[:-1]
            r = tlrel.run([rc_tool, db] + list(t) + [off])
            if r.returncode != 0:
                raise Violation("rel_corrupt %s: %s" % (t, r.stderr.decode()))
            try:
                results.append(probe(e, " ".join(t) + " " + r.stdout.decode().strip()))
            except Violation as v:
                results.append("VIOLATION %s" % v)
            e.kill()
            shutil.rmtree(db)
            shutil.copytree(backup, db)
            shutil.rmtree(backup)
        # Raw file damage: LevelDB's own checksums must catch it.
        files = sorted(f for f in os.listdir(db) if f.endswith((".ldb", ".log")))
        for f in files[:3]:
            shutil.copytree(db, backup)
            path = os.path.join(db, f)
            size = os.path.getsize(path)
            if size == 0:
                shutil.rmtree(backup)
                continue
            at = random.randrange(size)
            with open(path, "r+b") as fh:
                fh.seek(at)
                b = fh.read(1)
                fh.seek(at)
                fh.write(bytes([b[0] ^ 0x40]))
            try:
                results.append(probe(e, "file %s byte %d/%d" % (f, at, size)))
            except Violation as v:
                results.append("VIOLATION %s" % v)
            e.kill()
            shutil.rmtree(db)
            shutil.copytree(backup, db)
            shutil.rmtree(backup)
        for r in results:
            log("corrupt: %s" % r)
        e.start()
        if verify_everything(e, fresh=True) != "ok":
            raise Violation("restored database does not verify")
        if e.adds(3, "c-after").get(200) != 3:
            raise Violation("no recovery after the damage was undone")
        e.sync()
        e.stop()
        bad = [r for r in results if r.startswith("VIOLATION")]
        if bad:
            raise Violation("%d of %d damaged stores broke the rule (detected, no "
                            "wrong data served, signing stops):\n  %s" %
                            (len(bad), len(results), "\n  ".join(bad)))
    finally:
        e.done()


def probe(e, what):
    """Starts tlogd on damaged data: refused, or serving only verified data and
    never signing a head that disagrees with the earlier ones."""
    saved = e.ck
    e.ck = tlrel.LogChecker(e.vk, e.pem)  # what this damaged run shows stays apart:
    e.ck.heads, e.ck.acked = dict(saved.heads), dict(saved.acked)  # the damage is undone
    e.ck.pub_max = saved.pub_max  # afterwards, with whatever it wrote
    try:
        return probe_run(e, what)
    except Violation as v:
        raise Violation("%s: %s" % (what, v))
    finally:
        e.ck = saved


def probe_run(e, what):
    if not e.start(must=False):
        rc = e.p.p.returncode
        msg = e.p.tail(2).strip().splitlines()
        if rc is None or rc == 0 or rc < 0 or not msg:
            raise Violation("%s: tlogd neither served nor refused cleanly (exit %s)" % (what, rc))
        return "%s: refused at start: %s" % (what, msg[-1][:140])
    got = verify_everything(e)
    st = e.adds(2, "probe")
    got2 = verify_everything(e, fresh=False)
    e.kill()
    if got != "ok" and st.get(200):
        # Detected corruption stops signing (with a clear message).
        raise Violation("kept signing after detecting the damage (adds %s after %s)" %
                        (st, got))
    return "%s: served; reads %s; adds %s; after %s" % (what, got, st, got2)


def case_clock(build):
    shim = os.path.join(build, "libtl_clockshim.so")
    offf = None
    env = dict(os.environ)
    e = None
    try:
        e = Env(build, "clock")
        offf = os.path.join(e.top, "clock-offset")
        env["TL_CLOCK_OFFSET_FILE"] = offf
        env["LD_PRELOAD"] = shim
        env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0").lstrip(":")
        e.env = env
        with open(offf, "w") as f:
            f.write("0")
        e.start()
        e.adds(3, "t0")
        e.sync()
        c = tlrel.Client(e.port)
        ts0 = sth_ts(c)
        with open(offf, "w") as f:
            f.write("%d" % -3600000)
        time.sleep(0.1)
        st = e.adds(3, "back")
        e.sync()
        ts1 = sth_ts(c)
        if ts1 < ts0:
            raise Violation("STH timestamp went back: %d after %d" % (ts1, ts0))
        log("clock one hour back while running: adds %s, STH ts %d -> %d" % (st, ts0, ts1))
        with open(offf, "w") as f:
            f.write("0")
        time.sleep(0.1)
        st = e.adds(2, "fwd")
        log("clock right again, same process: adds %s" % st)
        c.close()
        e.kill()
        # Starting with the clock behind.
        with open(offf, "w") as f:
            f.write("%d" % -3600000)
        if e.start(must=False):
            st = e.adds(2, "start-back")
            c = tlrel.Client(e.port)
            e.sync()
            ts2 = sth_ts(c)
            c.close()
            if ts2 < ts1:
                raise Violation("STH timestamp %d after restart behind, before %d" % (ts2, ts1))
            log("started with the clock behind: adds %s" % st)
            e.kill()
        else:
            log("refused to start with the clock behind: %s" % e.p.tail(1))
        with open(offf, "w") as f:
            f.write("0")
        e.start()
        if e.adds(3, "after").get(200) != 3:
            raise Violation("no recovery once the clock is right again")
        e.sync()
        e.stop()
    finally:
        if e:
            e.done()


def sth_ts(c):
    st, _, body = c.get("/ct/v1/get-sth")
    if st != 200:
        raise Violation("get-sth %d" % st)
    return json.loads(body)["timestamp"]


CASES = {"second": case_second, "readonly": case_readonly, "corrupt": case_corrupt,
         "clock": case_clock}


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    build = os.path.abspath(sys.argv[1])
    names = sys.argv[2:] or list(CASES)
    failed = []
    for n in names:
        t0 = time.time()
        try:
            CASES[n](build)
            log("PASS %s (%.1fs)" % (n, time.time() - t0))
        except (Violation, OSError, tlrel.http.client.HTTPException) as v:
            log("FAIL %s: %s%s" % (n, "" if isinstance(v, Violation) else
                                   "server did not answer: %s: " % type(v).__name__, v))
            failed.append(n)
    if failed:
        log("FAILED: %s" % " ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
