#!/usr/bin/env python3
"""Rebuild time of a tlogd node from the stores alone (docs/HA.md, "Rebuilding a
node"; docs/PERFORMANCE.md, "High availability"). One etcd member and one
tlogd leader (--etcd, a file:// origin and private store) filled with N
distinct 64-byte entries through HTTP (bench_frontend_add: 32 h2c connections
x 100 streams, POST /add, each answered once its checkpoint is at the origin:
the real leader path, guard and journal included). Then, writes stopped, a
new node is made with `tlogd init --keys` (the four key files, no database)
and started with --standby; the rebuild time is from its exec to its signed
size reaching the leader's (tlogd_tree_size_signed, polled every 0.1 s), and
the new node's checkpoint must be the leader's. Prints the fill rate, the
guard's mean cost per batch during the fill (tlogd_ha_guard_seconds), the
rebuild time and rate, and the sizes of the journal and of the new database.
Usage: ha_rebuild.py BUILD_DIR N [BATCH_MAX (default 4096)]"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ha"))
import hatest  # noqa: E402
from hatest import tltest  # noqa: E402


def signed(nd):
    st, body = hatest.http("GET", nd.url("/metrics"), timeout=5)
    m = re.search(r"^tlogd_tree_size_signed ([0-9]+)$", body.decode(errors="replace"), re.M)
    return int(m.group(1)) if st == 200 and m else -1


def du(path):
    return int(subprocess.run(["du", "-sb", path], capture_output=True,
                              text=True).stdout.split()[0])


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        f = f.read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def main():
    build = sys.argv[1]
    n = int(sys.argv[2])
    batch = sys.argv[3] if len(sys.argv) > 3 else "4096"
    tmp = tltest.mkdtemp("tlogd-ha-rebuild-bench-")
    etcd = hatest.Etcd(tmp, n=1)
    extra = ["--batch-max", batch, "--pool-max", "1000000", "--add-timeout", "120000",
             "--lease", "2000"]
    nodes, origin, private = hatest.make_nodes(build, tmp, etcd, 1, extra=extra)
    leader = nodes[0]
    try:
        leader.start()
        check = hatest.wait_leader(nodes, timeout=30)
        if not check:
            sys.exit("no leader")
        t0 = time.time()
        r = subprocess.run([os.path.join(build, "bench_frontend_add"), "--port",
                            str(leader.port), "--conns", "32", "--streams", "100", "--total",
                            str(n), "--size", "64", "--prefix", "rebuild"],
                           capture_output=True, text=True)
        fill = time.time() - t0
        print(r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr[-400:])
        size = signed(leader)
        print("fill: %d entries in %.1f s (%.0f entries/s); leader's signed size %d"
              % (n, fill, n / fill, size), flush=True)
        _, m = hatest.http("GET", leader.url("/metrics"), timeout=5)
        su = re.search(r"^tlogd_ha_guard_seconds_sum ([0-9.]+)$", m.decode(), re.M)
        co = re.search(r"^tlogd_ha_guard_seconds_count ([0-9]+)$", m.decode(), re.M)
        if su and co and int(co.group(1)):
            k = int(co.group(1))
            print("guard under the fill (journal object written and synced + etcd txn): "
                  "%d batches of %.0f entries on average, mean %.2f ms a batch"
                  % (k, size / k, 1000 * float(su.group(1)) / k), flush=True)

        new = os.path.join(tmp, "node-new")
        subprocess.run([os.path.join(build, "tlogd"), "init", "--dir", new, "--origin",
                        "ha.test/log", "--keys", leader.dir], check=True,
                       stdout=subprocess.DEVNULL)
        nd = hatest.Node(build, tmp, "new", new, etcd.urls(), origin, private,
                         extra + ["--standby"])
        t0 = time.time()
        nd.start()
        while signed(nd) < size:
            time.sleep(0.1)
        dt = time.time() - t0
        _, a = hatest.http("GET", leader.url("/checkpoint"))
        _, b = hatest.http("GET", nd.url("/checkpoint"))
        same = a.split(b"\n")[:3] == b.split(b"\n")[:3]
        print("rebuild: %d entries in %.1f s (%.0f entries/s), new node CPU %.1f s; "
              "checkpoint %s the leader's" % (size, dt, size / dt, cpu_s(nd.proc.pid),
                                              "is" if same else "is NOT"))
        print("journal %.1f MB (%d objects), new node's folder %.1f MB, leader's %.1f MB"
              % (du(os.path.join(private, "journal")) / 1e6,
                 sum(len(f) for _, _, f in os.walk(os.path.join(private, "journal"))),
                 du(new) / 1e6, du(leader.dir) / 1e6))
        nodes.append(nd)
    finally:
        for x in nodes:
            x.stop()
        etcd.close()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
