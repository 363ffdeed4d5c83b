#!/usr/bin/env python3
"""soak.py - the soak hammer: for a set duration, mixes adds,
proof reads, tile reads and invalid requests against a tlogd whose policy
requires a tlog-witness, kill -9 restarting the log and the witness every
few minutes, and verifies everything it gets.

Verification (tests/reliability/tlrel.py, written from the specs): every add
answer is a tlog-proof whose checkpoint carries a valid log signature and
witness cosignature and whose inclusion proof verifies; every proof read
(get-proof-by-hash, get-sth-consistency) verifies against checkpoints already
verified; every hash tile equals the leaf hashes recomputed from the entries;
every signed head equals the root of the entries; after every restart each
acknowledged entry is at its index and the witness never went back. Invalid
requests must get a 4xx, never a 5xx.

Reports every --report seconds and at the end: throughput per operation,
latency percentiles (p50/p90/p99/max), errors by kind, verification failures,
lost entries, and the RSS of tlogd and of the witness.

Usage: soak.py BUILD_DIR [--duration S] [--kill-every S] [--workers N]
       e.g. soak.py build --duration 1800 --kill-every 180   (the 30-minute run)
Exit 0 only with zero verification failures and zero lost entries.
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "reliability"))
import tlrel  # noqa: E402
from tlrel import Violation, log  # noqa: E402

INVALID = [
    ("GET", "/tile/0/1234", None, "non-canonical tile index"),
    ("GET", "/tile/0/x001/000.p/0", None, "zero width"),
    ("GET", "/tile/99/000", None, "level out of range"),
    ("GET", "/tile/entries/x999/x999/999", None, "tile beyond the tree"),
    ("GET", "/ct/v1/get-sth-consistency?first=5&second=2", None, "first > second"),
    ("GET", "/ct/v1/get-sth-consistency?first=a&second=2", None, "not a number"),
    ("GET", "/ct/v1/get-proof-by-hash?hash=%%%%&tree_size=1", None, "bad base64"),
    ("GET", "/ct/v1/get-proof-by-hash?tree_size=1", None, "missing hash"),
    ("GET", "/ct/v1/get-entries?start=10&end=2", None, "start > end"),
    ("GET", "/ct/v1/get-entries?start=-1&end=2", None, "negative"),
    ("GET", "/ct/v1/get-entry-and-proof?leaf_index=99999999&tree_size=1", None, "beyond"),
    ("POST", "/add", b"", "empty entry"),
    ("POST", "/add", b"x" * 70000, "too large"),
    ("GET", "/nonexistent", None, "no such path"),
    ("DELETE", "/checkpoint", None, "method"),
]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.lat = {}     # op -> [seconds]
        self.count = {}   # op -> n ok
        self.err = {}     # (op, kind) -> n
        self.fail = []    # verification failures (messages)

    def ok(self, op, dt):
        with self.lock:
            self.lat.setdefault(op, []).append(dt)
            self.count[op] = self.count.get(op, 0) + 1

    def error(self, op, kind):
        with self.lock:
            self.err[(op, kind)] = self.err.get((op, kind), 0) + 1

    def failure(self, msg):
        with self.lock:
            self.fail.append(msg)
        log("VERIFICATION FAILURE: %s" % msg)

    def snapshot_reset(self):
        with self.lock:
            lat, cnt, err = self.lat, self.count, self.err
            self.lat, self.count, self.err = {}, {}, {}
        return lat, cnt, err


def pct(v, p):
    if not v:
        return 0.0
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]


class Soak:
    def __init__(self, a):
        self.a = a
        self.build = os.path.abspath(a.build)
        self.top = tlrel.tmpdir("soak")
        self.ldir = os.path.join(self.top, "log")
        self.wdir = os.path.join(self.top, "witness")
        self.origin = "reliability.test/soak-%d" % os.getpid()
        self.vk = tlrel.init_log(self.build, self.ldir, self.origin)
        self.wk = tlrel.init_witness(self.build, self.wdir, "reliability.test/soak-witness")
        self.lport, self.wport = tlrel.free_port(), tlrel.free_port()
        with open(os.path.join(self.top, "logs"), "w") as f:
            f.write("%s %s\n" % (self.origin, self.vk["line"]))
        with open(os.path.join(self.top, "policy"), "w") as f:
            f.write("log %s\nwitness w1 %s http://127.0.0.1:%d\nquorum w1\n" %
                    (self.vk["line"], self.wk["line"], self.wport))
        self.serve = [os.path.join(self.build, "tlogd"), "serve", "--dir", self.ldir,
                      "--listen", "127.0.0.1:%d" % self.lport, "--policy",
                      os.path.join(self.top, "policy")]
        self.wserve = [os.path.join(self.build, "tlog-witness"), "serve", "--dir", self.wdir,
                       "--listen", "127.0.0.1:%d" % self.wport, "--logs",
                       os.path.join(self.top, "logs")]
        pem = open(os.path.join(self.ldir, "rfc6962.pub"), "rb").read()
        self.ck = tlrel.LogChecker(self.vk, pem, [self.wk])
        self.st = Stats()
        self.stop = threading.Event()
        self.up = threading.Event()  # cleared while restarting
        self.acked = []  # (entry, index)
        self.lp = self.wp = None
        self.rss = []  # (t, log MB, witness MB)
        self.restarts = {"log": 0, "witness": 0}
        self.wmax = 0

    # ---- processes ----
    def start_log(self):
        self.lp = tlrel.Proc(self.serve, os.path.join(self.top, "tlogd.stderr"))
        tlrel.wait_healthy(self.lport, self.lp, timeout=60)

    def start_witness(self):
        self.wp = tlrel.Proc(self.wserve, os.path.join(self.top, "witness.stderr"))
        tlrel.wait_healthy(self.wport, self.wp, timeout=60)

    def check_witness(self):
        c = tlrel.Client(self.wport)
        h = hashlib.sha256(self.origin.encode()).hexdigest()
        st, _, body = c.get("/%s/checkpoint" % h)
        c.close()
        self.wmax = max(self.wmax, self.ck.cosigned.get(self.wk["name"], 0))
        if st == 404 and self.wmax == 0:
            return
        if st != 200:
            raise Violation("witness checkpoint: %d" % st)
        size, _, sigs = self.ck.check_note(body, "witness", published=False)
        if size < self.wmax:
            raise Violation("witness went back to %d after cosigning %d" % (size, self.wmax))
        self.wmax = size

    def full_check(self):
        c = tlrel.Client(self.lport, timeout=30)
        try:
            self.ck.sync(c)
            self.ck.check_server_proofs(c, 2)
        finally:
            c.close()

    # ---- workers ----
    def timed(self, op, fn):
        t0 = time.time()
        try:
            r = fn()
        except Violation as v:
            self.st.failure("%s: %s" % (op, v))
            return None
        except Exception as e:
            self.st.error(op, type(e).__name__)
            return None
        self.st.ok(op, time.time() - t0)
        return r

    def worker(self, wid):
        c = tlrel.Client(self.lport, timeout=40)
        rnd = random.Random(wid)
        n = 0
        while not self.stop.is_set():
            if not self.up.wait(1):
                continue
            n += 1
            r = rnd.random()
            try:
                if r < 0.35:
                    self.op_add(c, wid, n)
                elif r < 0.6:
                    self.op_proof(c, rnd)
                elif r < 0.8:
                    self.op_tile(c, rnd)
                elif r < 0.9:
                    self.op_consistency(c, rnd)
                else:
                    self.op_invalid(c, rnd)
            except (OSError, ConnectionError, tlrel.http.client.HTTPException) as e:
                self.st.error("net", type(e).__name__)
                c.close()
                time.sleep(0.05)
        c.close()

    def op_add(self, c, wid, n):
        entry = ("soak-%d-%d-%08x" % (wid, n, random.getrandbits(32))).encode()
        t0 = time.time()
        st, _, body = c.post("/add", entry)
        if st != 200:
            self.st.error("add", str(st))
            if st >= 500 and st != 503:
                self.st.failure("add answered %d" % st)
            return
        try:
            idx = self.ck.check_add_response(entry, st, body)
        except Violation as v:
            self.st.failure("add proof: %s" % v)
            return
        self.st.ok("add", time.time() - t0)
        with self.st.lock:
            self.acked.append((entry, idx))

    def verified_head(self, rnd):
        with self.ck.lock:
            sizes = [s for s in self.ck.heads if s > 0]
        if not sizes:
            return None, None
        s = max(sizes)
        return s, self.ck.heads[s]

    def op_proof(self, c, rnd):
        size, root = self.verified_head(rnd)
        with self.st.lock:
            cand = [x for x in self.acked[-5000:] if x[1] < (size or 0)]
        if not cand:
            return
        entry, idx = rnd.choice(cand)
        lh = tlrel.leaf_hash(entry)
        t0 = time.time()
        st, _, body = c.get("/ct/v1/get-proof-by-hash?hash=%s&tree_size=%d" %
                            (tlrel.urlq(tlrel.b64e(lh)), size))
        if st != 200:
            self.st.error("proof", str(st))
            if st >= 500 and st != 503:
                self.st.failure("get-proof-by-hash answered %d" % st)
            return
        j = json.loads(body)
        proof = [tlrel.b64d(x) for x in j["audit_path"]]
        if j["leaf_index"] != idx or not tlrel.verify_inclusion(lh, idx, size, proof, root):
            self.st.failure("inclusion proof of %d in %d does not verify" % (idx, size))
            return
        self.st.ok("proof", time.time() - t0)

    def op_consistency(self, c, rnd):
        with self.ck.lock:
            sizes = sorted(s for s in self.ck.heads if s > 0)
        if len(sizes) < 2:
            return
        s1, s2 = sorted(rnd.sample(sizes, 2))
        t0 = time.time()
        st, _, body = c.get("/ct/v1/get-sth-consistency?first=%d&second=%d" % (s1, s2))
        if st != 200:
            self.st.error("consistency", str(st))
            if st >= 500 and st != 503:
                self.st.failure("get-sth-consistency answered %d" % st)
            return
        proof = [tlrel.b64d(x) for x in json.loads(body)["consistency"]]
        if not tlrel.verify_consistency(s1, s2, proof, self.ck.heads[s1], self.ck.heads[s2]):
            self.st.failure("consistency proof %d -> %d does not verify" % (s1, s2))
            return
        self.st.ok("consistency", time.time() - t0)

    def op_tile(self, c, rnd):
        tree = self.ck.tree
        size = tree.size()
        if size == 0:
            return
        n = rnd.randrange((size + 255) // 256)
        w = min(256, size - n * 256)
        path = "/tile/0/" + tlrel.tile_index_path(n) + ("" if w == 256 else ".p/%d" % w)
        t0 = time.time()
        st, _, data = c.get(path)
        if st != 200:
            self.st.error("tile", str(st))
            if st >= 500 and st != 503:
                self.st.failure("GET %s answered %d" % (path, st))
            return
        if data != b"".join(tree.levels[0][n * 256:n * 256 + w]):
            self.st.failure("hash tile %s differs from the entries" % path)
            return
        self.st.ok("tile", time.time() - t0)

    def op_invalid(self, c, rnd):
        m, path, body, why = rnd.choice(INVALID)
        t0 = time.time()
        st, _, resp = c.request(m, path, body)
        if 400 <= st < 500:
            self.st.ok("invalid", time.time() - t0)
        elif st >= 500:
            self.st.failure("%s %s (%s) answered %d: %r" % (m, path[:60], why, st, resp[:100]))
        else:
            self.st.error("invalid", "accepted %d (%s)" % (st, why))

    # ---- the run ----
    def rss_mb(self, p):
        if not p or not p.alive():
            return 0.0
        try:
            with open("/proc/%d/status" % p.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def report(self, t0, final=False):
        lat, cnt, err = self.st.snapshot_reset()
        dt = max(1e-3, time.time() - self.last_report)
        self.last_report = time.time()
        parts = []
        for op in ("add", "proof", "tile", "consistency", "invalid"):
            v = lat.get(op, [])
            parts.append("%s %.1f/s p50 %.0f p99 %.0f max %.0f ms" %
                         (op, len(v) / dt, pct(v, .5) * 1e3, pct(v, .99) * 1e3,
                          (max(v) if v else 0) * 1e3))
            self.totals.setdefault(op, []).extend(v)
        for k, n in err.items():
            self.total_err[k] = self.total_err.get(k, 0) + n
        lr, wr = self.rss_mb(self.lp), self.rss_mb(self.wp)
        self.rss.append((time.time() - t0, lr, wr))
        log("t=%4.0fs %s | errors %s | RSS log %.1f MB witness %.1f MB | acked %d size %d "
            "failures %d" % (time.time() - t0, "; ".join(parts),
                             dict((("%s:%s" % k), n) for k, n in err.items()) or "{}", lr, wr,
                             len(self.ck.acked), self.ck.tree.size(), len(self.st.fail)))

    def run(self):
        a = self.a
        self.start_witness()
        self.start_log()
        self.full_check()
        self.up.set()
        self.totals, self.total_err = {}, {}
        t0 = self.last_report = time.time()
        ths = [threading.Thread(target=self.worker, args=(i,), daemon=True)
               for i in range(a.workers)]
        for t in ths:
            t.start()
        next_kill = t0 + a.kill_every if a.kill_every else float("inf")
        next_rep = t0 + a.report
        lost = 0
        try:
            while time.time() - t0 < a.duration and not (a.stop_on_failure and self.st.fail):
                time.sleep(0.2)
                if time.time() >= next_rep:
                    try:
                        self.full_check()  # audit what is new; feeds the tile reads
                    except Violation as v:
                        self.st.failure("audit: %s" % v)
                    except Exception as e:
                        self.st.error("audit", type(e).__name__)
                    self.report(t0)
                    next_rep += a.report
                if time.time() >= next_kill:
                    next_kill += a.kill_every
                    victim = random.choice(["log", "witness", "both"])
                    log("kill -9 %s" % victim)
                    self.up.clear()
                    time.sleep(random.uniform(0, 0.3))
                    if victim in ("log", "both"):
                        self.lp.kill9()
                        self.restarts["log"] += 1
                    if victim in ("witness", "both"):
                        self.wp.kill9()
                        self.restarts["witness"] += 1
                    time.sleep(0.5)  # workers notice
                    if victim in ("witness", "both"):
                        self.start_witness()
                        self.check_witness()
                    if victim in ("log", "both"):
                        self.start_log()
                    try:
                        self.full_check()
                    except Violation as v:
                        self.st.failure("after restart: %s" % v)
                        if "LOST" in str(v):
                            lost += 1
                    except (OSError, tlrel.http.client.HTTPException) as e:
                        self.st.failure("after restart: no answer: %s: %s" %
                                        (type(e).__name__, e))
                    self.up.set()
        finally:
            self.stop.set()
            self.up.set()
            for t in ths:
                t.join(60)
        try:
            self.full_check()
            self.check_witness()
        except (OSError, tlrel.http.client.HTTPException) as e:
            self.st.failure("final check: no answer: %s: %s" % (type(e).__name__, e))
        except Violation as v:
            self.st.failure("final check: %s" % v)
            if "LOST" in str(v):
                lost += 1
        self.report(t0, final=True)
        tlrel.scan_logs(self.top) if not self.st.fail else None
        for p in (self.lp, self.wp):
            if p and p.alive():
                p.term()
        dur = time.time() - t0
        log("==== soak summary: %.0f s, %d workers, restarts %s" % (dur, a.workers,
                                                                  self.restarts))
        for op, v in sorted(self.totals.items()):
            log("  %-12s %7d ok  %7.1f/s  p50 %6.1f  p90 %6.1f  p99 %6.1f  max %7.1f ms" %
                (op, len(v), len(v) / dur, pct(v, .5) * 1e3, pct(v, .9) * 1e3,
                 pct(v, .99) * 1e3, (max(v) if v else 0) * 1e3))
        log("  errors: %s" % ({"%s:%s" % k: n for k, n in self.total_err.items()} or "none"))
        if self.rss:
            log("  RSS log min/max %.1f/%.1f MB, witness min/max %.1f/%.1f MB" %
                (min(r[1] for r in self.rss if r[1]) if any(r[1] for r in self.rss) else 0,
                 max(r[1] for r in self.rss), min(r[2] for r in self.rss if r[2])
                 if any(r[2] for r in self.rss) else 0, max(r[2] for r in self.rss)))
        log("  acknowledged entries %d, all present at their index; tree size %d; %d signed "
            "heads consistent; witness cosigned up to %d" %
            (len(self.ck.acked), self.ck.tree.size(), len(self.ck.heads), self.wmax))
        log("  verification failures: %d; lost acknowledged entries: %d" %
            (len(self.st.fail), lost))
        ok = not self.st.fail
        if ok and not a.keep:
            shutil.rmtree(self.top, ignore_errors=True)
        elif not ok:
            log("data kept in %s" % self.top)
        return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--duration", type=float, default=300)
    ap.add_argument("--kill-every", type=float, default=60)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--report", type=float, default=30)
    ap.add_argument("--stop-on-failure", action="store_true")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    s = Soak(a)
    try:
        return s.run()
    finally:
        for p in (s.lp, s.wp):
            if p and p.alive():
                p.kill9()


if __name__ == "__main__":
    sys.exit(main())
