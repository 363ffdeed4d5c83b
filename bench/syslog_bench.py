#!/usr/bin/env python3
"""syslog_bench.py - syslog over TCP into an audit log: messages/s from the
first byte sent until every message is in a published checkpoint.

  bench/syslog_bench.py BUILD_DIR [MESSAGES] [CONNECTIONS...]
  bench/syslog_bench.py BUILD_DIR --relp [MESSAGES]

A fresh audit log, `tlogd serve --syslog-listen` with its defaults (pool,
batch size, batch interval) on loopback. For each number of connections
(default 1 4 8), that many sender processes each write MESSAGES / N RFC 5424
messages (default 400,000 in all), octet counted, ~230 bytes each with an
audit@32473 element and a distinct resource_id and timestamp (so every one
is a new event: none merges as a resend), in writes of 64 KiB, as fast as
tlogd reads them (its back-pressure paces them). The run ends when the
published tree (GET /ct/v1/get-sth) holds every message; the figure is
messages over that time. A second log per run, so that each starts empty.
Prints one line per run.

With --relp: rsyslog 8 (run unprivileged from a config written here) takes
MESSAGES (default 5,000) on imtcp and forwards them with omrelp to
`tlogd serve --relp-listen`; the figure is messages over the time from the
first byte rsyslog is sent until the published tree holds them all, every
one acknowledged after the commit point.
"""
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BUILD = os.path.abspath(sys.argv[1])
TOTAL = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] != "--relp" else 400000
CONNS = [int(c) for c in sys.argv[3:] if c.isdigit()] or [1, 4, 8]
TLOGD = os.path.join(BUILD, "tlogd")


def frames(conn, n):
    out = []
    for i in range(n):
        m = ("<86>1 2026-12-02T06:%02d:%02d.%06dZ web%d.example.com shop %d ORD [audit@32473 "
             "actor=\"user%d\" action=\"order.cancel\" resource_type=\"order\" "
             "resource_id=\"o-%d-%d\" outcome=\"success\"] order cancelled by the customer" %
             ((i // 60000000) % 60, (i // 1000000) % 60, i % 1000000, conn, conn, i % 1000,
              conn, i)).encode()
        out.append(b"%d %s" % (len(m), m))
    return b"".join(out)


def sender(port, conn, n, ready, go):
    blob = frames(conn, n)
    s = socket.create_connection(("127.0.0.1", port))
    ready.release()
    go.wait()
    view = memoryview(blob)
    for off in range(0, len(blob), 65536):
        s.sendall(view[off:off + 65536])
    s.shutdown(socket.SHUT_WR)
    s.recv(1)  # tlogd closes once it has taken everything
    s.close()


def tree_size(http):
    with urllib.request.urlopen("http://127.0.0.1:%d/ct/v1/get-sth" % http, timeout=10) as r:
        return json.load(r)["tree_size"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(tmp, *listen):
    d = os.path.join(tmp, "log")
    subprocess.run([TLOGD, "init", "--dir", d, "--origin", "example.com/bench", "--kind",
                    "audit"], check=True, capture_output=True)
    err = open(os.path.join(tmp, "err"), "w+")
    p = subprocess.Popen([TLOGD, "serve", "--dir", d, "--listen", "127.0.0.1:0", *listen],
                         stderr=err)
    for _ in range(200):
        err.seek(0)
        text = err.read()
        m = re.search(r"listening on (tcp )?\S+ \(port (\d+)\)", text)
        h = re.search(r"serving .* \(port (\d+)\)", text)
        if m and h:
            return p, err, {"tcp": int(m.group(2)), "http": int(h.group(1))}
        time.sleep(0.05)
    sys.exit("tlogd did not start")


def wait_size(http, want, t0):
    size = 0
    while size < want and time.time() - t0 < 600:
        time.sleep(0.05)
        size = tree_size(http)
    return size, time.time() - t0


def run_relp(n):
    tmp = tempfile.mkdtemp(prefix="tlog-relp-bench-")
    rport = free_port()
    p, err, ports = start(tmp, "--relp-listen", "127.0.0.1:%d" % rport)
    inport = free_port()
    conf = os.path.join(tmp, "rsyslog.conf")
    with open(conf, "w") as f:
        f.write('global(workDirectory="%s")\nmodule(load="imtcp")\nmodule(load="omrelp")\n'
                'input(type="imtcp" port="%d" address="127.0.0.1")\n'
                'action(type="omrelp" target="127.0.0.1" port="%d" '
                'template="RSYSLOG_SyslogProtocol23Format" queue.type="LinkedList" '
                'queue.size="100000")\n' % (tmp, inport, rport))
    rs = subprocess.Popen(["rsyslogd", "-n", "-f", conf, "-i", os.path.join(tmp, "pid")],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            s = socket.create_connection(("127.0.0.1", inport))
            break
        except OSError:
            time.sleep(0.1)
    blob = b"".join(
        b"<86>1 2026-12-02T06:00:00.%06dZ web0 shop 1 ORD [audit@32473 actor=\"u\" "
        b"action=\"order.cancel\" resource_type=\"order\" resource_id=\"o-%d\"] x\n" % (i, i)
        for i in range(n))
    t0 = time.time()
    s.sendall(blob)
    s.close()
    size, dt = wait_size(ports["http"], n, t0)
    rs.send_signal(signal.SIGTERM)
    rs.wait(30)
    p.send_signal(signal.SIGTERM)
    p.wait(60)
    print("relp (rsyslog omrelp): %d messages in %.2f s = %.0f messages/s, each acknowledged "
          "after commit (published tree %d)" % (n, dt, n / dt, size), flush=True)
    shutil.rmtree(tmp, ignore_errors=True)


def run(conns):
    tmp = tempfile.mkdtemp(prefix="tlog-syslog-bench-")
    p, err, ports = start(tmp, "--syslog-listen", "127.0.0.1:0")
    per = TOTAL // conns
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Semaphore(0)
    go = ctx.Event()
    procs = [ctx.Process(target=sender, args=(ports["tcp"], c, per, ready, go))
             for c in range(conns)]
    for q in procs:
        q.start()
    for _ in procs:
        ready.acquire()
    t0 = time.time()
    go.set()
    want = per * conns
    size, dt = wait_size(ports["http"], want, t0)
    for q in procs:
        q.join(60)
    p.send_signal(signal.SIGTERM)
    p.wait(60)
    err.seek(0)
    paused = err.read().count("reading paused")
    print("%d connections: %d messages in %.2f s = %.0f messages/s (published tree %d; "
          "%d connections paused by back-pressure)" % (conns, want, dt, want / dt, size, paused),
          flush=True)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[2] == "--relp":
        run_relp(int(sys.argv[3]) if len(sys.argv) > 3 else 5000)
    else:
        for c in CONNS:
            run(c)
