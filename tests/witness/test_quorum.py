#!/usr/bin/env python3
"""test_quorum.py - the log and its witnesses as real processes on loopback:
tlogd --policy with three tlog-witness processes and a 2-of-3 quorum.
Publication continues with two witnesses, stops with one and resumes when a
witness returns (restarted with its state intact); a forged fork made with
the log's own key is refused by a witness and kept as evidence; a fourth
witness in pull mode follows the log through its tiles; tlogd refuses
policies it cannot meet. Usage: test_quorum.py BUILD_DIR"""
import base64
import hashlib
import http.server as httpserver
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wt_common import Env, check, checkpoint_of, cosigners, finish, http, wait_for  # noqa: E402

ORIGIN = "example.com/quorum-log"
SANITIZED = os.environ.get("TL_SANITIZED") == "1"


def main():
    env = Env(sys.argv[1])
    try:
        run(env)
    except Exception as e:
        import traceback
        traceback.print_exc()
        check(False, "exception: %r" % (e,))
    finish(env)


def run(env):
    W, D, T = env.bin("tlog-witness"), env.bin("tlogd"), env.bin("tlw-tool")
    logdir = env.path("log")
    logvkey = env.run(D, "init", "--dir", logdir, "--origin", ORIGIN).stdout.decode().strip()
    with open(env.path("logs"), "w") as f:
        f.write("%s %s\n" % (ORIGIN, logvkey))

    wit = {}
    for name in ("w1", "w2", "w3"):
        d = env.path(name)
        vk = env.run(W, "init", "--dir", d, "--name", name + ".example").stdout.decode().strip()
        args = [W, "serve", "--dir", d, "--logs", env.path("logs"), "--listen", "127.0.0.1:0"]
        p, port = env.start(args, name + ".log")
        wit[name] = {"dir": d, "vkey": vk, "proc": p, "port": port}

    def policy(lines, path):
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    wl = ["witness %s %s http://127.0.0.1:%d" % (n, w["vkey"], w["port"])
          for n, w in wit.items()]

    # ---- tlogd refuses policies it cannot meet --------------------------------------
    bad = policy(["log " + logvkey,
                  "witness w1 %s http://127.0.0.1:%d" % (wit["w1"]["vkey"], wit["w1"]["port"]),
                  "witness w2 %s" % wit["w2"]["vkey"],
                  "group g 2 w1 w2", "quorum g"], env.path("bad1"))
    r = env.run(D, "serve", "--dir", logdir, "--listen", "127.0.0.1:0", "--policy", bad,
                check_rc=False)
    check(r.returncode != 0 and b"quorum" in r.stderr,
          "tlogd refuses a quorum the witnesses with URLs cannot meet")
    other = env.run(T, "keygen", ORIGIN, env.path("evil")).stdout.decode().strip()
    bad = policy(["log " + other] + wl + ["group g 2 w1 w2 w3", "quorum g"], env.path("bad2"))
    r = env.run(D, "serve", "--dir", logdir, "--listen", "127.0.0.1:0", "--policy", bad,
                check_rc=False)
    check(r.returncode != 0, "tlogd refuses a policy whose log line has another key")

    # ---- 2-of-3 ---------------------------------------------------------------------------
    pol = policy(["log " + logvkey] + wl + ["group g 2 w1 w2 w3", "quorum g"],
                 env.path("policy"))
    dargs = [D, "serve", "--dir", logdir, "--listen", "127.0.0.1:0", "--policy", pol,
             "--add-timeout", "2500", "--batch-interval", "5"]
    dproc, dport = env.start(dargs, "tlogd.log")

    def add(entry, timeout=30):
        return http(dport, "POST", "/add", entry, timeout=timeout)

    def published():
        st, _, body = http(dport, "GET", "/checkpoint")
        if st != 200:
            return 0, body
        return int(body.split(b"\n")[1]), body

    def signed_size():
        st, _, body = http(dport, "GET", "/metrics")
        for line in body.decode().splitlines():
            if line.startswith("tlogd_tree_size_signed ") or line.startswith("tlogd_signed_size "):
                return int(float(line.split()[1]))
        return None

    results = {}

    def adder(i):
        try:
            results[i] = add(b"entry-%d" % i)
        except Exception as e:  # noqa: BLE001
            results[i] = (0, "", repr(e).encode())
    threads = [threading.Thread(target=adder, args=(i,)) for i in range(20)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    ok = [r for r in results.values() if r[0] == 200]
    check(len(ok) == 20, "3 witnesses: 20 concurrent adds answered 200 (%.2f s)" % elapsed)
    quorum_ok = all(len(set(cosigners(checkpoint_of(r[2])[0:]))
                        & {"w1.example", "w2.example", "w3.example"}) >= 2 for r in ok)
    check(quorum_ok, "every proof's checkpoint carries >= 2 witness cosignatures")
    size, note = published()
    check(size >= 20 and cosigners(note)[0] == ORIGIN, "published checkpoint at %d" % size)

    # ---- one witness down: publication continues with two ---------------------------
    env.stop(wit["w3"]["proc"], sig=9)
    st, _, body = add(b"after-w3-down")
    names = set(cosigners(checkpoint_of(body)))
    check(st == 200 and {"w1.example", "w2.example"} <= names and "w3.example" not in names,
          "w3 down: publication continues with w1 and w2")

    # ---- two down: publication stops --------------------------------------------------
    env.stop(wit["w2"]["proc"])
    before, _ = published()
    st, _, body = add(b"while-two-down")
    check(st == 503, "w2 and w3 down: POST /add waits, then 503 (%d)" % st)
    time.sleep(0.5)
    check(published()[0] == before, "w2 and w3 down: nothing new is published")
    st, _, m = http(dport, "GET", "/metrics")
    check(b'tlogd_witness_failures_total{witness="w2"}' in m, "per-witness metrics served")

    # ---- w2 returns (same port, state intact): publication resumes ----------------------
    w2 = wit["w2"]
    ohex = hashlib.sha256(ORIGIN.encode()).hexdigest()
    args = [W, "serve", "--dir", w2["dir"], "--logs", env.path("logs"),
            "--listen", "127.0.0.1:%d" % w2["port"]]
    w2["proc"], _ = env.start(args, "w2b.log")
    st, _, cp = http(w2["port"], "GET", "/%s/checkpoint" % ohex)
    check(st == 200 and int(cp.split(b"\n")[1]) >= before,
          "w2 restarted with its state (cosigned size %s)" % (cp.split(b"\n")[1:2],))
    grew = wait_for(lambda: published()[0] > before, 12)
    check(grew, "w2 back: publication resumes")
    st, _, body = add(b"while-two-down", timeout=30)
    check(st == 200 and b"index %d" % before in body,
          "the waiting entry is published; resubmission keeps its index")

    # ---- forged fork with the log's own key --------------------------------------------
    w1 = wit["w1"]
    st, _, cp = http(w1["port"], "GET", "/%s/checkpoint" % ohex)
    wsize = int(cp.split(b"\n")[1])
    forged = env.run(T, "checkpoint", os.path.join(logdir, "log.key"), ORIGIN, str(wsize),
                     "SGVsbG8gZm9yZ2VkIHJvb3QgaGVyZSEhISEhISEhISE=").stdout
    st, ct, body = http(w1["port"], "POST", "/add-checkpoint",
                        b"old %d\n\n" % wsize + forged)
    check(st == 409 and body == b"%d\n" % wsize, "forged fork signed by the log's key: 409")
    st, _, ev = http(w1["port"], "GET", "/%s/evidence" % ohex)
    evj = json.loads(ev) if st == 200 else []
    check(len(evj) == 1 and evj[0]["reason"] == "same-size-different-root"
          and evj[0]["submitted"].encode() == forged,
          "forged fork kept as evidence with the checkpoint it conflicts with")
    st, _, cp2 = http(w1["port"], "GET", "/%s/checkpoint" % ohex)
    check(cp2 == cp, "the fork did not change the witness state")
    st, _, body = add(b"after-fork")
    check(st == 200, "the log goes on after the refused fork")

    # ---- pull mode: a fourth witness follows the log through its tiles ---------------
    d4 = env.path("w4")
    env.run(W, "init", "--dir", d4, "--name", "w4.example")
    with open(env.path("logs4"), "w") as f:
        f.write("%s %s http://127.0.0.1:%d\n" % (ORIGIN, logvkey, dport))
    args = [W, "serve", "--dir", d4, "--logs", env.path("logs4"), "--listen", "127.0.0.1:0",
            "--poll-interval", "1"]
    p4, port4 = env.start(args, "w4.log")

    def w4_size():
        st, _, b = http(port4, "GET", "/%s/checkpoint" % ohex)
        return int(b.split(b"\n")[1]) if st == 200 else -1

    target = published()[0]
    check(wait_for(lambda: w4_size() >= target, 10), "pull: w4 cosigned size %d" % target)
    n_more = 150 if SANITIZED else 300
    results.clear()
    threads = [threading.Thread(target=adder, args=(1000 + i,)) for i in range(n_more)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(all(r[0] == 200 for r in results.values()), "%d more adds answered 200" % n_more)
    target = published()[0]
    got = wait_for(lambda: w4_size() >= target, 15)
    check(got, "pull: w4 verified the tiles' consistency proof to size %d (has %d)" %
          (target, w4_size()))
    st, _, m = http(port4, "GET", "/metrics")
    check(b"tlog_witness_pull_failures_total 0" in m, "pull: no failed polls")

    # ---- pull mode through a proxy that corrupts tiles: refused, then recovers --------
    corrupt = {"on": False, "tiles": 0}

    class Proxy(httpserver.BaseHTTPRequestHandler):
        def do_GET(self):
            st, ct, body = http(dport, "GET", self.path)
            if corrupt["on"] and self.path.startswith("/tile/") and "entries" not in self.path:
                body = bytes(b ^ 0x55 if i % 32 == 0 else b for i, b in enumerate(body))
                corrupt["tiles"] += 1
            self.send_response(st)
            self.send_header("Content-Type", ct or "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    psrv = httpserver.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=psrv.serve_forever, daemon=True).start()
    try:
        d5 = env.path("w5")
        env.run(W, "init", "--dir", d5, "--name", "w5.example")
        with open(env.path("logs5"), "w") as f:
            f.write("%s %s http://127.0.0.1:%d\n" % (ORIGIN, logvkey, psrv.server_address[1]))
        p5, port5 = env.start([W, "serve", "--dir", d5, "--logs", env.path("logs5"),
                               "--listen", "127.0.0.1:0", "--poll-interval", "1"], "w5.log")

        def w5_size():
            st, _, b = http(port5, "GET", "/%s/checkpoint" % ohex)
            return int(b.split(b"\n")[1]) if st == 200 else -1
        start = published()[0]
        check(wait_for(lambda: w5_size() >= start, 10), "pull via proxy: first cosignature")
        corrupt["on"] = True
        for i in range(5):
            add(b"tamper-%d" % i)
        time.sleep(2.5)
        check(corrupt["tiles"] > 0 and w5_size() == start,
              "pull: tampered tiles (%d served) are not cosigned (w5 stays at %d)" %
              (corrupt["tiles"], w5_size()))
        st, _, m = http(port5, "GET", "/metrics")
        check(b"tlog_witness_pull_failures_total 0" not in m and
              b'tlog_witness_add_checkpoint_total{code="422"} 0' not in m,
              "pull: the bad proof was refused with 422 and counted")
        corrupt["on"] = False
        target = published()[0]
        check(wait_for(lambda: w5_size() >= target, 10),
              "pull: honest tiles again, w5 catches up to %d" % target)
        env.stop(p5)
    finally:
        psrv.shutdown()

    # ---- tlogd restart: the cosigner learns each witness's size from a 409 -------------
    rc = env.stop(dproc)
    check(rc == 0, "tlogd exits 0 on SIGTERM")
    dproc, dport = env.start(dargs, "tlogd2.log")
    st, _, body = add(b"after-restart")
    check(st == 200, "after a tlogd restart adds are published again")
    st, _, m = http(dport, "GET", "/metrics")
    conflicts = [line for line in m.decode().splitlines()
                 if line.startswith("tlogd_witness_conflicts_total{") and not line.endswith(" 0")]
    check(len(conflicts) >= 2, "the restarted cosigner learned sizes from 409s: %s" % conflicts)
    env.stop(dproc)

    # ---- a witness answering 200 with a bad cosignature does not count ------------------
    fake_vk = env.run(W, "init", "--dir", env.path("fake"), "--name",
                      "fake.example").stdout.decode().strip()
    keyid = bytes.fromhex(fake_vk.split("+")[1])
    bogus = ("\u2014 fake.example %s\n" % base64.b64encode(keyid + bytes(72)).decode()).encode()
    hits = []

    class Fake(httpserver.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hits.append(1)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(bogus)))
            self.end_headers()
            self.wfile.write(bogus)

        def log_message(self, *a):
            pass
    srv = httpserver.ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        logdir2 = env.path("log2")
        lv2 = env.run(D, "init", "--dir", logdir2, "--origin",
                      "example.com/fake-quorum").stdout.decode().strip()
        pol2 = policy(["log " + lv2,
                       "witness fake %s http://127.0.0.1:%d" % (fake_vk, srv.server_address[1]),
                       "quorum fake"], env.path("policy2"))
        p2, port2 = env.start([D, "serve", "--dir", logdir2, "--listen", "127.0.0.1:0",
                               "--policy", pol2, "--add-timeout", "1500"], "tlogd-fake.log")
        st, _, _ = http(port2, "POST", "/add", b"x")
        st2, _, _ = http(port2, "GET", "/checkpoint")
        check(st == 503 and st2 == 503 and len(hits) > 0,
              "a bad cosignature (right key id, wrong signature) is not counted: "
              "/add %d, /checkpoint %d, %d requests" % (st, st2, len(hits)))
        env.stop(p2)
    finally:
        srv.shutdown()

    for w in wit.values():
        env.stop(w["proc"])
    env.stop(p4)


if __name__ == "__main__":
    main()
