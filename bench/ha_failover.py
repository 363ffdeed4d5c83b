#!/usr/bin/env python3
"""Failover time of tlogd's high availability (docs/HA.md, docs/PERFORMANCE.md):
a 3-member etcd cluster and 2 tlogd nodes of one log on loopback (1 s lease);
a writer adds entries one after another to whichever node answers; N times,
kill -9 the leader and measure from the kill to the next entry acknowledged by
the other node, then restart the killed node as a standby. Prints every time,
p50 and p99, and at the end the guard's mean cost per batch (journal write +
etcd transaction) from the leader's /metrics.
Usage: ha_failover.py BUILD_DIR [N (default 20)]"""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ha"))
import hatest  # noqa: E402
from hatest import tltest  # noqa: E402


def main():
    build = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    tmp = tltest.mkdtemp("tlogd-ha-bench-")
    etcd = hatest.Etcd(tmp)
    nodes, origin, _ = hatest.make_nodes(build, tmp, etcd, 2)
    times = []
    try:
        for nd in nodes:
            nd.start()
        writer = hatest.Writer(nodes, "b")
        writer.start()
        for i in range(n):
            leader = hatest.wait_leader(nodes)
            time.sleep(1.0)
            t0 = time.time()
            leader.kill(signal.SIGKILL)
            at = None
            dl = t0 + 20
            while time.time() < dl and not at:
                at = writer.first_ack_after(t0, not_node=leader.name)
                time.sleep(0.005)
            times.append(at - t0 if at else float("inf"))
            print("failover %2d: %.3f s" % (i + 1, times[-1]), flush=True)
            leader.start()
            for _ in range(100):
                s, b = leader.health()
                if s == 200:
                    break
                time.sleep(0.1)
        writer.stop_flag = True
        writer.join(timeout=10)
        ts = sorted(times)
        p = lambda q: ts[min(len(ts) - 1, int(q * len(ts)))]  # noqa: E731
        print("failovers: %d  p50 %.3f s  p99 %.3f s  max %.3f s  acknowledged %d"
              % (len(ts), p(0.5), p(0.99), ts[-1], len(writer.acked)))
        leader = hatest.wait_leader(nodes)
        s, m = hatest.http("GET", leader.url("/metrics"))
        text = m.decode()
        su = re.search(r"tlogd_ha_guard_seconds_sum ([0-9.]+)", text)
        co = re.search(r"tlogd_ha_guard_seconds_count ([0-9]+)", text)
        if su and co and int(co.group(1)):
            print("guard (journal + etcd txn) on the last leader: %d batches, mean %.2f ms"
                  % (int(co.group(1)), 1000 * float(su.group(1)) / int(co.group(1))))
    finally:
        for nd in nodes:
            nd.stop()
        etcd.close()


if __name__ == "__main__":
    main()
