"""Shared parts of the high-availability tests (docs/HA.md): a 3-member etcd
cluster on loopback (etcd started unprivileged, its data in a temp dir, its
ports the test's), tlogd nodes of one log sharing a file:// origin and a
file:// private store, a writer that follows the leader, and the checks that
every head seen is the tree the final entries make."""
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import tltest  # noqa: E402


def need(tool):
    path = shutil.which(tool)
    if not path:
        print("FAIL %s is missing (scripts/deps.sh test installs it)" % tool)
        sys.exit(1)
    return path


class Etcd:
    """A 3-member cluster; heartbeat 50 ms and election 500 ms, so that etcd
    grants 1 s leases (its shortest lease is 1.5 election timeouts)."""

    def __init__(self, tmp, n=3):
        self.bin = need("etcd")
        self.ctl = need("etcdctl")
        self.tmp = tmp
        self.names = ["m%d" % i for i in range(n)]
        self.client = [tltest.free_port() for _ in self.names]
        self.peer = [tltest.free_port() for _ in self.names]
        self.procs = [None] * n
        self.cluster = ",".join("%s=http://127.0.0.1:%d" % (nm, p)
                                for nm, p in zip(self.names, self.peer))
        for i in range(n):
            self.start(i, "new")
        for p in self.client:
            if not tltest.wait_port(p, tries=200):
                raise RuntimeError("etcd did not start")
        self.wait_healthy()

    def url(self, i):
        return "http://127.0.0.1:%d" % self.client[i]

    def urls(self):
        return ",".join(self.url(i) for i in range(len(self.names)))

    def start(self, i, state="existing"):
        d = os.path.join(self.tmp, "etcd-" + self.names[i])
        log = open(os.path.join(self.tmp, "etcd-%s.log" % self.names[i]), "ab")
        self.procs[i] = subprocess.Popen(
            [self.bin, "--name", self.names[i], "--data-dir", d,
             "--listen-client-urls", self.url(i), "--advertise-client-urls", self.url(i),
             "--listen-peer-urls", "http://127.0.0.1:%d" % self.peer[i],
             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % self.peer[i],
             "--initial-cluster", self.cluster, "--initial-cluster-state", state,
             "--initial-cluster-token", "tlogd-test", "--heartbeat-interval", "50",
             "--election-timeout", "500", "--log-level", "error"],
            stdout=log, stderr=log)

    def stop(self, i):
        p = self.procs[i]
        if p and p.poll() is None:
            p.kill()
            p.wait()
        self.procs[i] = None

    def raft_leader(self):
        """Index of the member that leads Raft (etcdctl endpoint status)."""
        out = subprocess.run([self.ctl, "--endpoints", self.urls(), "endpoint", "status",
                              "-w", "json"], capture_output=True, text=True,
                             env=dict(os.environ, ETCDCTL_API="3")).stdout
        for st in json.loads(out or "[]"):
            s = st["Status"]
            if s["leader"] == s["header"]["member_id"]:
                return self.client.index(int(st["Endpoint"].rsplit(":", 1)[1]))
        return None

    def wait_healthy(self, tries=100):
        for _ in range(tries):
            r = subprocess.run([self.ctl, "--endpoints", self.urls(), "endpoint", "health"],
                               capture_output=True, env=dict(os.environ, ETCDCTL_API="3"))
            if r.returncode == 0:
                return True
            time.sleep(0.1)
        return False

    def close(self):
        for i in range(len(self.names)):
            self.stop(i)


def http(method, url, body=None, timeout=3):
    """(status, body bytes); status 0 when no answer came."""
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, urllib.error.URLError):
        return 0, b""


class Node:
    def __init__(self, build, tmp, name, folder, etcd_urls, origin, private, extra=()):
        self.tlogd = os.path.join(build, "tlogd")
        self.name = name
        self.dir = folder
        self.port = tltest.free_port()
        self.args = [self.tlogd, "serve", "--dir", folder, "--listen",
                     "127.0.0.1:%d" % self.port, "--etcd", etcd_urls, "--node", name,
                     "--publish", "file://" + origin, "--private-store", "file://" + private,
                     "--add-timeout", "5000"] + list(extra)
        self.logpath = os.path.join(tmp, "tlogd-%s.log" % name)
        self.proc = None

    def url(self, path=""):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL,
                                     stderr=open(self.logpath, "ab"))
        if not tltest.wait_port(self.port, tries=200):
            raise RuntimeError("tlogd %s did not start: %s" % (self.name, self.log()[-600:]))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        self.proc.send_signal(sig)
        if sig == signal.SIGKILL:
            self.proc.wait()

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def health(self):
        return http("GET", self.url("/healthz"), timeout=1)

    def leads(self):
        st, body = self.health()
        return st == 200 and body == b"ok\n"

    def log(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")


def make_nodes(build, tmp, etcd, n, per_member=False, extra=()):
    """tlogd init once; every node gets a copy of the folder (same keys, same
    empty tree). per_member: node i talks to etcd member i only."""
    tlogd = os.path.join(build, "tlogd")
    first = os.path.join(tmp, "node0")
    subprocess.run([tlogd, "init", "--dir", first, "--origin", "ha.test/log"], check=True,
                   stdout=subprocess.DEVNULL)
    origin = os.path.join(tmp, "origin")
    private = os.path.join(tmp, "private")
    nodes = []
    for i in range(n):
        d = os.path.join(tmp, "node%d" % i)
        if i:
            shutil.copytree(first, d)
        urls = etcd.url(i) if per_member else etcd.urls()
        nodes.append(Node(build, tmp, "n%d" % i, d, urls, origin, private, extra))
    return nodes, origin, private


def stop_all(nodes, etcd):
    """Stops the nodes and the etcd cluster; after a failed check, prints the
    tail of each node's log."""
    for nd in nodes:
        nd.stop()
    etcd.close()
    if tltest.FAILS:
        for nd in nodes:
            print("---- %s log (tail)\n%s" % (nd.name, nd.log()[-3000:]))


def wait_leader(nodes, timeout=15):
    dl = time.time() + timeout
    while time.time() < dl:
        for nd in nodes:
            if nd.alive() and nd.leads():
                return nd
        time.sleep(0.05)
    return None


wait_until = tltest.wait_until


def parse_checkpoint(text):
    """(origin, size, root bytes) of a checkpoint note's body."""
    lines = text.split("\n")
    return lines[0], int(lines[1]), base64.b64decode(lines[2])


class Writer(threading.Thread):
    """Adds distinct entries to whichever node answers 200, retrying on the
    others; records every acknowledgement (index -> entry) and when each came."""

    def __init__(self, nodes, prefix, pause=0.0):
        super().__init__(daemon=True)
        self.nodes = nodes
        self.prefix = prefix
        self.pause = pause
        self.acked = {}
        self.ack_times = []  # (time, node name)
        self.stop_flag = False
        self.hold = False  # True: no new entry until it is False again
        self.idle = threading.Event()  # set while held between entries
        self.n = 0
        self.lock = threading.Lock()

    def run(self):
        cur = 0
        while not self.stop_flag:
            if self.hold:
                self.idle.set()
                time.sleep(0.02)
                continue
            self.idle.clear()
            entry = ("%s-%d" % (self.prefix, self.n)).encode()
            done = False
            while not done and not self.stop_flag:
                nd = self.nodes[cur % len(self.nodes)]
                st, body = (http("POST", nd.url("/add"), entry, timeout=2)
                            if nd.alive() else (0, b""))
                if st == 200:
                    idx = int(body.decode().split("\n")[1].split()[1])
                    with self.lock:
                        if idx in self.acked and self.acked[idx] != entry:
                            tltest.check(False, "index %d acknowledged for two entries" % idx)
                        self.acked[idx] = entry
                        self.ack_times.append((time.time(), nd.name))
                    done = True
                else:
                    cur += 1
                    time.sleep(0.02)
            self.n += 1
            if self.pause:
                time.sleep(self.pause)

    def first_ack_after(self, t, not_node=None):
        with self.lock:
            for at, name in self.ack_times:
                if at > t and name != not_node:
                    return at
        return None


class Heads(threading.Thread):
    """Collects every checkpoint any node serves and the origin holds."""

    def __init__(self, nodes, origin, extra=()):
        """extra: (url, name) of more checkpoints to collect (a witness's)."""
        super().__init__(daemon=True)
        self.nodes = nodes
        self.origin = origin
        self.extra = list(extra)
        self.cosigned = {}  # witness name -> {size: root} of checkpoints it cosigned
        self.seen = {}  # size -> set of roots
        self.count = 0
        self.stop_flag = False

    def add(self, text, where):
        try:
            _, size, root = parse_checkpoint(text)
        except (ValueError, IndexError):
            return
        self.seen.setdefault(size, {})[root] = where
        self.count += 1
        for line in text.split("\n\n", 1)[-1].split("\n"):
            # a signature line: "— <name> <base64>"; the log's own is among them
            parts = line.split(" ")
            if len(parts) == 3 and parts[0] == "\u2014":
                self.cosigned.setdefault(parts[1], {}).setdefault(size, set()).add(root)

    def run(self):
        while not self.stop_flag:
            for nd in self.nodes:
                if nd.alive():
                    st, body = http("GET", nd.url("/checkpoint"), timeout=1)
                    if st == 200:
                        self.add(body.decode(), nd.name)
            try:
                with open(os.path.join(self.origin, "checkpoint")) as f:
                    self.add(f.read(), "origin")
            except OSError:
                pass
            for url, name in self.extra:
                st, body = http("GET", url, timeout=1)
                if st == 200:
                    self.add(body.decode(), name)
            time.sleep(0.05)


def origin_entries(origin, size):
    """The first size entries, from the origin's bundles."""
    out = []
    n = 0
    while len(out) < size:
        full = os.path.join(origin, "tile", "entries", tile_path(n))
        want = min(256, size - n * 256)
        path = full if want == 256 else full + ".p/%d" % want
        with open(path, "rb") as f:
            data = f.read()
        off = 0
        while off < len(data):
            ln = int.from_bytes(data[off:off + 2], "big")
            out.append(data[off + 2:off + 2 + ln])
            off += 2 + ln
        n += 1
    return out[:size]


def tile_path(n):
    s = "%03d" % (n % 1000)
    n //= 1000
    while n:
        s = "x%03d/%s" % (n % 1000, s)
        n //= 1000
    return s


def check_heads_and_acks(heads, writer, origin):
    """Every head seen is MTH of the final tree's first entries; no size has
    two roots; every acknowledged entry is at its index."""
    with open(os.path.join(origin, "checkpoint")) as f:
        _, final, root = parse_checkpoint(f.read())
    entries = origin_entries(origin, final)
    leaves = [tltest.leaf_hash(e) for e in entries]
    tltest.check(tltest.mth(leaves) == root,
                 "the origin's entries give its checkpoint's root (size %d)" % final)
    forks = [s for s, roots in heads.seen.items() if len(roots) > 1]
    tltest.check(not forks, "no size has two signed roots among %d heads seen (%d sizes)%s"
                 % (heads.count, len(heads.seen), " forks at %s" % forks[:5] if forks else ""))
    bad = []
    for s, roots in heads.seen.items():
        for r, where in roots.items():
            if s > final or tltest.mth(leaves[:s]) != r:
                bad.append((s, where))
    tltest.check(not bad, "every head seen (nodes and origin) is a prefix of the final tree%s"
                 % (" bad: %s" % bad[:5] if bad else ""))
    lost = [i for i, e in writer.acked.items() if i >= final or entries[i] != e]
    tltest.check(not lost, "all %d acknowledged entries are at their index in the final tree%s"
                 % (len(writer.acked), " lost: %s" % lost[:5] if lost else ""))
    dups = len(entries) - len(set(entries))
    tltest.check(dups == 0, "no entry sequenced twice (%d duplicates)" % dups)
