#!/usr/bin/env python3
"""kill9.py - kill -9 of tlogd (and of a witness) at random moments under
load, then restart and check ("Faults" in docs/RELIABILITY.md).

After every restart: every entry acknowledged with a proof is present at its
index, the root recomputed from all entries equals every signed head seen
(checkpoints, add proofs, RFC 6962 STHs), no two heads share a size with
different roots (so every head is consistent with all earlier ones), the
published size never goes back, duplicates keep their index, and the
server's own consistency/inclusion proofs verify. With --witness, a
tlog-witness is the policy's quorum and is killed too: the size it serves
never decreases below any size it cosigned, it never cosigns a fork, and
after each restart it refuses (409) a forged checkpoint that conflicts.

Usage: kill9.py BUILD_DIR [--kills N] [--witness] [--seed S] [--adders K]
Short default: 40 kills, 16 with --witness (12 and 8 under TL_SANITIZED=1).
Long run: --kills 1000.
"""
import argparse
import hashlib
import os
import random
import shutil
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tlrel  # noqa: E402
from tlrel import Violation, log  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--kills", type=int, default=0)
    ap.add_argument("--witness", action="store_true")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--adders", type=int, default=3)
    ap.add_argument("--max-delay", type=float, default=0.6,
                    help="longest load before a kill, seconds")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    a = ap.parse_args()
    if not a.kills:
        a.kills = (8 if a.witness else 12) if tlrel.sanitized() else (16 if a.witness else 40)
    random.seed(a.seed)
    build = os.path.abspath(a.build)
    tlogd = os.path.join(build, "tlogd")
    twit = os.path.join(build, "tlog-witness")
    top = tlrel.tmpdir("kill9")
    log("kill9: seed %d, %d kills, witness %s, dir %s" % (a.seed, a.kills, a.witness, top))
    ldir = os.path.join(top, "log")
    origin = "reliability.test/kill9-%d" % os.getpid()
    vk = tlrel.init_log(build, ldir, origin)
    pem = open(os.path.join(ldir, "rfc6962.pub"), "rb").read()
    lport = tlrel.free_port()
    serve = [tlogd, "serve", "--dir", ldir, "--listen", "127.0.0.1:%d" % lport,
             "--batch-interval", "5"]
    wk = None
    wport = None
    wdir = os.path.join(top, "witness")
    if a.witness:
        wk = tlrel.init_witness(build, wdir, "reliability.test/witness")
        wport = tlrel.free_port()
        with open(os.path.join(top, "logs"), "w") as f:
            f.write("%s %s\n" % (origin, vk["line"]))
        with open(os.path.join(top, "policy"), "w") as f:
            f.write("log %s\nwitness w1 %s http://127.0.0.1:%d\nquorum w1\n" %
                    (vk["line"], wk["line"], wport))
        serve += ["--policy", os.path.join(top, "policy")]
    wserve = [twit, "serve", "--dir", wdir, "--listen", "127.0.0.1:%d" % wport,
              "--logs", os.path.join(top, "logs")] if a.witness else None
    ck = tlrel.LogChecker(vk, pem, [wk] if wk else [])
    skey = tlrel.parse_skey(open(os.path.join(ldir, "log.key")).read())
    wmax = 0  # largest size the witness was ever seen to cosign
    resub = []
    stats = {}
    lp = wp = None
    c = tlrel.Client(lport, timeout=30)
    t0 = time.time()
    ok = False
    try:
        for k in range(a.kills + 1):
            if wserve and (wp is None or not wp.alive()):
                wp = tlrel.Proc(wserve, os.path.join(top, "witness.stderr"))
                tlrel.wait_healthy(wport, wp)
                wmax = check_witness(wport, ck, wk, vk, skey, origin, wmax)
            if lp is None or not lp.alive():
                lp = tlrel.Proc(serve, os.path.join(top, "tlogd.stderr"))
                tlrel.wait_healthy(lport, lp)
            c.close()
            size = ck.sync(c)
            if k % 5 == 0:
                ck.check_server_proofs(c)
            if k == a.kills:
                break
            adders = [tlrel.Adder(lport, ck, "k%d-a%d" % (k, i), stats, resub)
                      for i in range(a.adders)]
            for t in adders:
                t.start()
            time.sleep(random.uniform(0.02, a.max_delay))
            victim = "log"
            if a.witness:
                victim = random.choice(["log", "log", "witness", "both"])
            if victim in ("log", "both"):
                lp.kill9()
            if victim in ("witness", "both"):
                wp.kill9()
            for t in adders:
                t.stop.set()
            if victim == "witness":
                # The log is alive: let in-flight adds finish (they wait for
                # the quorum) once the witness is back.
                wp = tlrel.Proc(wserve, os.path.join(top, "witness.stderr"))
                tlrel.wait_healthy(wport, wp)
                wmax = check_witness(wport, ck, wk, vk, skey, origin, wmax)
            for t in adders:
                t.join(60)
                if t.is_alive():
                    raise Violation("an add did not return within 60 s of the kill")
                if t.violation:
                    raise t.violation
            if k % 10 == 0:
                log("kill %d/%d (%s): published %d, acked %d, heads %d, %s" %
                    (k + 1, a.kills, victim, size, len(ck.acked), len(ck.heads), stats))
        if wserve:
            wmax = check_witness(wport, ck, wk, vk, skey, origin, wmax)
        tlrel.scan_logs(top)
        ok = True
    except (Violation, OSError, tlrel.http.client.HTTPException) as e:
        # OSError/HTTPException: the server hung (timeout) or vanished mid-check.
        log("VIOLATION: %s%s" % ("" if isinstance(e, Violation) else
                                 "server did not answer a check: %s: " % type(e).__name__, e))
        if lp:
            log("tlogd stderr tail:\n%s" % lp.tail())
        if wp:
            log("witness stderr tail:\n%s" % wp.tail())
    finally:
        c.close()
        for p in (lp, wp):
            if p and p.alive():
                p.kill9()
    dt = time.time() - t0
    if not ok:
        log("FAIL (seed %d); data kept in %s" % (a.seed, top))
        return 1
    if not ck.acked:
        log("FAIL: no entry was ever acknowledged (%s)" % stats)
        return 1
    log("PASS: %d kills in %.1fs; %d acknowledged entries all present; %d entries, "
        "%d signed heads all consistent; witness max cosigned %d; adds %s" %
        (a.kills, dt, len(ck.acked), len(ck.entries), len(ck.heads), wmax, stats))
    if not a.keep:
        shutil.rmtree(top, ignore_errors=True)
    return 0


def check_witness(wport, ck, wk, vk, skey, origin, wmax):
    """The witness's served checkpoint: log-signed, cosigned by it, never
    below what it cosigned before, never a fork; then a forged conflicting
    checkpoint (same size, other root, valid log signature) must get 409."""
    wmax = max(wmax, ck.cosigned.get(wk["name"], 0))
    c = tlrel.Client(wport, timeout=10)
    h = hashlib.sha256(origin.encode()).hexdigest()
    st, _, body = c.get("/%s/checkpoint" % h)
    if st == 404:
        if wmax > 0:
            raise Violation("witness lost its state: 404 after cosigning size %d" % wmax)
        c.close()
        return wmax
    if st != 200:
        raise Violation("witness GET checkpoint: %d %r" % (st, body[:200]))
    size, root, sigs = ck.check_note(body, "witness checkpoint", published=False)
    text, _ = tlrel.parse_note(body)
    if tlrel.cosig_verify(text, sigs, wk) is None:
        raise Violation("witness serves a checkpoint without its cosignature")
    if size < wmax:
        raise Violation("witness size went back: serves %d after cosigning %d" % (size, wmax))
    wmax = size
    if size > 0:
        forged_root = hashlib.sha256(b"fork" + root).digest()
        ftext = ("%s\n%d\n%s\n" % (origin, size, tlrel.b64e(forged_root))).encode()
        note = tlrel.sign_note_text(ftext, skey)
        st, hd, resp = c.post("/add-checkpoint", b"old %d\n\n" % size + note)
        if st == 200:
            raise Violation("witness cosigned a forged fork of size %d: %r" % (size, resp))
        if st != 409:
            raise Violation("witness answered %d (not 409) to a fork: %r" % (st, resp[:200]))
    c.close()
    return wmax


if __name__ == "__main__":
    sys.exit(main())
