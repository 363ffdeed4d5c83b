#!/usr/bin/env python3
"""High availability end to end (docs/HA.md): a 3-member etcd cluster and 3
tlogd nodes of one log sharing a file:// origin and private store, each node
talking to one etcd member. Under a writer that follows the leader: kill -9
the leader; SIGSTOP it past its lease, then SIGCONT (the zombie must sign and
publish nothing); kill the etcd Raft leader; cut a node off etcd by stopping
its member. After each: a new leader takes writes, failover time printed.
At the end every head any node served or the origin held is a prefix of the
final tree (no two roots for one size) and every acknowledged entry is at its
index.  Usage: test_ha.py BUILD_DIR"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hatest  # noqa: E402
from hatest import tltest  # noqa: E402

check = tltest.check


def failover(writer, nodes, old, t0, what, timeout=15):
    """Waits for an acknowledgement by another node after t0."""
    dl = time.time() + timeout
    while time.time() < dl:
        at = writer.first_ack_after(t0, not_node=old.name if old else None)
        if at:
            print("     %s: next entry acknowledged %.2f s after" % (what, at - t0))
            return at - t0
        time.sleep(0.02)
    check(False, "%s: a new leader acknowledged an entry within %d s" % (what, timeout))
    return None


def main():
    build = sys.argv[1]
    tmp = tltest.mkdtemp("tlogd-ha-")
    etcd = hatest.Etcd(tmp)
    nodes, origin, private = hatest.make_nodes(build, tmp, etcd, 3, per_member=True)
    writer = heads = None
    times = []
    try:
        for nd in nodes:
            nd.start()
        leader = hatest.wait_leader(nodes)
        check(leader is not None, "one node leads")
        st = [nd.health() for nd in nodes]
        check(all(s == 200 for s, _ in st), "/healthz is 200 on the leader and both standbys")
        check(sum(1 for _, b in st if b == b"standby\n") == 2, "two nodes say standby")
        other = [nd for nd in nodes if nd is not leader][0]
        s, body = hatest.http("POST", other.url("/add"), b"to a standby")
        check(s == 503, "a standby answers writes with 503 (%d %r)" % (s, body[:60]))

        writer = hatest.Writer(nodes, "e")
        heads = hatest.Heads(nodes, origin)
        writer.start()
        heads.start()
        time.sleep(1.5)
        check(len(writer.acked) > 0, "entries acknowledged before any failure")

        # 1. kill -9 the leader, under load
        for rnd in range(2):
            leader = hatest.wait_leader(nodes)
            t0 = time.time()
            leader.kill(signal.SIGKILL)
            d = failover(writer, nodes, leader, t0, "kill -9 %s" % leader.name)
            check(d is not None, "kill -9 of the leader (%d): another node took over" % rnd)
            times.append(d)
            leader.start()  # comes back as a standby and follows
            time.sleep(1.0)

        # 2. SIGSTOP the leader past its lease, then SIGCONT: a zombie
        leader = hatest.wait_leader(nodes)
        before = leader.log().count("log stopped signing")
        t0 = time.time()
        leader.kill(signal.SIGSTOP)
        d = failover(writer, nodes, leader, t0, "SIGSTOP %s" % leader.name)
        times.append(d)
        time.sleep(1.5)
        leader.kill(signal.SIGCONT)
        time.sleep(1.5)
        s, body = leader.health()
        check(s == 200 and body == b"standby\n",
              "the resumed zombie stands by (%d %r)" % (s, body[:80]))
        log = leader.log()
        check("stands by" in log, "the zombie says it stands by")
        check(log.count("log stopped signing") >= before, "zombie log line count sane")

        # 3. kill the etcd Raft leader
        m = etcd.raft_leader()
        check(m is not None, "etcd has a Raft leader")
        t0 = time.time()
        etcd.stop(m)
        time.sleep(0.2)
        d = failover(writer, nodes, None, t0, "etcd Raft leader m%d killed" % m)
        check(d is not None, "writes go on after the etcd Raft leader is killed")
        etcd.start(m)
        etcd.wait_healthy()
        time.sleep(1.5)

        # 4. cut the leader off etcd: stop the member it talks to
        leader = hatest.wait_leader(nodes)
        i = nodes.index(leader)
        t0 = time.time()
        etcd.stop(i)
        d = failover(writer, nodes, leader, t0, "%s cut off etcd" % leader.name)
        check(d is not None, "the node cut off etcd is replaced")
        times.append(d)
        time.sleep(1.0)
        s, body = leader.health()
        check(s == 200 and body == b"standby\n", "the cut-off node stands by (%d %r)"
              % (s, body[:80]))
        etcd.start(i)
        etcd.wait_healthy()
        time.sleep(1.5)

        writer.stop_flag = True
        writer.join(timeout=10)
        # let the origin catch up with the last acknowledged entries
        time.sleep(1.0)
        heads.stop_flag = True
        heads.join(timeout=5)
        hatest.check_heads_and_acks(heads, writer, origin)
        for nd in nodes:
            if nd.alive():
                s, _ = nd.health()
                check(s == 200, "%s healthy at the end" % nd.name)
        ok = [t for t in times if t is not None]
        if ok:
            print("     failover times: %s" % ", ".join("%.2f" % t for t in ok))
    finally:
        if writer:
            writer.stop_flag = True
        if heads:
            heads.stop_flag = True
        hatest.stop_all(nodes, etcd)
    return tltest.summary("high-availability")


if __name__ == "__main__":
    sys.exit(main())
