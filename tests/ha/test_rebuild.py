#!/usr/bin/env python3
"""A node rebuilt from the stores alone, and witnessing across a failover
(docs/HA.md, "Rebuilding a node"): an etcd member, a tlog-witness (the
repo's) that is the nodes' quorum, and two tlogd nodes of one log under a
writer. A third node made with `tlogd init --keys` (the key files only, no
database) joins, replays the journal from size 0, and serves the same
checkpoint as the leader; then the other two are killed with -9, the new
node leads, and the witness goes on cosigning its checkpoints. At the end
every checkpoint any node, the origin or the witness held is a prefix of the
final tree (no size has two roots; none the witness cosigned), and every
acknowledged entry is at its index. `tlogd init --keys` refusals are checked
too. Usage: test_rebuild.py BUILD_DIR"""
import hashlib
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hatest  # noqa: E402
from hatest import tltest  # noqa: E402

check = tltest.check
ORIGIN = "ha.test/log"
SLOW = 3 if os.environ.get("TL_SANITIZED") == "1" else 1
FILL = 32 * 40  # entries before the new node joins: five bundles and more


def metric(nd, name):
    st, body = hatest.http("GET", nd.url("/metrics"), timeout=2)
    m = re.search(r"^%s ([0-9.e+]+)$" % re.escape(name), body.decode(errors="replace"), re.M)
    return int(float(m.group(1))) if st == 200 and m else None


def checkpoint(nd):
    """(size, root line) of the checkpoint nd serves, or None."""
    st, body = hatest.http("GET", nd.url("/checkpoint"), timeout=2)
    if st != 200:
        return None
    lines = body.decode().split("\n")
    return int(lines[1]), lines[2]


def init_cli(tlogd, tmp, src):
    """The refusals of tlogd init --keys, then the init of the new node."""
    run = lambda *a: subprocess.run([tlogd] + list(a), capture_output=True)  # noqa: E731
    new = os.path.join(tmp, "node2")
    r = run("init", "--dir", new, "--origin", "other.test/log", "--keys", src)
    check(r.returncode == 2 and b"origin" in r.stderr,
          "init --keys with another origin: exit 2 naming the origin (%d %r)"
          % (r.returncode, r.stderr[-120:]))
    check(not os.path.exists(os.path.join(new, "log.key")), "... and no key is left behind")
    empty = os.path.join(tmp, "nokeys")
    os.mkdir(empty)
    r = run("init", "--dir", os.path.join(tmp, "node9"), "--origin", ORIGIN, "--keys", empty)
    check(r.returncode == 2, "init --keys from a folder without keys: exit 2 (%d)" % r.returncode)
    r = run("init", "--dir", src, "--origin", ORIGIN, "--keys", src)
    check(r.returncode != 0 and b"already holds a log" in r.stderr,
          "init --keys into a folder that holds a log is refused (%r)" % r.stderr[-120:])
    r = run("serve", "--dir", src, "--keys", src)
    check(r.returncode == 2, "--keys is only for init (exit %d)" % r.returncode)
    r = run("init", "--dir", new, "--origin", ORIGIN, "--kind", "blob", "--keys", src)
    check(r.returncode == 0, "init --keys makes the new node (%r)" % r.stderr[-200:])
    with open(os.path.join(src, "log.vkey")) as f:
        vkey = f.read().strip()
    check(r.stdout.decode().strip() == vkey, "init --keys prints the log's verifier key")
    for name in ("log.key", "log.vkey", "rfc6962.key", "rfc6962.pub"):
        with open(os.path.join(src, name), "rb") as a, open(os.path.join(new, name), "rb") as b:
            check(a.read() == b.read(), "%s copied byte for byte" % name)
    for name in ("log.key", "rfc6962.key"):
        mode = stat.S_IMODE(os.stat(os.path.join(new, name)).st_mode)
        check(mode == 0o600, "%s is 0600 (%o)" % (name, mode))
    return new


def main():
    build = sys.argv[1]
    tlogd = os.path.join(build, "tlogd")
    wbin = os.path.join(build, "tlog-witness")
    tmp = tltest.mkdtemp("tlogd-ha-rebuild-")
    etcd = hatest.Etcd(tmp, n=1)
    wproc = None
    nodes, origin, private = hatest.make_nodes(build, tmp, etcd, 2)
    writer = heads = None
    try:
        # the witness, and a policy whose quorum it is
        with open(os.path.join(tmp, "node0", "log.vkey")) as f:
            logvkey = f.read().strip()
        wdir = os.path.join(tmp, "witness")
        wvkey = subprocess.run([wbin, "init", "--dir", wdir, "--name", "w.example"],
                               check=True, capture_output=True).stdout.decode().strip()
        logs = os.path.join(tmp, "witness-logs")
        with open(logs, "w") as f:
            f.write("%s %s\n" % (ORIGIN, logvkey))
        wport = tltest.free_port()
        wproc = subprocess.Popen([wbin, "serve", "--dir", wdir, "--logs", logs, "--listen",
                                  "127.0.0.1:%d" % wport], stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(tmp, "witness.log"), "ab"))
        check(tltest.wait_port(wport, tries=200), "the witness listens")
        pol = os.path.join(tmp, "policy")
        with open(pol, "w") as f:
            f.write("log %s\nwitness w %s http://127.0.0.1:%d\nquorum w\n"
                    % (logvkey, wvkey, wport))
        for nd in nodes:
            nd.args += ["--policy", pol]
            nd.start()
        leader = hatest.wait_leader(nodes)
        check(leader is not None, "one of the two nodes leads")
        wurl = "http://127.0.0.1:%d/%s/checkpoint" % (
            wport, hashlib.sha256(ORIGIN.encode()).hexdigest())

        def wsize():
            st, body = hatest.http("GET", wurl, timeout=2)
            return int(body.decode().split("\n")[1]) if st == 200 else -1

        # a few full bundles first, from concurrent adds (one batch holds many)
        filled, fill_acked = [], {}

        def adder(k):
            for i in range(FILL // 32):
                e = b"fill-%d-%d" % (k, i)
                st, body = hatest.http("POST", leader.url("/add"), e, timeout=10)
                filled.append(st)
                if st == 200:
                    fill_acked[int(body.decode().split("\n")[1].split()[1])] = e
        threads = [threading.Thread(target=adder, args=(k,)) for k in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check(filled.count(200) == FILL, "%d concurrent adds acknowledged (%d)"
              % (FILL, filled.count(200)))
        writer = hatest.Writer(nodes, "r")
        writer.acked.update(fill_acked)  # checked at the end with the writer's own
        heads = hatest.Heads(nodes, origin, extra=[(wurl, "witness")])
        writer.start()
        heads.start()
        time.sleep(2.0)
        check(len(writer.acked) > 20, "entries acknowledged under the witness's quorum (%d)"
              % len(writer.acked))

        # the new node: the key files and nothing else
        new = init_cli(tlogd, tmp, os.path.join(tmp, "node0"))
        n2 = hatest.Node(build, tmp, "n2", new, etcd.urls(), origin, private,
                         ["--policy", pol])
        nodes.append(n2)
        target = metric(leader, "tlogd_tree_size_signed") or 0
        t0 = time.time()
        n2.start()
        s, body = n2.health()
        check(s == 200 and body == b"standby\n", "the new node stands by (%d %r)" % (s, body))
        got = hatest.wait_until(lambda: (metric(n2, "tlogd_tree_size_signed") or 0) >= target,
                                20 * SLOW)
        check(got, "the new node replayed the journal to size %d" % target)
        print("     rebuilt %d entries from the journal in %.2f s (under writes)"
              % (target, time.time() - t0))
        check((metric(n2, "tlogd_ha_imported_batches_total") or 0) > 0,
              "the new node imported batches")
        # writes held: the new node reaches the leader's very checkpoint
        writer.hold = True
        writer.idle.wait(10)
        leader = hatest.wait_leader(nodes[:2])
        same = hatest.wait_until(lambda: checkpoint(leader) is not None and
                    checkpoint(n2) == checkpoint(leader) and
                    metric(n2, "tlogd_tree_size_signed") ==
                    metric(leader, "tlogd_tree_size_signed"), 15 * SLOW)
        check(same, "the new node serves the leader's checkpoint (%r / %r)"
              % (checkpoint(n2), checkpoint(leader)))
        writer.hold = False
        time.sleep(1.0)

        # the two old nodes die: the new node takes over
        before = wsize()
        check(before > 0, "the witness cosigned the old leader's checkpoints (size %d)" % before)
        t0 = time.time()
        for nd in nodes[:2]:
            nd.kill(signal.SIGKILL)
        led = hatest.wait_until(lambda: n2.leads(), 15 * SLOW)
        check(led, "the rebuilt node leads once the others are gone")
        at = hatest.wait_until(lambda: writer.first_ack_after(t0), 20 * SLOW)
        check(at is not None, "the rebuilt node acknowledges new entries")
        if at:
            print("     takeover by the rebuilt node: next entry acknowledged %.2f s after the "
                  "kills" % (at - t0))
        grew = hatest.wait_until(lambda: wsize() > before, 20 * SLOW)
        check(grew, "the witness cosigns the new leader's checkpoints (%d -> %d)"
              % (before, wsize()))
        after = wsize()
        more = hatest.wait_until(lambda: wsize() > after, 20 * SLOW)
        check(more, "... and goes on cosigning them (%d -> %d)" % (after, wsize()))
        cp = checkpoint(n2)
        st, body = hatest.http("GET", n2.url("/checkpoint"))
        check(st == 200 and "\u2014 w.example " in body.decode() and cp and cp[0] > before,
              "the new leader's checkpoint carries the witness's cosignature")

        writer.stop_flag = True
        writer.join(timeout=10)
        time.sleep(1.0)
        heads.stop_flag = True
        heads.join(timeout=5)
        hatest.check_heads_and_acks(heads, writer, origin)
        wc = heads.cosigned.get("w.example", {})
        forks = [s for s, roots in wc.items() if len(roots) > 1]
        check(len(wc) > 1 and not forks,
              "the witness cosigned %d sizes across the failover, one root each" % len(wc))
        check(max(wc or [0]) > before, "cosigned sizes reach past the failover")
    finally:
        if writer:
            writer.stop_flag = True
        if heads:
            heads.stop_flag = True
        if wproc:
            wproc.kill()
            wproc.wait()
        hatest.stop_all(nodes, etcd)
    return tltest.summary("high-availability rebuild")


if __name__ == "__main__":
    sys.exit(main())
